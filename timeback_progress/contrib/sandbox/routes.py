"""The route table (``ROUTES``) and its move onto another platform's paths.

Each route is ``Route(method, pattern, handler, endpoint, auth)``; a handler
takes ``(state, request, **url_params)`` and returns a ``Response``. Add
endpoints by passing more routes to ``SandboxServer(routes=...)`` or extending
``ROUTES``.
"""

import dataclasses
import re

from . import control, rostering
from .caliper import caliper_events
from .gradebook import gradebook_get, gradebook_list, gradebook_post, gradebook_put
from .messages import Response, Route
from .oauth import token_endpoint
from .platforms import CALIPER_PATH, GRADEBOOK_PATH, PLATFORMS, TOKEN_PATH


def index(state, request):
    """``GET /``: the platform served and its routes."""
    routes = platform_routes(state.platform)
    return Response(200, {"sandbox": "timeback", "platform": state.platform,
                          "routes": [f"{r.method} {r.pattern}" for r in routes]})


_ID = r"(?P<sourced_id>[^/]+)"
_COLL = r"(?P<collection>assessmentLineItems|assessmentResults)"
ROUTES = [
    Route("POST", TOKEN_PATH, token_endpoint, "token", auth=False),
    Route("POST", CALIPER_PATH, caliper_events, "caliper"),
    Route("PUT", f"{GRADEBOOK_PATH}/{_COLL}/{_ID}", gradebook_put, "gradebook"),
    Route("GET", f"{GRADEBOOK_PATH}/{_COLL}/{_ID}", gradebook_get, "gradebook"),
    Route("POST", f"{GRADEBOOK_PATH}/{_COLL}", gradebook_post, "gradebook"),
    Route("GET", f"{GRADEBOOK_PATH}/{_COLL}", gradebook_list, "gradebook"),
    Route("GET", "/", index, "admin", auth=False),
    Route("GET", "/_sandbox/events", control.admin_events, "admin", auth=False),
    Route("GET", "/_sandbox/results", control.admin_results, "admin", auth=False),
    Route("GET", "/_sandbox/line-items", control.admin_line_items, "admin", auth=False),
    Route("GET", "/_sandbox/rejections", control.admin_rejections, "admin", auth=False),
    Route("GET", "/_sandbox/stats", control.admin_stats, "admin", auth=False),
    Route("POST", "/_sandbox/reset", control.admin_reset, "admin", auth=False),
    Route("POST", "/_sandbox/expire-tokens", control.admin_expire_tokens, "admin", auth=False),
    Route("GET", "/_sandbox/faults", control.admin_faults, "admin", auth=False),
    Route("POST", "/_sandbox/faults", control.admin_faults, "admin", auth=False),
    *rostering.ROUTES,
]


def platform_routes(platform, routes=None):
    """``routes`` (default ``ROUTES``) moved from the default platform's paths to ``platform``'s."""
    default, paths = PLATFORMS["timeback"], PLATFORMS[platform]
    moved = []
    for route in ROUTES if routes is None else routes:
        prefix = default.get(route.endpoint)
        if platform != "timeback" and prefix and route.pattern.startswith(prefix):
            route = dataclasses.replace(route, pattern=re.escape(paths[route.endpoint]) + route.pattern[len(prefix):])
        moved.append(route)
    return moved
