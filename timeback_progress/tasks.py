"""django-q2 task entry points for the outbox."""

from .conf import app_settings


def kick():
    """Fast path: after a commit that wrote outbox rows, ask a worker to deliver them."""
    if not app_settings.SYNC_ENABLED:
        return None
    from django_q.tasks import async_task

    return async_task("timeback_progress.tasks.deliver_due", task_name="timeback-deliver", group="timeback")


def deliver_due():
    """Deliver every outbox row that is due (also run by the sweeper schedule)."""
    from . import delivery

    return delivery.deliver_due()
