"""TEST DOUBLE, not the protocol: a stand-in for ``timeback_progress.activity.urls`` that only records.

The browser kit's behaviour tests (tests/test_activity_kit_double_browser.py)
point the kit at these three views to watch what it sends, request by request,
without the gradebook: heartbeats answer 204 (200 ``{"duplicate": true}`` for a
window seen before, keyed as the vendor keys it, runId + startedAt), the submit
answers a fixed completion once per runId, ``user/me`` a fixed profile. The
real endpoints, their validation and their effects are the protocol's, tested
in tests/test_activity_kit_browser.py and the protocol's own tests.

The URLconf is the example project's, with these views under the namespace
the tag reverses (``timeback_activity``) in place of the real ones.
"""

import json
import threading

from django.http import HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_http_methods

import project.urls

RECORDED = []  # (route, body, headers) in arrival order
_lock = threading.Lock()
RESULT = {"xpEarned": 25, "accuracy": 100, "multiplier": 1.25, "masteredUnits": 1, "attempt": 1}


def reset():
    with _lock:
        RECORDED.clear()


def _record(route, request):
    body = json.loads(request.body or b"null")
    with _lock:
        seen = [b for r, b, _h in RECORDED if r == route]
        RECORDED.append((route, body, {"csrf": request.headers.get("X-CSRFToken"), "user": request.user.get_username()}))
    return body, seen


@require_http_methods(["POST"])
def heartbeat(request):
    if not request.user.is_authenticated:
        return JsonResponse({"error": {"code": "UNAUTHORIZED", "message": "Unauthorized"}}, status=401)
    body, seen = _record("heartbeat", request)
    if any((b["runId"], b["startedAt"]) == (body["runId"], body["startedAt"]) for b in seen):
        return JsonResponse({"duplicate": True})
    return HttpResponse(status=204)


@require_http_methods(["POST"])
def submit(request):
    if not request.user.is_authenticated:
        return JsonResponse({"error": {"code": "UNAUTHORIZED", "message": "Unauthorized"}}, status=401)
    body, seen = _record("submit", request)
    duplicate = any(b["runId"] == body["runId"] for b in seen)
    return JsonResponse({**RESULT, "runId": body["runId"], "duplicate": duplicate})


def user_me(request):
    return JsonResponse({"id": "double", "email": "double@example.com", "xp": {"today": 0, "all": 0}})


double = ([
    path("activity/heartbeat", heartbeat, name="heartbeat"),
    path("activity/submit", submit, name="submit"),
    path("user/me", user_me, name="user-me"),
], "timeback_activity")

urlpatterns = [p for p in project.urls.urlpatterns if getattr(p, "namespace", None) != "timeback_activity"]
urlpatterns.append(path("double/timeback/", include(double)))
handler400, handler403, handler404, handler500 = (
    project.urls.handler400, project.urls.handler403, project.urls.handler404, project.urls.handler500,
)
