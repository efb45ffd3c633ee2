"""The sweep: every served route, every parameter it reads, hostile values, as every role.

``Sweep(world, driver).run()`` returns the failures: a 5xx or an exception,
an API answer under ``/api/v1/`` that is not JSON (unless the client asked
for HTML), a refused write that changed a row, or a read that changed one.

Cost is spent where code reads input: the first role a page is for that gets
past its access checks sends every parameter the page reads one at a time,
with every hostile value for those the app's code reads and a sample for those
only Django's machinery reads; every role also sends every parameter known
anywhere at once, with a sample. Headers are sent once per kind of view, as
they are read before any view code.
"""

import json
import time
from urllib.parse import quote, urlencode

from django.core.cache import caches

from . import discovery, values, wsgi

CSRF = "a" * 32  # a valid CSRF secret: the cookie and the form field carry the same one


def family(route):
    """Routes served by the same code: headers are read before it (one of each is enough).

    The admin's pages read no header of their own (Django's middleware and
    views do, the same for every page): one admin page stands for all.
    """
    if route.model_admin is not None:
        return "admin", "*"
    return route.view_class or getattr(route.callback, "__qualname__", route.callback)


class Sweep:
    def __init__(self, world, driver):
        self.world = world
        self.send = driver
        self.failures = []
        self.routes = discovery.served_routes()
        self.visited = set()
        self.timings = {}
        self.route_times = {}
        self.families = set()
        self.app_keys = discovery.every_query_key_read_by_the_app()
        self.params = {}
        for route in self.routes:
            own, generic = discovery.route_params(route, world.superuser)
            self.params[route.template] = own, generic
            self.app_keys |= set(own) | set(generic)

    # -- bookkeeping ----------------------------------------------------------------

    def fail(self, what, answer, why):
        detail = repr(answer.error) if answer.error else answer.body[:200]
        self.failures.append(f"{why}: {what} -> {answer.status} {detail}")

    def request(self, role, method, path, query="", body=b"", **extra):
        """One request as ``role``; checks the answer and returns it."""
        if self.send.count % 500 == 0:
            caches["throttle"].clear()  # the sweep is not about throttles (429 would hide the parsers)
        environ = dict(self.world.credentials(role, path))
        environ.update(extra)
        answer = self.send(method, path, query, body, **environ)
        what = f"{role} {method} {path[:120]}?{query[:160]} {sorted(extra)}"
        wants_html = "html" in extra.get("HTTP_ACCEPT", "")  # DRF's browsable API answers those
        if answer.status >= 500 or answer.error is not None:
            self.fail(what, answer, "server error")
        elif answer.persisted:
            self.fail(what, answer, "refused request changed rows")
        elif path.startswith("/api/v1/") and not answer.is_json and not wants_html:
            self.fail(what, answer, "API answer not JSON")
        return answer

    def timed(self, name, function, *args):
        started, count = time.monotonic(), self.send.count
        function(*args)
        spent, sent = self.timings.get(name, (0, 0))
        self.timings[name] = (round(spent + time.monotonic() - started, 1), sent + self.send.count - count)

    # -- the passes -----------------------------------------------------------------

    def run(self):
        for route in self.routes:
            real = self.world.path_values(route)
            if real is None:
                continue
            self.visited.add(route.template)
            path = route.fill(real)
            started, count = time.monotonic(), self.send.count
            written = wsgi.writes()
            self.timed("query", self.query_pass, route, path)
            self.timed("path", self.path_pass, route, real)
            if wsgi.writes() != written:
                self.failures.append(f"a read wrote rows: {route.template}")
            if family(route) not in self.families:
                self.families.add(family(route))
                self.timed("header", self.header_pass, route, path)
            serializer = discovery.request_serializer(route)
            if serializer is not None:
                self.timed("api write", self.api_write_pass, route, serializer)
            form = discovery.admin_post_form(route, self.world.superuser)
            if form is not None or route.name.endswith("_changelist"):
                self.timed("admin post", self.admin_post_pass, route, path, form)
            self.route_times[route.template] = (round(time.monotonic() - started, 2), self.send.count - count)
        return self.failures

    def full_role(self, path, base):
        """The first role the page is for that gets past its access checks, or None."""
        for role in self.world.full_roles(path):
            if self.request(role, "GET", path, base).status in (200, 400):
                return role
        return None

    def query_pass(self, route, path):
        own, generic = self.params[route.template]
        base_fields = self.world.base_query(route)
        base = urlencode(base_fields)
        everything = sorted((set(own) | set(generic) | self.app_keys) - set(base_fields))
        full = self.full_role(path, base)
        for role in self.world.ROLES:
            reached = role == full or self.request(role, "GET", path, base).status in (200, 400)
            for value in values.SAMPLE_QUERY_VALUES if reached else values.SAMPLE_QUERY_VALUES[:2]:
                self.request(role, "GET", path, "&".join([base, *(f"{quote(k)}={value}" for k in everything)]))
        if full is None:
            return
        # One key at a time: a refused key (``_to_field=x`` is a 400) would hide what the others do.
        # Django's keys of an admin page other than a changelist (whose filters are the model's):
        # the same code for every model, swept on the first page of each kind.
        kind = ("generic", route.name.rsplit("_", 1)[-1])
        if route.model_admin is not None and not route.name.endswith("_changelist"):
            generic = [] if kind in self.families else generic
            self.families.add(kind)
        for keys, hostile in ((own, values.QUERY_VALUES), (generic, values.GENERIC_QUERY_VALUES)):
            for key in keys:
                others = urlencode({k: v for k, v in base_fields.items() if k != key})
                k = quote(key)
                for value in [*hostile, f"1&{k}=abc&{k}="]:  # the last: an array where one value is read
                    self.request(full, "GET", path, "&".join(filter(None, [others, f"{k}={value}"])))

    def path_pass(self, route, real):
        role = self.world.full_roles(route.fill(real))[0]
        for name, kind in route.parts:
            for segment in values.INT_SEGMENTS if kind == "int" else values.TEXT_SEGMENTS:
                path = route.fill({**real, name: segment})
                self.request(role, "GET", path)
                self.request("anonymous", "GET", path)

    def header_pass(self, route, path):
        serializer = discovery.request_serializer(route)
        for _name, environ in values.HEADER_CASES:
            self.request("superuser", "GET", path, "q=1&page=2", **environ)
            if serializer is not None:  # a valid body: only the header is wrong
                path = route.fill(self.world.path_values(route))
                self.refused_write("superuser", path, dumps(self.world.valid_body(serializer())), **environ)

    # -- writes -----------------------------------------------------------------------

    def refused_write(self, role, path, body, **extra):
        """POST a JSON ``body`` (the driver checks that a refusal leaves no row changed)."""
        answer = self.request(role, "POST", path, "", body, **{"CONTENT_TYPE": "application/json", **extra})
        if 200 <= answer.status < 300:
            self.world.after_write()
        return answer

    def api_write_pass(self, route, serializer_class):
        base = self.world.valid_body(serializer_class())
        full = None
        for role in self.world.ROLES:
            path = route.fill(self.world.path_values(route))
            if full is None and role in ("student", "superuser") and self.refused_write(role, path, b"[]").status == 400:
                full = role  # it reaches the validation
                continue
            for value in (None, "x" * 20000, 10**25, "9999-12-31T23:59:59Z"):
                self.refused_write(role, path, json.dumps({k: value for k in base}).encode())
        path = route.fill(self.world.path_values(route))
        for raw in values.RAW_BODIES:
            self.refused_write(full, path, raw)
        for charset in values.CHARSETS:
            self.refused_write(full, path, dumps(base), CONTENT_TYPE=f"application/json; charset={charset}")
        for key, _value in flatten(base):
            for hostile in values.BODY_VALUES:
                path = route.fill(self.world.path_values(route))  # a fresh open attempt if the last completed
                self.refused_write(full, path, dumps(replace(base, key, hostile)))
            self.refused_write(full, path, dumps(remove(base, key)))

    def admin_post_pass(self, route, path, form):
        """Admin forms (every field hostile at once: a form validates each) and changelist actions."""
        if form is not None:
            # Add and change pages share the model's form: every value on the first, a sample on the other.
            first = ("form", type(route.model_admin)) not in self.families
            self.families.add(("form", type(route.model_admin)))
            for value in values.BODY_VALUES if first else values.BODY_VALUES[::6]:
                text = value if isinstance(value, str) else json.dumps(value)
                answer = self.admin_post(path, {name: text for name in form.base_fields})
                if answer.status != 302 and answer.writes:  # a form shown again with its errors
                    self.fail(f"admin POST {path} {text[:50]!r}", answer, "refused form wrote rows")
        if route.name.endswith("_changelist"):
            # Not the roster import: it would call Timeback.
            actions = [a for a in self.world.actions(route.model_admin) if "import" not in a]
            selected = str(route.model_admin.model._default_manager.values_list("pk", flat=True).first() or 1)
            valid = {"action": actions[0] if actions else "x", "_selected_action": selected, "index": "0"}
            for key in ("action", "_selected_action", "select_across", "index"):
                for value in ("x", 10**25, "\x00", "", "\u00b2"):
                    text = value if isinstance(value, str) else json.dumps(value)
                    self.admin_post(path, {**valid, key: text})

    def admin_post(self, path, fields):
        body = urlencode({**fields, "csrfmiddlewaretoken": CSRF}, errors="surrogatepass").encode()
        cookie = self.world.credentials("superuser", path)["HTTP_COOKIE"] + f"; csrftoken={CSRF}"
        return self.request(
            "superuser", "POST", path, "", body, CONTENT_TYPE="application/x-www-form-urlencoded", HTTP_COOKIE=cookie
        )


# -- JSON bodies -----------------------------------------------------------------------


def flatten(body, prefix=()):
    """(key path, value) of every leaf field, into nested lists and objects."""
    for key, value in (body.items() if isinstance(body, dict) else enumerate(body)):
        if isinstance(value, (dict, list)) and value:
            yield from flatten(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def _copy_to(body, path):
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    return copy, target


def replace(body, path, value):
    copy, target = _copy_to(body, path)
    target[path[-1]] = value
    return copy


def remove(body, path):
    copy, target = _copy_to(body, path)
    del target[path[-1]]
    return copy


def dumps(body):
    return json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
