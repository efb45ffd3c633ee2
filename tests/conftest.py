"""Shared fixtures. Area-specific fixtures live in ``tests/plugins/*.py``,
loaded automatically so each area keeps its own file."""

from pathlib import Path

import pytest

pytest_plugins = sorted(
    f"tests.plugins.{p.stem}" for p in (Path(__file__).parent / "plugins").glob("*.py") if p.stem != "__init__"
)
