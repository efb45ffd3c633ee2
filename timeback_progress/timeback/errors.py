"""What can go wrong talking to Timeback, as three kinds the outbox acts on.

``RetriableError``: try again later (connection error, timeout, 5xx, 408, 409, 429,
with ``retry_after`` seconds when the server said). ``PermanentError``: the
server refused the request itself (other 4xx); resending it unchanged cannot
help. ``AuthError``: the credentials were rejected. Every error carries
``status`` (or None) and a short readable message; none ever holds a secret:
what a server says is passed through ``redaction`` (every encoding of the
client secret and the bearer token) before it is cut to length.
"""

import email.utils
import json
import time

from django.views.decorators.debug import sensitive_variables

from . import redaction

MAX_MESSAGE = 500
# The most of a server's answer read for a message: redacted whole, then cut to MAX_MESSAGE.
MAX_READ = 20_000


class TimebackError(Exception):
    """Base class: ``status`` is the HTTP status or None (no response)."""

    retriable = False
    # Seconds before trying again, when known (``RetriableError``, a remembered token refusal).
    retry_after = None

    def __init__(self, message, *, status=None, method=None, url=None):
        self.message = message[:MAX_MESSAGE]
        self.status = status
        self.method = method
        self.url = url
        super().__init__(self.message)

    def __str__(self):
        where = f"{self.method} {self.url}: " if self.method and self.url else ""
        code = f"HTTP {self.status}: " if self.status else ""
        return f"{where}{code}{self.message}"

    def __repr__(self):
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class RetriableError(TimebackError):
    """Transient: the same request may succeed later (after ``retry_after`` seconds if set)."""

    retriable = True

    def __init__(self, message, *, retry_after=None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PermanentError(TimebackError):
    """The server refused this request; ``errors`` lists per-item problems when it gave them.

    For a Caliper envelope each entry is ``{"index": i, "id": "urn:uuid:...",
    "message": ...}`` naming an event the server rejected, so a caller can set
    those aside and resend the rest.
    """

    def __init__(self, message, *, errors=(), **kwargs):
        super().__init__(message, **kwargs)
        self.errors = [e for e in errors if isinstance(e, dict)]

    @property
    def invalid_event_ids(self):
        """Ids of the events the server named as invalid (empty: it named none)."""
        return {e["id"] for e in self.errors if isinstance(e.get("id"), str)}

    @property
    def invalid_indexes(self):
        return {e["index"] for e in self.errors if isinstance(e.get("index"), int)}


class AuthError(TimebackError):
    """Credentials rejected at the token endpoint, or a 401 even with a fresh token."""


def parse_retry_after(value, *, now=None):
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def response_detail(response):
    """The server's own message and per-item errors from an error response body.

    Not cut to ``MAX_MESSAGE`` here: a secret cut in half would escape redaction.
    """
    try:
        body = response.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to read
        text = _text(response)[:MAX_READ].strip()
        return (text or response.reason or "no message"), []
    if not isinstance(body, dict):
        return json.dumps(body)[:MAX_READ], []
    items = body.get("errors") if isinstance(body.get("errors"), list) else []
    for key in ("imsx_description", "error_description", "message", "detail", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value, items
    for nested in body.get("imsx_statusInfo", []) if isinstance(body.get("imsx_statusInfo"), list) else []:
        if isinstance(nested, dict) and nested.get("imsx_description"):
            return str(nested["imsx_description"]), items
    return json.dumps(body)[:MAX_READ], items


def _text(response):
    """The body as text: UTF-8 unless the server named a charset (``requests`` would read Latin-1,
    garbling an echoed secret's non-ASCII characters past recognition)."""
    content_type = response.headers.get("Content-Type") or ""
    if "charset=" in content_type.lower():
        return response.text or ""
    return (response.content or b"").decode("utf-8", "replace")


@sensitive_variables("secrets")
def redact(text, secrets):
    """Blank out any secret a server may have echoed back, in any encoding (``redaction``)."""
    return redaction.redact(text, secrets)


@sensitive_variables("secrets")
def from_response(response, *, method=None, url=None, secrets=()):
    """Map a non-2xx response to the right error class, the ``secrets`` blanked out of what the server said."""
    status = response.status_code
    message, items = response_detail(response)
    message = redaction.redact(message, secrets)
    items = redaction.redact_all(items, secrets)
    kwargs = {"status": status, "method": method, "url": url}
    # 409: the record changed under us (e.g. created concurrently); a retry sees the new state.
    if status >= 500 or status in (408, 409, 429):
        return RetriableError(message, retry_after=parse_retry_after(response.headers.get("Retry-After")), **kwargs)
    if status == 401:
        return AuthError(message, **kwargs)
    return PermanentError(message, errors=items, **kwargs)
