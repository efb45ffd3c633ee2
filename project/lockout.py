"""The page a locked-out sign-in gets (django-axes' AXES_LOCKOUT_CALLABLE).

A 429 with ``Retry-After``, on the project's plain error page: what happened,
how long to wait, and that the right password will not help meanwhile. The
wait is the whole cool-off, since each try during it restarts it. A script
(``X-Requested-With: XMLHttpRequest``) gets the same as JSON.
"""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render

STATUS = 429


def cooloff_seconds():
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def locked_out(request, original_response=None, credentials=None):
    seconds = cooloff_seconds()
    context = {"minutes": max(1, round(seconds / 60)), "failures": settings.AXES_FAILURE_LIMIT}
    if request.META.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest":
        response = JsonResponse({"detail": "Too many failed sign-ins.", "retryAfter": seconds, **context}, status=STATUS)
    else:
        response = render(request, "registration/locked_out.html", context, status=STATUS)
    response["Retry-After"] = str(seconds)
    return response
