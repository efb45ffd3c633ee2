"""The API's answers where Django, not DRF, answers: JSON, like every API error.

``not_found`` is the API URLconf's last route (``v1/`` and anything under
it), so an id that is not an integer (``attempts/abc/``) is a JSON 404 even
with ``DEBUG`` on. ``bad_request``, ``permission_denied``, ``page_not_found``
and ``server_error`` are handlers a project may set (``handler400`` ...) so
that Django's own error answers under the API's prefix (a bad ``Host``, an
unknown path) are JSON too; other paths get Django's pages::

    handler400 = "timeback_progress.api.errors.bad_request"
    handler403 = "timeback_progress.api.errors.permission_denied"
    handler404 = "timeback_progress.api.errors.page_not_found"
    handler500 = "timeback_progress.api.errors.server_error"
"""

from django.http import JsonResponse
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt


def _json(status, detail):
    return JsonResponse({"detail": detail}, status=status)


@csrf_exempt  # writes nothing; a POST to an unknown path is a 404, not a CSRF page
def not_found(request, *args, **kwargs):
    """``{"detail": "Not found."}`` with status 404 (DRF's ``NotFound`` says the same).

    This route matches paths without their trailing slash too (Django's
    ``APPEND_SLASH`` redirect would drop a POST's body): the answer says so.
    """
    if not request.path.endswith("/") and _is_endpoint(request.path_info + "/"):
        return _json(404, _("Not found. The path needs its trailing slash: %(path)s/") % {"path": request.path})
    return _json(404, _("Not found."))


def _is_endpoint(path):
    try:
        return resolve(path).url_name != "not-found"
    except Resolver404:
        return False


def api_prefix():
    """Where the API is mounted (``/api/``), or None if the project does not route it."""
    try:
        return reverse("timeback_progress_api:not-found").removesuffix("v1/")
    except NoReverseMatch:
        return None


def _is_api(request):
    prefix = api_prefix()
    return bool(prefix) and request.path.startswith(prefix)


def bad_request(request, exception=None, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    if _is_api(request):
        return _json(400, _("Bad request."))
    return defaults.bad_request(request, exception, template_name)


def permission_denied(request, exception=None, template_name=defaults.ERROR_403_TEMPLATE_NAME):
    if _is_api(request):
        return _json(403, _("You do not have permission to perform this action."))
    return defaults.permission_denied(request, exception, template_name)


def page_not_found(request, exception=None, template_name=defaults.ERROR_404_TEMPLATE_NAME):
    if _is_api(request):
        return not_found(request)
    return defaults.page_not_found(request, exception, template_name)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    if _is_api(request):
        return _json(500, _("Server error."))
    return defaults.server_error(request, template_name)
