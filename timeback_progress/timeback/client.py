"""The HTTP client for Timeback: Caliper events and the OneRoster gradebook.

One pooled ``requests.Session`` per process (``get_client()``), explicit
(connect, read) timeouts, a bearer token from ``auth.TokenProvider`` and one
``_request()`` that refreshes the token once on a 401 and maps every failure
to ``errors.RetriableError`` / ``PermanentError`` / ``AuthError``. The client
never retries by itself otherwise: the outbox owns retries and backoff.

The functions whose locals hold the client secret or a token are
``sensitive_variables``: Django's error reports never show them.
"""

import logging
import os
import threading
import time
from urllib.parse import quote

import requests
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter

from .. import __version__
from ..conf import app_settings
from . import caliper, errors, lwai, numeric_settings
from .auth import TokenProvider

logger = logging.getLogger("timeback_progress.timeback")

USER_AGENT = f"timeback-progress/{__version__} (+python-requests)"

# The settings a client is built from; get_client() rebuilds when one changes.
CLIENT_SETTINGS = (
    "AUTH_URL", "TOKEN_PATH", "TOKEN_SCOPE", "CALIPER_URL", "CALIPER_EVENTS_PATH", "API_URL", "GRADEBOOK_PATH",
    "PLATFORM", "CLIENT_ID", "CLIENT_SECRET", "CONNECT_TIMEOUT", "READ_TIMEOUT", "TOKEN_CACHE_ALIAS",
    "TOKEN_REFRESH_MARGIN", "SEND_CONCURRENCY", "SENSOR",
)


