"""Track student activity, compute Timeback XP and sync progress to Timeback."""

__version__ = "0.1.0"
