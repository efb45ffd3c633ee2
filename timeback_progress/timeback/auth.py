"""OAuth2 client-credentials token, cached once for every worker process.

The token lives in Django's cache (``TOKEN_CACHE_ALIAS``), so all workers
share one token and renew it ``TOKEN_REFRESH_MARGIN`` seconds before it
expires. A short cache lock (``cache.add``) lets one process fetch a new token
while the others wait and re-read the cache: no stampede on the token endpoint.
The cache key is a hash of the client id, token URL and scope, never the secret.

Every method here holds the secret or a token in a local variable, so each is
``sensitive_variables()``: Django's error reports (the technical 500 page, the
error email) show none of their locals, nor those of the frames they call
(``requests``, the cache backend).
"""

import hashlib
import logging
import time

import requests
from django.core.cache import caches
from django.views.decorators.debug import sensitive_variables

from . import errors

logger = logging.getLogger("timeback_progress.timeback")

LOCK_POLL_SECONDS = 0.05
# After a failed token request this process asks again no sooner than this
# (or the server's Retry-After): meanwhile get_token() raises the same error
# without a request, so a wrong secret cannot cost a token request per row.
REFUSAL_MEMORY_SECONDS = 30.0


class TokenProvider:
    """Fetches and caches bearer tokens for one set of credentials."""

    @sensitive_variables()
    def __init__(self, session, *, token_url, client_id, client_secret, scope=None, cache_alias="default",
                 refresh_margin=60, timeout=(5.0, 30.0)):
        self.session = session
        self.token_url = token_url
        # LearnWith.AI grants a token only for a named scope; Timeback's Cognito needs none.
        self.scope = scope or None
        self.client_id = client_id
        self._client_secret = client_secret
        self.cache_alias = cache_alias
        self.refresh_margin = refresh_margin
        self.timeout = timeout
        # A token for another scope is another token; without one the key stays as it always was.
        identity = f"{client_id}\n{token_url}" + (f"\n{self.scope}" if self.scope else "")
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        self.cache_key = f"timeback_progress:token:{digest}"
        self.lock_key = f"{self.cache_key}:lock"
        # Long enough for one token request to finish; a crashed holder frees it then.
        self.lock_seconds = max(2, int(sum(timeout)) + 1)
        # This process's copy of the shared token: (token, renew at, epoch seconds).
        # Requests (also from sender threads) then cost no cache round trip.
        self._memo = None
        # The last failed token request: (error, monotonic time until which it stands).
        self._refused = None

    def __repr__(self):
        return f"<TokenProvider {self.token_url}>"

    @property
    def cache(self):
        return caches[self.cache_alias]

    @sensitive_variables()
    def get_token(self):
        """A valid bearer token: this process's copy, the shared cache's, or freshly fetched by one process."""
        memo = self._memo
        if memo and memo[1] > time.time():
            return memo[0]
        token = self._cached()
        if token:
            return token
        deadline = time.monotonic() + self.lock_seconds
        while time.monotonic() < deadline:
            if self.cache.add(self.lock_key, "1", timeout=self.lock_seconds):
                try:
                    return self._cached() or self._fetch_and_store()
                finally:
                    self.cache.delete(self.lock_key)
            time.sleep(LOCK_POLL_SECONDS)
            token = self._cached()
            if token:
                return token
        # The holder never finished (crashed or hung): fetch without the lock.
        return self._fetch_and_store()

    @sensitive_variables()
    def _cached(self):
        value = self.cache.get(self.cache_key)
        if isinstance(value, dict) and value.get("renew_at", 0) > time.time():
            self._memo = (value["token"], value["renew_at"])
            return value["token"]
        return None

    @sensitive_variables()
    def invalidate(self, token=None):
        """Forget the token (after a 401); keep a newer one another worker stored."""
        memo = self._memo
        if token is None or (memo and memo[0] == token):
            self._memo = None
        value = self.cache.get(self.cache_key)
        if token is None or (isinstance(value, dict) and value.get("token") == token):
            self.cache.delete(self.cache_key)

    @sensitive_variables()
    def _fetch_and_store(self):
        self._raise_if_refused()
        try:
            token, expires_in = self.fetch()
        except errors.TimebackError as exc:
            self._remember_refusal(exc)
            raise
        self._refused = None
        lifetime = expires_in - self.refresh_margin if expires_in > 2 * self.refresh_margin else expires_in / 2
        lifetime = max(1, int(lifetime))
        renew_at = time.time() + lifetime
        self.cache.set(self.cache_key, {"token": token, "renew_at": renew_at}, timeout=lifetime)
        self._memo = (token, renew_at)
        return token

    def _remember_refusal(self, error):
        """No token request before the server's Retry-After, or ``REFUSAL_MEMORY_SECONDS``; nor should rows retry."""
        if error.retry_after is None:
            error.retry_after = REFUSAL_MEMORY_SECONDS
        self._refused = (error, time.monotonic() + error.retry_after)

    def _raise_if_refused(self):
        """Raise the last failure again (a new instance: threads share it) while it stands."""
        refused = self._refused
        if refused is None or refused[1] <= time.monotonic():
            return
        error, until = refused
        again = type(error)(error.message, status=error.status, method=error.method, url=error.url)
        again.retry_after = until - time.monotonic()  # the rows wait out the rest of it
        raise again

    @sensitive_variables()
    def fetch(self):
        """POST the client credentials; returns ``(access_token, expires_in)``."""
        if not self.client_id or not self._client_secret:
            raise errors.AuthError("Timeback CLIENT_ID and CLIENT_SECRET are not set.")
        data = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._client_secret}
        if self.scope:
            data["scope"] = self.scope
        started = time.monotonic()
        try:
            response = self.session.post(self.token_url, data=data, timeout=self.timeout, headers={"Accept": "application/json"})
        except requests.Timeout:
            raise errors.RetriableError("token request timed out", method="POST", url=self.token_url) from None
        except requests.ConnectionError as exc:
            raise errors.RetriableError(
                f"token endpoint unreachable: {type(exc).__name__}", method="POST", url=self.token_url
            ) from None
        except requests.RequestException as exc:  # e.g. a malformed TOKEN_PATH: never the request it held
            raise errors.AuthError(
                f"token request not sent: {type(exc).__name__}", method="POST", url=self.token_url
            ) from None
        logger.debug("POST %s -> %s in %.0f ms", self.token_url, response.status_code, (time.monotonic() - started) * 1000)
        if response.status_code != 200:
            error = errors.from_response(response, method="POST", url=self.token_url, secrets=(self._client_secret,))
            if not error.retriable:
                error = errors.AuthError(
                    f"credentials rejected: {error.message}", status=error.status, method="POST", url=self.token_url
                )
            raise error
        try:
            body = response.json()
            token = body["access_token"]
            expires_in = int(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise errors.AuthError(
                "token endpoint answered without an access_token", status=200, method="POST", url=self.token_url
            ) from None
        return token, expires_in
