"""What the example project serves, and what each route reads.

Nothing here lists today's routes or parameters: the routes come from the URL
resolver, and the parameters of a route from

- the query-string keys its code reads (``request.GET.get("page")``,
  ``query_params["x"]``), found in the source of its view's module;
- the forms and serializers it fills from the query string (their fields);
- its schema annotation (``extend_schema(parameters=[...], request=...)``);
- DRF pagination (``page_query_param``, ``page_size_query_param``);
- for an admin changelist, Django's own parameters, every list filter's
  ``expected_parameters()`` and the date hierarchy;

so a parameter or a route added later is swept without editing the test.
"""

import importlib
import inspect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from django import forms
from django.apps import apps
from django.contrib.admin.views import main as admin_main
from django.test import RequestFactory
from django.urls import URLResolver, get_resolver
from rest_framework import serializers

APP = "timeback_progress"
OWN_PACKAGES = (APP, "project")

KEY_READ = re.compile(r"""\b(?:GET|query_params)\s*(?:\.get(?:list)?\(\s*|\[\s*)(["'])(?P<key>[^"']+)\1""")
FILLED_FROM_QUERY = re.compile(r"""(?P<cls>\w+)\(\s*(?:data\s*=\s*)?(?:self\.)?request\.(?:GET|query_params)\b""")
FILLED_FROM_POST = re.compile(r"""(?P<cls>\w+)\(\s*(?:data\s*=\s*)?(?:self\.)?request\.(?:POST|data)\b""")
BODY_SERIALIZER = re.compile(
    r"""(?:validated\(\s*(?:\w+\.)*(?P<cls>\w+)\s*\)|(?P<cls2>\w+)\(\s*data\s*=\s*(?:self\.)?request\.data)"""
)
CALL = re.compile(r"(?<![.\w])(\w+)\(")
ROUTE_PART = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
REGEX_PART = re.compile(r"\(\?P<(?P<name>\w+)>(?P<regex>[^()]*)\)")
ADMIN_VARS = [
    admin_main.SEARCH_VAR, admin_main.ORDER_VAR, admin_main.PAGE_VAR, admin_main.ALL_VAR, admin_main.ERROR_FLAG,
    admin_main.TO_FIELD_VAR, admin_main.IS_POPUP_VAR, admin_main.IS_FACETS_VAR, "_changelist_filters",
]
# Lookups no filter declares: Django's ``lookup_allowed`` decides (allowed ones reach the database).
RAW_LOOKUPS = ["pk__in", "pk__gt", "id__exact", "pk__isnull"]


@dataclass
class Route:
    template: str  # "progress/courses/<int:course_pk>/" (regex parts kept as ``(?P<name>…)``)
    name: str
    callback: object
    parts: list = field(default_factory=list)  # [(name, kind)], kind "int", "str", "path" or a regex

    def fill(self, values):
        """The path with each placeholder replaced by ``values[name]`` (already percent-encoded)."""
        path = ROUTE_PART.sub(lambda m: values[m["name"]], self.template)
        return "/" + REGEX_PART.sub(lambda m: values[m["name"]], path)

    @property
    def model_admin(self):
        return getattr(self.callback, "model_admin", None)

    @property
    def view_class(self):
        return getattr(self.callback, "view_class", None)


def _text(pattern):
    text = getattr(pattern, "_route", None)
    if text is None:
        text = pattern._regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    return text


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + _text(entry.pattern))
        else:
            yield Route(prefix + _text(entry.pattern), entry.name or "", entry.callback)


def served_routes():
    """Every route of the root URLconf except the admin pages of other apps' models."""
    routes = []
    others = {config.label for config in apps.get_app_configs()} - {APP}
    for route in _walk(get_resolver().url_patterns):
        if route.template.startswith("admin/") and route.template.split("/")[1] in others:
            continue  # another app's admin pages
        route.parts = [(m["name"], m["conv"] or "str") for m in ROUTE_PART.finditer(route.template)]
        route.parts += [(m["name"], m["regex"]) for m in REGEX_PART.finditer(route.template)]
        routes.append(route)
    return routes


# -- what a route reads -------------------------------------------------------------


def _own_classes(cls):
    return [c for c in inspect.getmro(cls) if c.__module__.startswith(OWN_PACKAGES)]


def _resolve(name, modules):
    """The class called ``name`` in ``modules`` or in the app's modules they import."""
    for module in modules:
        found = getattr(module, name, None)
        if inspect.isclass(found):
            return found
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith(APP) and inspect.isclass(getattr(module, name, None)):
            return getattr(module, name)
    return None


def field_names(cls):
    """The fields of a form or serializer class."""
    if issubclass(cls, forms.BaseForm):
        return list(cls.base_fields)
    if issubclass(cls, serializers.BaseSerializer):
        return [n for n, f in cls().fields.items() if not f.read_only]
    return []


def _sources(obj):
    """The source of ``obj`` (a class or a module) and of the module-level functions a class calls."""
    source = inspect.getsource(obj)
    if not inspect.isclass(obj):
        return source, obj
    module = sys.modules[obj.__module__]
    called = {m[1] for m in CALL.finditer(source)}
    helpers = [getattr(module, name) for name in sorted(called) if inspect.isfunction(getattr(module, name, None))]
    return "\n".join([source, *(inspect.getsource(f) for f in helpers if f.__module__ == module.__name__)]), module


