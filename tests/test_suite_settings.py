"""The suite runs on its own settings (tests/settings.py), whatever the developer's
``.env`` or shell says; the example project (project/settings.py) keeps reading both.

Each check imports a copy of a settings module in a fresh interpreter, inside a
scratch tree laid out like the repository, with a ``.env`` everywhere a
settings module could look for one (the tree's root, the module's own folder,
the working directory) and the example project's variables exported too.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

DOTENV = """\
DJANGO_SECRET_KEY=from-dotenv
DJANGO_DEBUG=true
DATABASE_URL=sqlite:////tmp/from-dotenv.sqlite3
REDIS_URL=redis://127.0.0.1:6379/9
TIMEBACK_SYNC_ENABLED=true
TIMEBACK_PLATFORM=learnwith.ai
TIMEBACK_CLIENT_ID=from-dotenv
TIMEBACK_CLIENT_SECRET=dotenv-secret
TIMEBACK_API_URL=http://dotenv.example
TIMEBACK_PROGRESS_EXTRA={"BATCH_SIZE": 7}
"""
EXPORTED = {
    "DJANGO_SECRET_KEY": "from-shell", "DJANGO_DEBUG": "true", "TIMEBACK_SYNC_ENABLED": "true",
    "TIMEBACK_CLIENT_SECRET": "shell-secret", "TIMEBACK_PLATFORM": "learnwith.ai", "REDIS_URL": "redis://127.0.0.1:6379/9",
    "TIMEBACK_PROGRESS_EXTRA": '{"BATCH_SIZE": 7}',
}

READ = """
import importlib, json
s = importlib.import_module({module!r})
print(json.dumps({{
    "SYNC_ENABLED": s.TIMEBACK_PROGRESS.get("SYNC_ENABLED"), "PLATFORM": s.TIMEBACK_PROGRESS.get("PLATFORM"),
    "CLIENT_SECRET": s.TIMEBACK_PROGRESS.get("CLIENT_SECRET"), "BATCH_SIZE": s.TIMEBACK_PROGRESS.get("BATCH_SIZE"),
    "DEBUG": s.DEBUG, "SECRET_KEY": s.SECRET_KEY, "DATABASE": str(s.DATABASES["default"]["NAME"]),
    "DATABASE_OPTIONS": s.DATABASES["default"].get("OPTIONS", {{}}), "CACHES": sorted(c["BACKEND"] for c in s.CACHES.values()),
}}))
"""


def load(tmp_path, module, *, exported=EXPORTED, database=None):
    """``module``'s values, read from a copy in a scratch tree full of ``.env`` files."""
    package, name = module.split(".")
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    shutil.copy(ROOT / package / f"{name}.py", tmp_path / package / f"{name}.py")
    for folder in (tmp_path, tmp_path / package):
        (folder / ".env").write_text(DOTENV)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "TIMEBACK_", "DJANGO_"))}
    env.update(exported, PYTHONPATH=str(tmp_path), **(database or {}))
    done = subprocess.run([sys.executable, "-c", READ.format(module=module)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("exported", [{}, EXPORTED], ids=["dotenv", "dotenv-and-shell"])
def test_a_dotenv_with_sync_on_does_not_leak_into_the_suite(tmp_path, exported):
    found = load(tmp_path, "tests.settings", exported=exported)
    assert found["SYNC_ENABLED"] is False
    assert found["DEBUG"] is False
    assert found["SECRET_KEY"] == "tests-only-insecure-secret-key"
    assert found["PLATFORM"] == "timeback" and found["CLIENT_SECRET"] == "" and found["BATCH_SIZE"] is None
    assert "from-dotenv" not in found["DATABASE"]
    assert found["CACHES"] == ["django.core.cache.backends.locmem.LocMemCache"] * 2


def test_the_database_comes_from_the_process_environment(tmp_path):
    """The documented exception: CI picks PostgreSQL and prepared statements through these two."""
    pytest.importorskip("psycopg")
    found = load(tmp_path, "tests.settings", database={
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/ci", "DATABASE_PREPARED_STATEMENTS": "true"})
    assert found["DATABASE"] == "ci"
    assert found["DATABASE_OPTIONS"] == {"server_side_binding": True, "prepare_threshold": 5}
    assert found["SYNC_ENABLED"] is False


def test_the_example_project_reads_its_dotenv(tmp_path):
    """The same scratch tree, read by project/settings.py: the .env applies there (and proves the check can see it)."""
    found = load(tmp_path, "project.settings", exported={})
    assert found["SYNC_ENABLED"] is True
    assert found["SECRET_KEY"] == "from-dotenv" and found["BATCH_SIZE"] == 7
    assert found["DATABASE"] == "/tmp/from-dotenv.sqlite3"


def test_the_suite_runs_on_its_own_settings(settings):
    assert settings.SETTINGS_MODULE == "tests.settings"
    assert settings.TIMEBACK_PROGRESS["SYNC_ENABLED"] is False
