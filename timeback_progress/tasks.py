"""django-q2 task entry points for the outbox.

The outbox owns retries: these tasks never raise for a failed delivery (the
rows record it), and the example project's Q_CLUSTER sets ``max_attempts=1``
so django-q2 never re-runs one.
"""

import logging
import time

from .conf import app_settings

logger = logging.getLogger("timeback_progress.tasks")

SWEEP_SCHEDULE_NAME = "timeback_progress: deliver due outbox rows"
KICK_DEBOUNCE_SECONDS = 1.0
_last_kick = [0.0]


def kick():
    """Fast path: after a commit that wrote outbox rows, ask a worker to deliver them.

    Debounced per process: a burst of completions enqueues one task, which
    loops until nothing is due; the sweeper schedule catches anything left.
    """
    if not app_settings.SYNC_ENABLED:
        return None
    now = time.monotonic()
    if now - _last_kick[0] < KICK_DEBOUNCE_SECONDS:
        return None
    _last_kick[0] = now
    from django_q.tasks import async_task

    try:
        return async_task("timeback_progress.tasks.deliver_due", task_name="timeback-deliver", group="timeback")
    except Exception:  # the broker being down must not fail the request; the sweeper delivers later
        logger.warning("could not enqueue the delivery task; the sweeper will deliver", exc_info=True)
        return None


def deliver_due():
    """Deliver every outbox row that is due (run by kick() and the sweeper schedule)."""
    from . import delivery

    summary = delivery.deliver_due()
    if summary.handled:
        logger.info("outbox: %s", summary.as_dict())
    return summary.as_dict()


def ensure_schedule(**kwargs):
    """Create or update the sweeper schedule (connected to post_migrate)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SWEEP_SCHEDULE_NAME,
        defaults={
            "func": "timeback_progress.tasks.deliver_due",
            "schedule_type": Schedule.MINUTES,
            "minutes": app_settings.SWEEP_INTERVAL_MINUTES,
            "repeats": -1,
        },
    )
