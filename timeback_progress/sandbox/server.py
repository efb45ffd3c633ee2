"""The sandbox HTTP server: a table of routes over ``http.server``.

Each route is ``Route(method, pattern, handler, endpoint, auth)``; a handler
takes ``(state, request, **url_params)`` and returns a ``Response``. Add
endpoints (e.g. OneRoster rostering over seeded data) by passing more routes
to ``SandboxServer(routes=...)`` or extending ``ROUTES``.

``platform="learnwith.ai"`` serves the same endpoints at that platform's paths
(``platform_routes()``) and makes the token endpoint require its scope.
"""

import base64
import dataclasses
import json
import logging
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import validation
from .state import SandboxState

logger = logging.getLogger("timeback_progress.sandbox")

TOKEN_PATH = "/oauth2/token"
CALIPER_PATH = "/ims/caliper/v1p2/events"
GRADEBOOK_PATH = "/ims/oneroster/gradebook/v1p2"
MAX_BODY = 10 * 1024 * 1024

# The paths (per endpoint kind) and the token scope each platform serves, written
# out here rather than read from the app's settings, so a wrong profile in
# timeback_progress.conf fails against the sandbox instead of agreeing with it.
PLATFORMS = {
    "timeback": {
        "token": TOKEN_PATH, "caliper": CALIPER_PATH, "gradebook": GRADEBOOK_PATH,
        "rostering": "/ims/oneroster/rostering/v1p2", "scope": None,
    },
    "learnwith.ai": {
        "token": "/auth/1.0/token", "caliper": "/caliper/v1p2", "gradebook": "/gradebook/1.0",
        "rostering": "/rostering/1.0", "scope": "https://purl.imsglobal.org/spec/caliper/v1p2/scope/events.write",
    },
}


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: object
    body: bytes

    def json(self):
        """The parsed JSON body; raises ValueError with a readable reason."""
        if not self.body:
            raise ValueError("the request has no body")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ValueError(f"Content-Type must be application/json, not {ctype or 'missing'!r}")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"the body is not valid JSON: {exc}") from None

    def param(self, name, default=None):
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: object = None
    headers: dict = field(default_factory=dict)


@dataclass
class Route:
    method: str
    pattern: str
    handler: object
    endpoint: str  # counters and fault targeting: token, caliper, gradebook, rostering, admin
    auth: bool = True

    def __post_init__(self):
        self.regex = re.compile(f"^{self.pattern}$")


def ims_error(status, description, code_minor="invalid_data"):
    """The OneRoster (IMS) status payload."""
    return Response(status, {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {"imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": code_minor}
        ]},
    })


def _summary(problems, limit=5):
    head = "; ".join(problems[:limit])
    return head + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")


# -- token -------------------------------------------------------------------


