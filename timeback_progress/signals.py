"""Thin receivers, and the domain signals host projects connect to.

The app's own operations (``gradebook.attempts``, corrections) derive and
sync what they write themselves. These receivers cover the writes the app
did not make: an ``Attempt`` saved from the admin, a shell or host code is
derived and synced the same way, a deleted one has its student's figures
rebuilt; an edited activity re-sends its line item; a student who now has an
email gets their held events released. (``QuerySet.update`` and
``bulk_create`` send no per-row signal: after such bulk changes to attempts,
call ``gradebook.derivation.recalculate_attempts``.)
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .gradebook import derivation
from .gradebook.signals import attempt_completed, result_corrected, unit_mastered, xp_awarded
from .models import Activity, Attempt, Student
from .outbox import held, writing

__all__ = ["attempt_completed", "result_corrected", "unit_mastered", "xp_awarded"]


@receiver(post_save, sender=Attempt, dispatch_uid="timeback_progress.attempt_saved")
def attempt_saved(sender, instance, raw=False, update_fields=None, using=None, **kwargs):
    # Fixtures (raw) load derived rows themselves; a save of derived fields only changes no input.
    if raw or (update_fields is not None and set(update_fields) <= derivation.DERIVED_ATTEMPT_FIELDS):
        return
    derivation.on_attempt_saved(instance, using=using)


@receiver(post_delete, sender=Attempt, dispatch_uid="timeback_progress.attempt_deleted")
def attempt_deleted(sender, instance, using=None, **kwargs):
    # The chain and the progress rows no longer hold what they were computed from.
    derivation.on_attempt_deleted(instance, using=using)


@receiver(post_save, sender=Activity, dispatch_uid="timeback_progress.activity_saved")
def activity_saved(sender, instance, raw=False, created=False, **kwargs):
    # An edited title or status must reach the line item Timeback already has.
    if not raw and not created:
        writing.enqueue_line_item(instance)


@receiver(post_save, sender=Student, dispatch_uid="timeback_progress.student_saved")
def student_saved(sender, instance, raw=False, created=False, update_fields=None, **kwargs):
    # Events held for want of an email go out once the student has one (a new student holds none).
    if raw or created or (update_fields is not None and "email" not in update_fields):
        return
    held.release_student(instance)
