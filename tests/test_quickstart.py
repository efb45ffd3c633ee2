"""docs/quickstart.md: its marked blocks are well formed, and (with ``QUICKSTART=1``) the whole quick
start runs as written against the built wheel (``tests/quickstart/drive.py``; the quick-start legs of
``.ci/run`` are the real run, on Django 5.2 and 6.1)."""

import os
import sys

import pytest

from tests.quickstart import drive


def test_the_page_has_its_steps_in_order():
    steps = drive.blocks()
    hows = [how for how, _, _ in steps]
    assert hows[0] == "run" and "append host/settings.py" in hows and "write host/urls.py" in hows
    assert sum(len(drive.INSTALL.findall(body)) for how, _, body in steps if how.startswith("run")) == 1
    assert hows.index("append host/settings.py") < hows.index("write host/urls.py")


def test_the_python_blocks_compile():
    for how, lang, body in drive.blocks():
        if lang == "python":
            compile(body, how, "exec")


def test_the_outputs_shown_are_those_the_driver_compares():
    shown = [line for how, _, body in drive.blocks() if how.startswith("run") for line in drive.shown_output(body)]
    assert "System check identified no issues (0 silenced)." in shown
    assert "302 http://127.0.0.1:8000/accounts/login/?next=/progress/" in shown


def test_the_readme_points_to_it():
    assert "docs/quickstart.md" in (drive.REPO / "README.md").read_text()


@pytest.mark.skipif(os.environ.get("QUICKSTART") != "1", reason="minutes, PyPI and free ports: QUICKSTART=1 (CI runs it)")
def test_the_quick_start_runs_as_written():
    assert drive.main(["--python", sys.executable]) == 0