def token_endpoint(state, request):
    ctype = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return Response(400, {"error": "invalid_request", "error_description": "use a form-encoded body"})
    try:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), strict_parsing=False).items()}
    except UnicodeDecodeError:
        return Response(400, {"error": "invalid_request", "error_description": "the body is not UTF-8"})
    if form.get("grant_type") != "client_credentials":
        return Response(400, {"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"})
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    basic = request.headers.get("Authorization") or ""
    if basic.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(basic[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return Response(400, {"error": "invalid_request", "error_description": "malformed Basic credentials"})
    if not state.check_credentials(client_id, client_secret):
        return Response(401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"},
                        {"WWW-Authenticate": 'Basic realm="timeback-sandbox"'})
    required = PLATFORMS[state.platform]["scope"]
    if required:
        asked = (form.get("scope") or "").split()
        if asked != [required]:
            description = f"scope must be {required!r}, not {' '.join(asked) or 'missing'}"
            state.reject("token", request.method, request.path, [description])  # never the body: it holds the secret
            return Response(400, {"error": "invalid_scope", "error_description": description})
    token, ttl = state.issue_token()
    return Response(200, {"access_token": token, "expires_in": ttl, "token_type": "Bearer"})


# -- Caliper -------------------------------------------------------------------


def caliper_events(state, request):
    try:
        body = request.json()
    except ValueError as exc:
        state.reject("caliper", request.method, request.path, [str(exc)])
        return Response(400, {"error": "invalid_request", "message": str(exc), "errors": []})
    problems = validation.check_envelope(body)
    if problems:
        state.reject("caliper", request.method, request.path, problems, body)
        return Response(400, {"error": "invalid_envelope", "message": f"Invalid envelope: {_summary(problems)}", "errors": []})
    bad = []
    for index, event in enumerate(body["data"]):
        event_problems = validation.check_event(event)
        if event_problems:
            event_id = event.get("id") if isinstance(event, dict) else None
            bad.append({"index": index, "id": event_id, "message": _summary(event_problems), "problems": event_problems})
    if bad:
        # All or nothing: nothing in this envelope is stored; the caller resends the rest.
        state.reject("caliper", request.method, request.path, [f"data[{b['index']}].{p}" for b in bad for p in b["problems"]], body)
        message = f"{len(bad)} of {len(body['data'])} events invalid: " + "; ".join(
            f"data[{b['index']}] {b['message']}" for b in bad[:3]
        )
        return Response(400, {"error": "invalid_events", "message": message, "errors": bad})
    accepted = duplicates = 0
    with state.lock:
        for event in body["data"]:
            stored = state.events.get(event["id"])
            if stored is None:
                state.events[event["id"]] = event
                accepted += 1
            else:
                duplicates += 1
                if stored != event:
                    state.count("caliper", "conflicting_duplicates")
        state.envelopes.append({"sensor": body["sensor"], "sendTime": body["sendTime"], "events": len(body["data"]),
                                "receivedAt": time.time()})
        state.count("caliper", "accepted", accepted)
        state.count("caliper", "duplicates", duplicates)
    return Response(200, {"jobId": str(uuid.uuid4()), "accepted": accepted, "duplicates": duplicates})


# -- OneRoster gradebook ---------------------------------------------------------

COLLECTIONS = {
    # collection name: (wrap key, store attribute, validator)
    "assessmentLineItems": ("assessmentLineItem", "line_items", validation.check_line_item),
    "assessmentResults": ("assessmentResult", "results", validation.check_result),
}


def _gradebook_body(state, request, collection, url_id=None):
    """``(object, None)`` for a valid body, or ``(None, error Response)``."""
    wrap, _store, check = COLLECTIONS[collection]
    try:
        body = request.json()
    except ValueError as exc:
        state.reject("gradebook", request.method, request.path, [str(exc)])
        return None, ims_error(400, str(exc))
    obj, problems = validation.unwrap(body, wrap)
    if obj is not None:
        problems.extend(check(obj))
        if url_id is not None and obj.get("sourcedId") not in (None, url_id):
            problems.add(f"{wrap}.sourcedId", f"{obj.get('sourcedId')!r} does not match the URL ({url_id!r})")
        if collection == "assessmentResults" and isinstance(obj.get("assessmentLineItem"), dict):
            ref = obj["assessmentLineItem"].get("sourcedId")
            if validation.is_text(ref) and ref not in state.line_items:
                problems.add(f"{wrap}.assessmentLineItem.sourcedId", f"no assessmentLineItem {ref!r}")
    if problems:
        state.reject("gradebook", request.method, request.path, problems, body)
        return None, ims_error(400, f"Invalid {wrap}: {_summary(problems)}")
    return obj, None


def gradebook_put(state, request, collection, sourced_id):
    wrap, store, _check = COLLECTIONS[collection]
    obj, error = _gradebook_body(state, request, collection, sourced_id)
    if error:
        return error
    with state.lock:
        items = getattr(state, store)
        if sourced_id not in items and not state.faults.put_creates:
            state.count("gradebook", "not_found")
            return ims_error(404, f"{wrap} {sourced_id!r} not found", "unknown_object")
        items[sourced_id] = {**obj, "sourcedId": sourced_id}
        state.count("gradebook", "accepted")
        return Response(200, {wrap: items[sourced_id]})


def gradebook_post(state, request, collection):
    wrap, store, _check = COLLECTIONS[collection]
    obj, error = _gradebook_body(state, request, collection)
    if error:
        return error
    sourced_id = obj.get("sourcedId") or str(uuid.uuid4())
    with state.lock:
        items = getattr(state, store)
        if sourced_id in items:
            state.count("gradebook", "conflicts")
            return ims_error(409, f"{wrap} {sourced_id!r} already exists", "server_busy")
        items[sourced_id] = {**obj, "sourcedId": sourced_id}
        state.count("gradebook", "accepted")
    return Response(201, {"sourcedIdPairs": {"suppliedSourcedId": obj.get("sourcedId"), "allocatedSourcedId": sourced_id}})


def gradebook_get(state, request, collection, sourced_id):
    wrap, store, _check = COLLECTIONS[collection]
    with state.lock:
        item = getattr(state, store).get(sourced_id)
    if item is None:
        return ims_error(404, f"{wrap} {sourced_id!r} not found", "unknown_object")
    return Response(200, {wrap: item})


def paged(request, records, key):
    """A OneRoster collection page (limit/offset) with X-Total-Count, or a 400."""
    try:
        limit = int(request.param("limit", 100))
        offset = int(request.param("offset", 0))
    except ValueError:
        return ims_error(400, "limit and offset must be integers")
    if limit < 1 or offset < 0:
        return ims_error(400, "limit must be >= 1 and offset >= 0")
    page = records[offset:offset + limit]
    return Response(200, {key: page}, {"X-Total-Count": str(len(records))})


def gradebook_list(state, request, collection):
    _wrap, store, _check = COLLECTIONS[collection]
    with state.lock:
        records = list(getattr(state, store).values())
    return paged(request, records, collection)


# -- sandbox admin -----------------------------------------------------------------


def admin_index(state, request):
    routes = platform_routes(state.platform)
    return Response(200, {"sandbox": "timeback", "platform": state.platform,
                          "routes": [f"{r.method} {r.pattern}" for r in routes]})


def admin_events(state, request):
    with state.lock:
        events = list(state.events.values())
    kind = request.param("type")
    if kind:
        events = [e for e in events if e.get("type") == kind]
    return Response(200, {"count": len(events), "events": events, "envelopes": list(state.envelopes)})


def admin_results(state, request):
    with state.lock:
        return Response(200, {"count": len(state.results), "assessmentResults": list(state.results.values())})


def admin_line_items(state, request):
    with state.lock:
        return Response(200, {"count": len(state.line_items), "assessmentLineItems": list(state.line_items.values())})


def admin_rejections(state, request):
    with state.lock:
        return Response(200, {"count": len(state.rejections), "rejections": list(state.rejections)})


def admin_stats(state, request):
    return Response(200, state.snapshot_stats())


def admin_reset(state, request):
    state.reset()
    return Response(200, {"reset": True})


def admin_expire_tokens(state, request):
    state.expire_tokens()
    return Response(200, {"expired": True})


def admin_faults(state, request):
    if request.method == "POST":
        try:
            values = request.json()
            if not isinstance(values, dict):
                raise ValueError("send a JSON object of fault settings")
            with state.lock:
                state.faults.update(values)
                if "seed" in values:
                    state.random.seed(values["seed"])
        except ValueError as exc:
            return Response(400, {"error": "invalid_faults", "message": str(exc)})
    with state.lock:
        return Response(200, state.faults.as_dict())


_ID = r"(?P<sourced_id>[^/]+)"
_COLL = r"(?P<collection>assessmentLineItems|assessmentResults)"
ROUTES = [
    Route("POST", TOKEN_PATH, token_endpoint, "token", auth=False),
    Route("POST", CALIPER_PATH, caliper_events, "caliper"),
    Route("PUT", f"{GRADEBOOK_PATH}/{_COLL}/{_ID}", gradebook_put, "gradebook"),
    Route("GET", f"{GRADEBOOK_PATH}/{_COLL}/{_ID}", gradebook_get, "gradebook"),
    Route("POST", f"{GRADEBOOK_PATH}/{_COLL}", gradebook_post, "gradebook"),
    Route("GET", f"{GRADEBOOK_PATH}/{_COLL}", gradebook_list, "gradebook"),
    Route("GET", "/", admin_index, "admin", auth=False),
    Route("GET", "/_sandbox/events", admin_events, "admin", auth=False),
    Route("GET", "/_sandbox/results", admin_results, "admin", auth=False),
    Route("GET", "/_sandbox/line-items", admin_line_items, "admin", auth=False),
    Route("GET", "/_sandbox/rejections", admin_rejections, "admin", auth=False),
    Route("GET", "/_sandbox/stats", admin_stats, "admin", auth=False),
    Route("POST", "/_sandbox/reset", admin_reset, "admin", auth=False),
    Route("POST", "/_sandbox/expire-tokens", admin_expire_tokens, "admin", auth=False),
    Route("GET", "/_sandbox/faults", admin_faults, "admin", auth=False),
    Route("POST", "/_sandbox/faults", admin_faults, "admin", auth=False),
]

from .rostering import ROUTES as ROSTERING_ROUTES  # noqa: E402  (it builds on the helpers above)

ROUTES += ROSTERING_ROUTES


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


# -- HTTP plumbing -----------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled clients reuse connections
    server_version = "TimebackSandbox/1"
    # Headers and body go out in two writes: without TCP_NODELAY every keep-alive
    # response waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.address_string(), format % args)

    def dispatch(self):
        server = self.server
        state = server.state
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send(Response(413, {"error": "payload_too_large"}))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, path, parse_qs(split.query), self.headers, body)
        route, params, allowed = server.match(self.command, path)
        if route is None:
            status = 405 if allowed else 404
            self.send(Response(status, {"error": "not_found" if status == 404 else "method_not_allowed",
                                        "message": f"no route for {self.command} {path}"}))
            return
        endpoint = route.endpoint
        if endpoint != "admin":
            state.count(endpoint, "received")
            with state.lock:
                state.user_agents[self.headers.get("User-Agent") or ""] += 1
        fault = state.pick_fault(endpoint) if endpoint != "admin" else None
        delay = state.delay_seconds() if endpoint != "admin" else 0.0
        if fault and fault.get("delay_ms"):
            delay += fault["delay_ms"] / 1000.0
        if delay:
            time.sleep(delay)
        if fault and fault.get("drop"):
            state.count(endpoint, "faults")
            self.drop()
            return
        if fault and fault.get("status"):
            state.count(endpoint, "faults")
            self.send(self.fault_response(fault))
            return
        if route.auth and not self.authorized(state):
            state.count(endpoint, "unauthorized")
            self.send(Response(401, {"error": "invalid_token", "error_description": "missing, unknown or expired bearer token"},
                               {"WWW-Authenticate": 'Bearer error="invalid_token"'}))
            return
        try:
            response = route.handler(state, request, **{k: unquote(v) for k, v in params.items()})
        except Exception:  # a sandbox bug must still answer, and loudly
            logger.exception("sandbox handler failed for %s %s", self.command, path)
            response = Response(500, {"error": "sandbox_error", "message": "the sandbox failed; see its log"})
        self.send(response)

    @staticmethod
    def fault_response(fault):
        status = int(fault["status"])
        headers = {}
        if status in (429, 503) or "retry_after" in fault:
            headers["Retry-After"] = str(fault.get("retry_after", 1))
        message = {429: "rate limit exceeded", 408: "request timeout"}.get(status, "injected server error")
        return Response(status, {"error": "injected_fault", "message": message}, headers)

    def authorized(self, state):
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and bool(token) and state.token_valid(token.strip())

    def drop(self):
        """Close the socket without a response, as a crashed server or a cut link would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send(self, response):
        data = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class SandboxServer(ThreadingHTTPServer):
    """A running sandbox; ``.url``, ``.state``, ``.stop()``. Use ``start_sandbox()`` in tests."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up (a killed worker, a timed-out request) is routine here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)
    allow_reuse_address = True

    def __init__(self, host="127.0.0.1", port=0, *, state=None, routes=None, **state_options):
        self.state = state or SandboxState(**state_options)
        if self.state.platform not in PLATFORMS:
            raise ValueError(f"unknown platform {self.state.platform!r}; known: {', '.join(PLATFORMS)}")
        self.routes = list(routes if routes is not None else platform_routes(self.state.platform))
        self._thread = None
        super().__init__((host, port), Handler)

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def match(self, method, path):
        allowed = []
        for route in reversed(self.routes):  # a route added later overrides one with the same pattern
            found = route.regex.match(path)
            if found:
                if route.method == method:
                    return route, found.groupdict(), allowed
                allowed.append(route.method)
        return None, {}, allowed

    def start(self):
        """Serve in a daemon thread; returns self."""
        # A short poll interval makes stop() quick (tests start many sandboxes).
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=f"timeback-sandbox-{self.url}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_sandbox(host="127.0.0.1", port=0, **options):
    """Start a sandbox in a background thread (port 0: a free one) and return it."""
    return SandboxServer(host, port, **options).start()
