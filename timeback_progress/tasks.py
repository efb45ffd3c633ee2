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
PURGE_SCHEDULE_NAME = "timeback_progress: purge old outbox rows"
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
    """Deliver every outbox row that is due (run by kick() and the sweeper schedule).

    Keeps draining while a retry falls due within ``DRAIN_WAIT_SECONDS``, for
    at most ``TASK_TIME_BUDGET_SECONDS``: short backoffs are served here, long
    ones by the sweeper schedule.
    """
    from . import delivery

    started = time.monotonic()
    try:
        flushed = delivery.flush_idle_time()  # time of attempts left open reaches Timeback too
    except Exception:  # the outbox must still drain; the next run flushes
        logger.exception("could not flush the time of idle attempts")
        flushed = 0
    total = delivery.Summary()
    while True:
        total.add(delivery.deliver_due())
        if not app_settings.SYNC_ENABLED:
            break  # rows stay pending: waiting for them to fall due would spin for the whole budget
        wait = delivery.seconds_until_next_due()
        elapsed = time.monotonic() - started
        if wait is None or wait > app_settings.DRAIN_WAIT_SECONDS or elapsed + wait > app_settings.TASK_TIME_BUDGET_SECONDS:
            break
        time.sleep(max(0.05, wait))
    if total.handled or flushed:
        logger.info("outbox: %s (idle time flushed: %d)", total.as_dict(), flushed)
    return {**total.as_dict(), "time_flushed": flushed}


def purge_old_rows():
    """Delete sent outbox rows and API idempotency records past their retention (daily schedule)."""
    from datetime import timedelta

    from django.utils import timezone

    from .models import Delivery, IdempotencyRecord

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


def _delete_in_chunks(rows, chunk=5000):
    """Short transactions, however many rows: workers keep claiming meanwhile."""
    total = 0
    while True:
        ids = list(rows.values_list("pk", flat=True)[:chunk])
        if not ids:
            return total
        total += rows.model.objects.filter(pk__in=ids)._raw_delete(rows.db)


def ensure_schedule(**kwargs):
    """Create or update the sweeper and purge schedules (connected to post_migrate)."""
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
    Schedule.objects.update_or_create(
        name=PURGE_SCHEDULE_NAME,
        defaults={"func": "timeback_progress.tasks.purge_old_rows", "schedule_type": Schedule.DAILY, "repeats": -1},
    )
