"""Track student activity, compute Timeback XP and sync progress to Timeback."""

__version__ = "0.4.0"  # pyproject.toml reads it; CHANGELOG.md has its heading (tests/test_package.py)
