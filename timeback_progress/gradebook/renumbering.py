"""Re-counting attempts the way Timeback does, for data written before it did.

Before 0.4, an attempt's number was taken when it started, so an abandoned
start cost the next completion its first-attempt multiplier. Migration 0004
keeps the numbers Timeback was sent; ``renumber`` recounts each chain
(completed attempts, in completion order) and re-derives the chains that are
off, so every XP or mastery change goes to Timeback as a correction event
through the outbox.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from itertools import groupby

from django.db import transaction

from ..models import Attempt
from .derivation import rederive_chain
from .locking import lock_student


@dataclass
class Summary:
    chains_checked: int = 0
    chains_renumbered: int = 0
    attempts_renumbered: int = 0
    xp_change: Decimal = Decimal(0)
    mastered_change: int = 0
    corrections: int = 0
    changed: list = field(default_factory=list)  # (student sourcedId, activity id, run, old attempt, new attempt)


def chains_off(attempts):
    """``(student_id, activity_id, course_id)`` of each chain whose stored numbers differ from the recount.

    Streams the completed attempts in chain order: memory stays flat however many there are.
    """
    rows = (
        attempts.filter(completed_at__isnull=False)
        .order_by("student_id", "activity_id", "completed_at", "number")
        .values_list("student_id", "activity_id", "course_id", "attempt_number")
        .iterator(chunk_size=2000)
    )
    for key, chain in groupby(rows, key=lambda row: row[:3]):
        yield key, any(stored != place for place, (*_, stored) in enumerate(chain, start=1))


def renumber(attempts, *, dry_run=False):
    """Recount the chains of ``attempts`` (a QuerySet); with ``dry_run``, report and roll back.

    Each chain is re-derived in its own transaction under the student lock,
    as every writer does, so the command can run while students work.
    """
    using = attempts.db
    summary = Summary()
    for (student_id, activity_id, course_id), off in chains_off(attempts):
        summary.chains_checked += 1
        if not off:
            continue
        with transaction.atomic(using=using):
            lock_student(student_id, using=using)
            before = {
                a.pk: a for a in Attempt.objects.using(using).select_related("student", "activity")
                .filter(student_id=student_id, activity_id=activity_id, completed_at__isnull=False)
            }
            changed = rederive_chain(student_id, activity_id, course_id, using=using)
            _count(summary, before, changed)
            if dry_run:
                transaction.set_rollback(True, using=using)
    return summary


def _count(summary, before, changed):
    renumbered = False
    for pk, after in changed.items():
        old = before[pk]
        xp, mastered = after.xp_earned - old.xp_earned, after.mastered_units - old.mastered_units
        summary.xp_change += xp
        summary.mastered_change += mastered
        summary.corrections += bool(xp or mastered)
        if old.attempt_number != after.attempt_number:
            renumbered = True
            summary.attempts_renumbered += 1
            summary.changed.append(
                (old.student.sourced_id, old.activity.activity_id, old.number, old.attempt_number, after.attempt_number)
            )
    summary.chains_renumbered += renumbered