def source_params(objects, pattern=FILLED_FROM_QUERY):
    """Keys read from the query string in the source of ``objects`` (classes or modules),
    and the fields of the forms and serializers filled from it there."""
    keys = set()
    for obj in objects:
        source, module = _sources(obj)
        keys |= {m["key"] for m in KEY_READ.finditer(source)}
        for match in pattern.finditer(source):
            cls = _resolve(match["cls"], [module])
            if cls is not None:
                keys |= set(field_names(cls))
    return keys


def _schema_params(view_class):
    """Query parameters declared in drf-spectacular annotations (``parameters=[...]``)."""
    keys = set()
    for method in ("get", "post", "put", "patch", "delete"):
        annotation = getattr(getattr(view_class, method, None), "_spectacular_annotation", {})
        for param in annotation.get("parameters", []):
            if inspect.isclass(param):
                keys |= set(field_names(param))
            elif getattr(param, "location", None) == "query":
                keys.add(param.name)
    return keys


def route_params(route, superuser):
    """``(own, generic)``: the query-string keys ``route`` reads in the app's code (and its
    forms, serializers, filters), and those only Django's machinery reads (the admin's own).

    The sweep sends every hostile value to the first and a sample to the second.
    """
    own, generic = set(), set()
    view_class = route.view_class
    if view_class is not None:
        # A library's view (login, schema): its keys get the sample, as Django's admin's do.
        found = generic if not _own_classes(view_class) else own
        found |= source_params(_own_classes(view_class) or [view_class]) | _schema_params(view_class)
        paginator = getattr(view_class, "pagination_class", None)
        for attr in ("page_query_param", "page_size_query_param"):
            if paginator is not None and getattr(paginator, attr, None):
                found.add(getattr(paginator, attr))
        if getattr(view_class, "redirect_field_name", None):
            generic.add(view_class.redirect_field_name)  # Django's login redirect reads it
    admin = route.model_admin
    if admin is not None:
        own |= source_params(_own_classes(type(admin)))
        generic |= {"_changelist_filters", admin_main.TO_FIELD_VAR, admin_main.IS_POPUP_VAR}
        if route.name.endswith("_changelist"):
            app_filters, django_filters = changelist_params(admin, superuser)
            own |= app_filters
            generic |= django_filters
    elif getattr(route.callback, "admin_site", None) is not None:
        generic |= {"next", "app_label", "model_name", "field_name", "term", "page"}  # the site's own pages
    return sorted(own), sorted(generic - own)


def changelist_params(model_admin, superuser):
    """``(app, django)``: the parameters of the app's own list filters, and Django's
    (its filters on the app's fields, the date hierarchy, search, order, page, lookups)."""
    request = RequestFactory().get("/")
    request.user = superuser
    changelist = model_admin.get_changelist_instance(request)
    app, django = set(), set(ADMIN_VARS + RAW_LOOKUPS)
    for spec in changelist.filter_specs:
        (app if type(spec).__module__.startswith(APP) else django).update(spec.expected_parameters())
    if changelist.date_hierarchy:
        django |= {f"{changelist.date_hierarchy}__{part}" for part in ("year", "month", "day")}
    return app, django


def request_serializer(route, method="post"):
    """The serializer a DRF view validates its ``method`` body with, found in the method's source
    (``self.validated(serializers.X)`` or ``X(data=request.data)``); None if it has no such method."""
    function = getattr(route.view_class, method, None)
    if function is None or not hasattr(route.callback, "cls"):
        return None
    module = sys.modules[route.view_class.__module__]
    for match in BODY_SERIALIZER.finditer(inspect.getsource(function)):
        cls = _resolve(match["cls"] or match["cls2"], [module])
        if cls is not None and issubclass(cls, serializers.BaseSerializer):
            return cls
    raise LookupError(f"{route.template}: no request serializer found in {route.view_class.__name__}.{method}")


def admin_post_form(route, superuser):
    """The form class an admin route fills from ``request.POST``, or None."""
    admin = route.model_admin
    if admin is None:
        return None
    request = RequestFactory().get("/")
    request.user = superuser
    if route.name.endswith(("_add", "_change")):
        return admin.get_form(request)
    function = inspect.unwrap(route.callback)
    try:
        source = inspect.getsource(function)
    except (TypeError, OSError):
        return None
    for match in FILLED_FROM_POST.finditer(source):
        cls = _resolve(match["cls"], [sys.modules[function.__module__]])
        if cls is not None and issubclass(cls, forms.BaseForm):
            return cls
    return None


def every_query_key_read_by_the_app():
    """Literal query-string keys read anywhere in the app's source (the sandbox, a separate server, aside)."""
    package = Path(importlib.import_module(APP).__file__).parent
    keys = set()
    for path in package.rglob("*.py"):
        if "sandbox" not in path.relative_to(package).parts:
            keys |= {m["key"] for m in KEY_READ.finditer(path.read_text())}
    return keys
