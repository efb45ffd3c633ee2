"""Thin receivers: they hand completed attempts to ``services`` and edited
activities to the outbox."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from . import services
from .models import Activity, Attempt
from .outbox import writing


@receiver(post_save, sender=Attempt, dispatch_uid="timeback_progress.attempt_saved")
def attempt_saved(sender, instance, raw=False, update_fields=None, **kwargs):
    # Fixtures (raw) load derived rows themselves; writes of derived fields only
    # (services' own bookkeeping) change no inputs.
    if raw:
        return
    if not instance.is_completed:
        services.time_saved(instance)  # time of an open attempt reaches Timeback too
        return
    if update_fields is not None and set(update_fields) <= services.DERIVED_ATTEMPT_FIELDS:
        return
    services.apply_attempt(instance)


@receiver(post_save, sender=Activity, dispatch_uid="timeback_progress.activity_saved")
def activity_saved(sender, instance, raw=False, created=False, **kwargs):
    # An edited title or status must reach the line item Timeback already has.
    if not raw and not created:
        writing.enqueue_line_item(instance)
