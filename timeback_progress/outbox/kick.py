"""The fast path: after a commit that wrote outbox rows, ask a django-q2 worker to deliver them.

Its own module so that the write side and replay can ask for a delivery
without importing the tasks (which import them); the task is named by its
dotted path, as django-q2 stores it.
"""

import logging
import time

from django.db import router, transaction

from ..conf import app_settings
from ..models import Delivery
from . import health

logger = logging.getLogger("timeback_progress.tasks")

DELIVER_TASK = "timeback_progress.outbox.tasks.deliver_due"
KICK_DEBOUNCE_SECONDS = 1.0
_last_kick = [0.0]


def kick():
    """Enqueue one delivery task, unless one was enqueued in the last second by this process.

    Debounced per process: a burst of completions enqueues one task, which
    loops until nothing is due; the sweeper schedule catches anything left.
    """
    if not app_settings.SYNC_ENABLED:
        return None
    now = time.monotonic()
    if now - _last_kick[0] < KICK_DEBOUNCE_SECONDS:
        return None
    _last_kick[0] = now
    from django_q.tasks import async_task  # django-q2 stays optional until something is sent

    try:
        return async_task(DELIVER_TASK, task_name="timeback-deliver", group="timeback")
    except Exception:  # the broker being down must not fail the request; the sweeper delivers later
        logger.warning("could not enqueue the delivery task; the sweeper will deliver", exc_info=True)
        return None


def after_commit():
    """Kick once the transaction that wrote outbox rows commits (at once outside one).

    That transaction is on the database ``DATABASE_ROUTERS`` sends outbox writes to.
    """
    transaction.on_commit(kick, using=router.db_for_write(Delivery))


def at_worker_start(sender=None, proc_name=None, **kwargs):
    """django-q2's ``post_spawn`` (each ``qcluster`` worker process, once started): deliver what is due now.

    Without it the first delivery after ``qcluster`` starts waits for the
    sweeper schedule (django-q2 runs its scheduler about 30 s after start).
    It also records this worker's settings for the admin's sync health. One
    indexed query when nothing is due; each worker of a cluster may enqueue
    one task, and the tasks share the rows through their claims.
    """
    try:
        health.record_worker("start")
        if app_settings.SYNC_ENABLED and Delivery.objects.due().exists():
            kick()
    except Exception:  # a worker must start even if the database is not reachable yet
        logger.warning("could not check the outbox at worker start; the sweeper will deliver", exc_info=True)
