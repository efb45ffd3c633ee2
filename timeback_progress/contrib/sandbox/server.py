"""The sandbox HTTP server over ``http.server``: dispatch, auth, faults, and the
server that runs the route table (``routes.ROUTES``) in a background thread.

``platform="learnwith.ai"`` serves the same endpoints at that platform's paths
(``routes.platform_routes()``) and makes the token endpoint require its scope.
"""

import json
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from .messages import Request, Response
from .platforms import PLATFORMS
from .routes import platform_routes
from .state import SandboxState

logger = logging.getLogger("timeback_progress.contrib.sandbox")

MAX_BODY = 10 * 1024 * 1024


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