class TimebackClient:
    """Talks to one Timeback deployment with one set of credentials."""

    @sensitive_variables()  # every local holds CLIENT_SECRET; so do the frames it calls
    def __init__(self, config=None):
        cfg = dict(config or app_settings.as_dict())
        bad = numeric_settings.problems(cfg, numeric_settings.CLIENT_KEYS)
        if bad:  # the same sentences as ``manage.py check`` (timeback_progress.E010)
            raise ImproperlyConfigured(" ".join(text for _key, text in bad))
        self.caliper_url = cfg["CALIPER_URL"] + cfg["CALIPER_EVENTS_PATH"]
        self.gradebook_url = cfg["API_URL"] + cfg["GRADEBOOK_PATH"]
        self.api_url = cfg["API_URL"]
        # LearnWith.AI takes Caliper in its own form (lwai.py); the outbox keeps the Timeback one.
        self.envelope_transform = lwai.envelope_transform(cfg.get("PLATFORM"))
        self.timeout = (float(cfg["CONNECT_TIMEOUT"]), float(cfg["READ_TIMEOUT"]))
        self.session = requests.Session()
        pool = max(10, 2 * int(cfg.get("SEND_CONCURRENCY") or 1))
        # max_retries=0: a dropped connection surfaces at once, the outbox decides.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.auth = TokenProvider(
            self.session,
            token_url=cfg["AUTH_URL"] + cfg["TOKEN_PATH"],
            client_id=cfg["CLIENT_ID"],
            client_secret=cfg["CLIENT_SECRET"],
            scope=cfg.get("TOKEN_SCOPE"),
            cache_alias=cfg["TOKEN_CACHE_ALIAS"],
            refresh_margin=int(cfg["TOKEN_REFRESH_MARGIN"]),
            timeout=self.timeout,
        )
        self._secret = cfg["CLIENT_SECRET"]

    def __repr__(self):
        return f"<TimebackClient caliper={self.caliper_url} api={self.api_url}>"

    def close(self):
        self.session.close()

    # -- transport -------------------------------------------------------

    @sensitive_variables("token")
    def _request(self, method, url, *, json=None, params=None, allow=()):
        """Send with a bearer token; on 401 renew the token once and retry once.

        Returns the response for 2xx and for statuses in ``allow``; raises a
        ``TimebackError`` subclass otherwise.
        """
        for first_try in (True, False):
            token = self.auth.get_token()
            response = self._send(method, url, token, json=json, params=params)
            if response.status_code == 401 and first_try:
                logger.info("%s %s -> 401, renewing the token and retrying once", method, url)
                self.auth.invalidate(token)
                continue
            break
        if response.ok or response.status_code in allow:
            return response
        error = errors.from_response(response, method=method, url=url, secrets=(self._secret, token))
        if response.status_code == 401:
            error = errors.AuthError(f"rejected even with a fresh token: {error.message}", status=401, method=method, url=url)
        logger.warning("%s %s failed: %s", method, url, error)
        raise error

    @sensitive_variables()  # the token, and the Authorization header in the frames of requests below
    def _send(self, method, url, token, *, json=None, params=None):
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, json=json, params=params, timeout=self.timeout,
                headers={"Authorization": f"Bearer {token}"},
            )
        except requests.Timeout:
            raise errors.RetriableError(f"timed out after {self.timeout} s (connect, read)", method=method, url=url) from None
        except requests.ConnectionError as exc:
            raise errors.RetriableError(f"connection failed: {_reason(exc)}", method=method, url=url) from None
        except requests.RequestException as exc:
            raise errors.PermanentError(f"request not sent: {type(exc).__name__}", method=method, url=url) from None
        logger.debug("%s %s -> %s in %.0f ms", method, url, response.status_code, (time.monotonic() - started) * 1000)
        return response

    @staticmethod
    def _json(response):
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            return {}

    # -- Caliper ---------------------------------------------------------

    def send_events(self, events):
        """POST events in one envelope; returns the response JSON.

        On a 400 naming invalid events, the ``PermanentError`` has ``errors``
        with ``index`` and ``id`` of each (ids filled in from the index when the
        server gave only that), so the caller can resend the others.

        The envelope goes out in the selected platform's form (``lwai`` for
        LearnWith.AI); ``events`` themselves are never changed, and the event
        ids and their order are the same in either form.
        """
        events = list(events)
        body = caliper.envelope(events)
        if self.envelope_transform is not None:
            body = self.envelope_transform(body)
        try:
            return self._json(self._request("POST", self.caliper_url, json=body))
        except errors.PermanentError as exc:
            for item in exc.errors:
                index = item.get("index")
                if "id" not in item and isinstance(index, int) and 0 <= index < len(events):
                    item["id"] = events[index].get("id")
            raise

    # -- OneRoster gradebook --------------------------------------------

    def _upsert(self, collection, wrap_key, body, create_first=False):
        """PUT ``{collection}/{sourcedId}``; on 404 POST to the collection (the vendor's upsert).

        ``create_first`` (for a record Timeback has not acknowledged yet; retries too) POSTs
        first and PUTs only on a 409, which halves the requests for new
        records. The body always carries our own sourcedId, so neither order
        can create a second record.
        """
        try:
            sourced_id = body[wrap_key]["sourcedId"]
        except (KeyError, TypeError):
            raise errors.PermanentError(f"body must be {{'{wrap_key}': {{'sourcedId': ...}}}}") from None
        url = f"{self.gradebook_url}/{collection}"
        item_url = f"{url}/{quote(sourced_id, safe='')}"
        if create_first:
            response = self._request("POST", url, json=body, allow=(409,))
            if response.status_code == 409:
                response = self._request("PUT", item_url, json=body)
            return self._json(response)
        response = self._request("PUT", item_url, json=body, allow=(404,))
        if response.status_code == 404:
            response = self._request("POST", url, json=body, allow=(409,))
            if response.status_code == 409:  # another worker created it meanwhile: replace it
                response = self._request("PUT", item_url, json=body)
        return self._json(response)

    def put_line_item(self, body, *, create_first=False):
        """Create or replace an ``assessmentLineItem`` (body wrapped, with its sourcedId)."""
        return self._upsert("assessmentLineItems", "assessmentLineItem", body, create_first)

    def put_result(self, body, *, create_first=False):
        """Create or replace an ``assessmentResult`` (body wrapped, with its sourcedId)."""
        return self._upsert("assessmentResults", "assessmentResult", body, create_first)

    def get_result(self, sourced_id):
        """The stored ``{"assessmentResult": {...}}``, or None when Timeback has no such result."""
        url = f"{self.gradebook_url}/assessmentResults/{quote(sourced_id, safe='')}"
        response = self._request("GET", url, allow=(404,))
        return None if response.status_code == 404 else self._json(response)

    # -- OneRoster collections -------------------------------------------

    def get_collection(self, path, params=None, *, key=None, page_size=None):
        """Yield the pages (lists of records) of a OneRoster collection, by limit/offset.

        ``path`` is relative to ``API_URL`` (e.g. ``/ims/oneroster/rostering/v1p2/users``);
        ``key`` is the collection's key in the body (default: the last path segment).
        Stops at a short or empty page, or once ``X-Total-Count`` records were read.
        """
        key = key or path.rstrip("/").rsplit("/", 1)[-1]
        limit = int(page_size or app_settings.ROSTER_PAGE_SIZE)
        offset = 0
        while True:
            query = {**(params or {}), "limit": limit, "offset": offset}
            response = self._request("GET", self.api_url + path, params=query)
            records = self._json(response).get(key) or []
            if not isinstance(records, list):
                raise errors.PermanentError(f"{key!r} in the response is not a list", method="GET", url=self.api_url + path)
            total = response.headers.get("X-Total-Count")
            page = Page(records, total=int(total) if total and total.isdigit() else None)
            if page:
                yield page
            offset += len(page)
            # With a total, a short page is no end (a server may cap limit below ours).
            if not page or (offset >= page.total if page.total is not None else len(page) < limit):
                return


class Page(list):
    """One page of a collection; ``total`` is the server's ``X-Total-Count`` (None if absent)."""

    def __init__(self, records=(), *, total=None):
        super().__init__(records)
        self.total = total


def _reason(exc):
    """A short reason for a connection error, without the request it belonged to."""
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    for marker in ("RemoteDisconnected", "Connection refused", "Connection reset", "Connection aborted"):
        if marker in text:
            return marker
    return type(exc).__name__


_lock = threading.Lock()
_shared = {"key": None, "client": None}


@sensitive_variables()  # cfg and key hold CLIENT_SECRET
def get_client():
    """The per-process shared client, rebuilt when its settings change (or after a fork)."""
    cfg = app_settings.as_dict()
    key = (os.getpid(), tuple(cfg[name] for name in CLIENT_SETTINGS))
    with _lock:
        if _shared["key"] != key:
            old, old_key = _shared["client"], _shared["key"]
            _shared["client"], _shared["key"] = TimebackClient(cfg), key
            # A client inherited through fork() shares its sockets with the parent: leave it be.
            if old is not None and old_key[0] == key[0]:
                old.close()
        return _shared["client"]
