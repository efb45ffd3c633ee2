"""The package as published (issue 19, point 6): version and changelog in step, true classifiers,
extras, and what the wheel and sdist hold (``tests/quickstart/package.py``).

Building the distributions needs ``build`` and PyPI (setuptools in an isolated environment): that
test runs with ``QUICKSTART=1``, as the quick-start legs of ``.ci/run`` do on every build anyway.
"""

import os
import re
import subprocess
import sys
import tomllib
import zipfile

import pytest

import timeback_progress
from tests.quickstart import package

REPO = package.REPO
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
VERSION_HEADING = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+)\] - (?P<date>\d{4}-\d{2}-\d{2}|Unreleased)$")


def changelog_headings():
    return [line for line in (REPO / "CHANGELOG.md").read_text().splitlines() if line.startswith("## ")]


def test_the_version_is_read_from_the_package():
    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "timeback_progress.__version__"}


def test_the_changelog_keeps_a_changelog_and_leads_with_the_version():
    headings = changelog_headings()
    wrong = [h for h in headings if h != "## [Unreleased]" and not VERSION_HEADING.match(h)]
    assert wrong == [], "release headings are '## [x.y.z] - YYYY-MM-DD' (or '- Unreleased'); entries go under them as ###"
    versions = [VERSION_HEADING.match(h) for h in headings if VERSION_HEADING.match(h)]
    assert versions[0]["version"] == timeback_progress.__version__
    dated = [m["version"] for m in versions if m["date"] != "Unreleased"]
    assert all(m["date"] != "Unreleased" for m in versions[1:]), "only the version being prepared is unreleased"
    as_tuples = [tuple(map(int, m["version"].split("."))) for m in versions]
    assert as_tuples == sorted(as_tuples, reverse=True) and dated


def test_the_classifiers_say_what_the_dependencies_allow():
    classifiers = PROJECT["classifiers"]
    django = {c.rsplit(" :: ", 1)[1] for c in classifiers if c.startswith("Framework :: Django :: ")}
    python = {c.rsplit(" :: ", 1)[1] for c in classifiers if re.match(r"Programming Language :: Python :: 3\.\d+$", c)}
    assert "django>=5.2,<6.2" in PROJECT["dependencies"] and django == {"5.2", "6.0", "6.1"}
    assert PROJECT["requires-python"] == ">=3.11" and python == {"3.11", "3.12", "3.13"}
    assert PROJECT["license"] == "MIT" and (REPO / "LICENSE").read_text().startswith("MIT License")
    assert not any(c.startswith("License ::") for c in classifiers)  # the licence expression says it (PEP 639)


def test_the_extras_the_quick_start_names_exist():
    extras = PROJECT["optional-dependencies"]
    assert extras["postgres"] == ["psycopg[binary]>=3.1"] and extras["redis"] == ["redis>=5"]
    assert {"build", "twine", "openapi-spec-validator"} <= {re.split(r"[<>=\[]", r)[0] for r in extras["release"]}
    assert 'pip install "timeback-progress[postgres,redis]"' in (REPO / "docs" / "quickstart.md").read_text()


# -- the contents check, on wheels made here: it must find what is wrong -----------------------


def fake_wheel(tmp_path, drop=(), add=()):
    path = tmp_path / "timeback_progress-0-py3-none-any.whl"
    names = (package.required_files() - set(drop)) | set(add) | {"timeback_progress-0.dist-info/licenses/LICENSE"}
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, "")
    return path


def test_the_contents_check_passes_a_complete_wheel(tmp_path):
    assert package.wheel_problems(fake_wheel(tmp_path)) == []


def test_the_contents_check_finds_what_is_missing_and_what_does_not_belong(tmp_path):
    mo = "timeback_progress/locale/es/LC_MESSAGES/django.mo"
    migration = "timeback_progress/migrations/0001_initial.py"
    template = "timeback_progress/templates/timeback_progress/base.html"
    found = package.wheel_problems(fake_wheel(tmp_path, drop=[mo, migration, template],
                                              add=["tests/settings.py", "project/settings.py"]))
    assert found == [f"missing from the wheel: {n}" for n in sorted([mo, migration, template])] + [
        "not the app, in the wheel: project/", "not the app, in the wheel: tests/"]


@pytest.mark.skipif(os.environ.get("QUICKSTART") != "1", reason="builds the distributions: QUICKSTART=1 (the CI legs build them)")
def test_the_built_wheel_and_sdist_hold_the_app_and_nothing_else(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,), (sdist,) = tmp_path.glob("*.whl"), tmp_path.glob("*.tar.gz")
    assert wheel.name == f"timeback_progress-{timeback_progress.__version__}-py3-none-any.whl"
    assert package.wheel_problems(wheel) == [] and package.sdist_problems(sdist) == []
