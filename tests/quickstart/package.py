"""What a built wheel and sdist must hold, and must not (issue 19, point 6).

Used by the quick-start driver on the distributions it builds (the CI leg)
and by ``tests/test_package.py``. Stdlib only: the driver runs it before
anything else is installed.
"""

import tarfile
import zipfile
from pathlib import Path

PACKAGE = "timeback_progress"
REPO = Path(__file__).resolve().parents[2]



def repo_files(pattern):
    """The app's files in the working tree matching ``pattern`` (relative to the package), as wheel paths."""
    root = REPO / PACKAGE
    return {f"{PACKAGE}/{p.relative_to(root).as_posix()}" for p in root.glob(pattern)
            if p.is_file() and "__pycache__" not in p.parts}


def required_files():
    """Every template, static file, catalogue (.po and .mo) and migration of the app."""
    required = set()
    for pattern in ("templates/**/*", "static/**/*", "locale/**/*.po", "locale/**/*.mo", "migrations/*.py",
                    "contrib/sandbox/**/*.py"):
        required |= repo_files(pattern)
    return required


def wheel_problems(wheel):
    """What is wrong with ``wheel``'s contents, one line each; empty when all is well."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    problems = [f"missing from the wheel: {name}" for name in sorted(required_files() - names)]
    top = {name.split("/", 1)[0] for name in names}
    stray = sorted(t for t in top if t != PACKAGE and not t.endswith(".dist-info"))
    # tests/, project/, bench/, the example's templates/ ...: anything at the top but the app and its metadata.
    problems += [f"not the app, in the wheel: {t}/" for t in stray]
    problems += [f"not for the wheel: {n}" for n in sorted(names) if n.endswith((".pyc", ".sqlite3")) or "__pycache__" in n]
    if not any(n.endswith("/LICENSE") or "licenses/LICENSE" in n for n in names):
        problems.append("the licence file is not in the wheel's metadata")
    return problems


def sdist_problems(sdist):
    """The sdist holds the app (with its data files), the licence, the README and the changelog."""
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    wanted = {name for name in required_files()} | {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml"}
    problems = [f"missing from the sdist: {name}" for name in sorted(wanted - names)]
    problems += [f"not for the sdist: {n}" for n in sorted(names) if n.endswith((".pyc", ".sqlite3", ".env"))]
    return problems
