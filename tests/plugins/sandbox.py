"""Fixtures that run the Timeback sandbox on a free loopback port.

``sandbox`` starts one and points ``TIMEBACK_PROGRESS`` (URLs, credentials) at
it; the token is cached in a private locmem cache alias, so tests need no
database for it and never share a token. ``sandbox_factory(**options)`` starts
one with other options (faults, credentials); ``timeback_client`` is the
per-process client for the current settings.
"""

import uuid

import pytest

from timeback_progress.contrib.sandbox import start_sandbox

SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret-Zq81"
TOKEN_CACHE = "timeback_sandbox_tokens"


def point_settings_at(settings, server, **overrides):
    settings.CACHES = {**settings.CACHES, TOKEN_CACHE: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                                        "LOCATION": f"timeback-sandbox-{uuid.uuid4()}"}}
    settings.TIMEBACK_PROGRESS = {
        **(getattr(settings, "TIMEBACK_PROGRESS", None) or {}),
        "AUTH_URL": server.url,
        "CALIPER_URL": server.url,
        "API_URL": server.url,
        "CLIENT_ID": SANDBOX_CLIENT_ID,
        "CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "TOKEN_CACHE_ALIAS": TOKEN_CACHE,
        **overrides,
    }


@pytest.fixture
def sandbox_factory(settings):
    servers = []

    def make(*, settings_overrides=None, **options):
        options.setdefault("client_id", SANDBOX_CLIENT_ID)
        options.setdefault("client_secret", SANDBOX_CLIENT_SECRET)
        server = start_sandbox(**options)
        servers.append(server)
        point_settings_at(settings, server, **(settings_overrides or {}))
        return server

    _forget_shared_client()
    yield make
    for server in servers:
        server.stop()
    _forget_shared_client()


def _forget_shared_client():
    """A later sandbox may get the same port: never hand it this one's client and token."""
    from timeback_progress.timeback import client

    with client._lock:
        client._shared.update(key=None, client=None)


@pytest.fixture
def sandbox(sandbox_factory):
    """A running sandbox (``.url``, ``.state``, ``.stop()``) the app's settings point at."""
    return sandbox_factory()


@pytest.fixture
def timeback_client(sandbox):
    from timeback_progress.timeback.client import get_client

    return get_client()
