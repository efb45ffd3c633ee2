"""The roster import as a django-q2 task, and the Schedule that runs it (django-q2 imported lazily)."""

import logging

from ..schedules import keep_schedule
from .importer import import_roster

logger = logging.getLogger("timeback_progress.roster")

SCHEDULE_NAME = "timeback_progress: import the roster"
TASK = "timeback_progress.roster.tasks.run_scheduled_import"  # the dotted path a Schedule stores


def run_scheduled_import():
    """django-q2 entry point: an incremental import; returns the summary dict (errors raise)."""
    summary = import_roster()
    logger.info("roster import: %s", summary.as_dict()["totals"])
    return summary.as_dict()


def ensure_schedule(minutes=60):
    """Create or update a django-q2 Schedule that runs the import every ``minutes``."""
    return keep_schedule(SCHEDULE_NAME, TASK, every_minutes=minutes)
