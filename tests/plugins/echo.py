"""A careless Timeback on loopback that repeats what it was sent (``echo``).

Its token endpoint (any path ending in ``/token``) answers ``token_echo(body)``
with ``token_status``, or a token when ``token_echo`` is None; every other
path answers ``api_answer(handler)`` (the request body is ``handler.body``).
``tokens_issued`` and ``requests`` count what it served. The redaction tests
use it to play servers that echo credentials in every encoding (``ENCODINGS``),
and find any spelling of them in a text with ``leaks``.
"""

import base64
import html
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, quote_plus

import pytest

ECHO_SECRET = "Zq8+a/b=c-echoed-71"
# Standard base64 characters, as opaque tokens may have: form encoding changes + / =.
ECHO_TOKEN = "tok+/=Zx9-4d9f0c2e"


# -- credentials with characters every encoding changes, and how to find them -----

# Its base64 has + / = too (the "?>?>" does that), so the URL-safe alphabet differs.
HOSTILE_SECRET = 'Zq8+a/b=c%d&e f"g\\h-é🔑?>?>71'
HOSTILE_TOKEN = "tok+/=Zx9-4d9f0c2e=="
CLIENT_ID = "echo-client"


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _json_escaped(text):
    return json.dumps(text)[1:-1]


def _all_unicode_escapes(text):
    r"""Every character as ``\uXXXX`` (``\u002b`` for "+"), as some JSON writers do."""
    units = text.encode("utf-16-be")
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2))


# How a server may repeat a credential. Each test echoes one.
ENCODINGS = {
    "raw": lambda s: s,
    "form": quote_plus,  # as the client sends it: client_secret=Zq8%2Ba%2Fb%3D...
    "percent": lambda s: quote(s, safe=""),  # %20 for the space
    "percent-lowercase": lambda s: re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(s, safe="")),
    "percent-twice": lambda s: quote(quote_plus(s), safe=""),  # %252B
    "json": _json_escaped,  # \" \\ \u00e9 and a surrogate pair
    "json-slash": lambda s: _json_escaped(s).replace("/", "\\/"),  # as PHP and Java write "/"
    "json-unicode": _all_unicode_escapes,  # \u002b
    "json-in-json": lambda s: _json_escaped(json.dumps(s)),  # a JSON document quoted in another
    "html": html.escape,  # a proxy's error page
    "base64": _b64,
    "base64-urlsafe": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "basic": lambda s: _b64(f"{CLIENT_ID}:{s}"),  # HTTP Basic: base64(client_id:client_secret)
    "basic-form-encoded": lambda s: _b64(f"{quote_plus(CLIENT_ID)}:{quote_plus(s)}"),  # RFC 6749 2.3.1
}


def spellings(secret):
    """Every encoding of ``secret``, each also as an HTML page shows it, and 10-character pieces of the plain ones."""
    forms = {encode(secret) for encode in ENCODINGS.values()}
    for plain in (secret, quote_plus(secret), _json_escaped(secret)):
        forms |= {plain[i:i + 10] for i in range(len(plain) - 9)}  # a secret cut short still leaks
    return forms | {html.escape(form) for form in forms}


def leaks(texts, *secrets):
    """``(surface, spelling)`` for each credential spelling found on a surface."""
    found = []
    for secret in secrets:
        forms = spellings(secret)
        found += [(name, form) for name, text in texts.items() for form in forms if form in text]
    return found


# -- the server -----------------------------------------------------------------


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, token=ECHO_TOKEN):
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.token = token
        self.token_echo = None  # callable(body) -> (content type, text), answered with token_status
        self.token_status = 401
        self.api_answer = None  # callable(handler) -> (status, content type, text)
        self.tokens_issued = 0
        self.requests = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class EchoHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.answer(b"")

    def do_PUT(self):
        self.do_POST()

    def do_POST(self):
        self.answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def answer(self, body):
        server = self.server
        self.body = body
        server.requests += 1
        if self.path.endswith("/token"):
            if server.token_echo is None:
                server.tokens_issued += 1
                status, ctype, text = 200, "application/json", json.dumps({"access_token": server.token, "expires_in": 3600})
            else:
                status, (ctype, text) = server.token_status, server.token_echo(body)
        else:
            status, ctype, text = server.api_answer(self)
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def echo_factory(settings):
    """``echo_factory(secret=..., token=..., **settings)``: a running echo server the settings point at."""
    from tests.plugins.sandbox import point_settings_at  # not at import: pytest loads that plugin itself, later

    servers = []

    def make(*, secret=ECHO_SECRET, token=ECHO_TOKEN, **overrides):
        server = EchoServer(token)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        point_settings_at(settings, server, CLIENT_SECRET=secret, **overrides)
        _forget_shared_client()
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()
    _forget_shared_client()


@pytest.fixture
def echo(echo_factory):
    return echo_factory()


def _forget_shared_client():
    from timeback_progress.timeback import client

    with client._lock:
        client._shared.update(key=None, client=None)
