"""Per-user rates for the dashboard pages and the CSV export (scopes ``timeback_dashboard``, ``timeback_export``).

Counted like the API's (``timeback_progress.ratelimit``, in ``API_THROTTLE_CACHE``):
per signed-in user, per address for anyone else (so redirects to the sign-in
page are counted too). Over the rate, the page is a 429 that says when to come
back, with a ``Retry-After`` header; nothing of the page is computed.
"""

from django.core.cache import caches
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from .. import ratelimit
from ..conf import app_settings

MESSAGES = {
    "timeback_dashboard": _("You opened dashboard pages faster than this site allows."),
    "timeback_export": _("You downloaded CSV exports faster than this site allows. Each export reads the whole class."),
}


def caller(request):
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{ratelimit.client_ip(request)}"


def refusal(request, scope):
    """The 429 page if ``request`` is over ``scope``'s rate, else None (and the request is counted)."""
    parsed = ratelimit.parse_rate(ratelimit.rate_for(scope))
    if parsed is None:
        return None
    limit, seconds = parsed
    cache = caches[app_settings.API_THROTTLE_CACHE]
    verdict = ratelimit.hit(cache, f"timeback_progress:{scope}:{caller(request)}", limit, seconds)
    if verdict.allowed:
        return None
    wait = ratelimit.retry_after_header(verdict.retry_after)
    response = TemplateResponse(
        request, "timeback_progress/throttled.html",
        {"message": MESSAGES.get(scope, MESSAGES["timeback_dashboard"]), "retry_after": int(wait)}, status=429,
    )
    response["Retry-After"] = wait
    return response
