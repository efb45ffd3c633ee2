"""Shared fixtures. Area-specific fixtures live in ``tests/plugins/*.py``,
loaded automatically so each area keeps its own file."""

from pathlib import Path

import pytest

# factories first: other plugins import it, and pytest must load it itself to rewrite its asserts.
pytest_plugins = sorted(
    (f"tests.plugins.{p.stem}" for p in (Path(__file__).parent / "plugins").glob("*.py") if p.stem != "__init__"),
    key=lambda name: (not name.endswith(".factories"), name),
)


@pytest.fixture(autouse=True)
def _fresh_local_caches(settings):
    """Per-process caches (API throttle counts) must not leak between tests."""
    from django.core.cache import caches

    for alias, config in settings.CACHES.items():
        if config["BACKEND"].endswith("LocMemCache"):
            caches[alias].clear()


@pytest.fixture(autouse=True)
def _throttle_windows_hold_still(monkeypatch):
    """Throttles count in fixed windows: a test's few requests must not straddle a window's turn."""
    from timeback_progress import ratelimit

    monkeypatch.setattr(ratelimit, "clock", lambda: 86400 * 20_000 + 10.0)
