"""django-q2 task entry points for the outbox, and the schedules that run them.

The outbox owns retries: these tasks never raise for a failed delivery (the
rows record it), and the example project's Q_CLUSTER sets ``max_attempts=1``
so django-q2 never re-runs one. django-q2 stores a task by its dotted path
(``kick.DELIVER_TASK``, the schedules below): moving a task means updating
``RENAMED`` so that ``ensure_schedule`` rewrites the stored rows.
"""

import logging
import time
from datetime import timedelta

from django.utils import timezone

from ..conf import app_settings
from ..models import Delivery, IdempotencyRecord
from ..schedules import keep_schedule
from . import health, sending, writing
from .kick import DELIVER_TASK
from .outcome import Summary

logger = logging.getLogger("timeback_progress.tasks")

SWEEP_SCHEDULE_NAME = "timeback_progress: deliver due outbox rows"
PURGE_SCHEDULE_NAME = "timeback_progress: purge old outbox rows"
PURGE_TASK = "timeback_progress.outbox.tasks.purge_old_rows"
# Dotted paths stored by earlier versions (Schedule rows, host schedules) -> where the task is now.
RENAMED = {
    "timeback_progress.tasks.deliver_due": DELIVER_TASK,
    "timeback_progress.tasks.purge_old_rows": PURGE_TASK,
}


def deliver_due():
    """Deliver every outbox row that is due (run by the kick and the sweeper schedule).

    Keeps draining while a retry falls due within ``DRAIN_WAIT_SECONDS``, for
    at most ``TASK_TIME_BUDGET_SECONDS``: short backoffs are served here, long
    ones by the sweeper schedule.
    """
    started = time.monotonic()
    try:
        flushed = writing.flush_idle_time()  # time of attempts left open reaches Timeback too
    except Exception:  # the outbox must still drain; the next run flushes
        logger.exception("could not flush the time of idle attempts")
        flushed = 0
    total = Summary()
    while True:
        total.add(sending.deliver_due())
        if not app_settings.SYNC_ENABLED:
            break  # rows stay pending: waiting for them to fall due would spin for the whole budget
        wait = sending.seconds_until_next_due()
        elapsed = time.monotonic() - started
        if wait is None or wait > app_settings.DRAIN_WAIT_SECONDS or elapsed + wait > app_settings.TASK_TIME_BUDGET_SECONDS:
            break
        time.sleep(max(0.05, wait))
    if total.handled or flushed:
        logger.info("outbox: %s (idle time flushed: %d)", total.as_dict(), flushed)
    report = {**total.as_dict(), "time_flushed": flushed}
    _record("run", report)
    return report


def _record(event, report=None):
    """Tell the admin's sync health what this worker's settings are and what it did (never fails a run)."""
    try:
        health.record_worker(event, report)
    except Exception:
        logger.exception("could not record the worker's state for the admin's sync health")


def purge_old_rows():
    """Delete sent outbox rows and API idempotency records past their retention (daily schedule)."""
    now = timezone.now()
    deleted = {
        "deliveries": _delete_in_chunks(
            Delivery.objects.filter(
                status__in=[Delivery.State.SENT, Delivery.State.SUPERSEDED],
                updated_at__lt=now - timedelta(days=app_settings.SENT_RETENTION_DAYS),
            )
        ),
        "idempotency_records": _delete_in_chunks(
            IdempotencyRecord.objects.filter(created_at__lt=now - timedelta(days=app_settings.IDEMPOTENCY_RETENTION_DAYS))
        ),
    }
    if any(deleted.values()):
        logger.info("purged %s", deleted)
    return deleted


def _delete_in_chunks(queryset, chunk=5000):
    """Short transactions, however many rows: workers keep claiming meanwhile.

    Nothing refers to these rows, so each chunk is one DELETE (Django's fast delete).
    """
    total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:chunk])
        if not ids:
            return total
        total += queryset.model.objects.filter(pk__in=ids).delete()[0]


def ensure_schedule(**kwargs):
    """Create or update the sweeper and purge schedules (run after every ``migrate``).

    Schedules that name a task by a path it had in an earlier version (ours,
    or a host's own) are pointed at its path now.
    """
    keep_schedule(SWEEP_SCHEDULE_NAME, DELIVER_TASK, every_minutes=app_settings.SWEEP_INTERVAL_MINUTES, renamed=RENAMED)
    keep_schedule(PURGE_SCHEDULE_NAME, PURGE_TASK, daily=True)
