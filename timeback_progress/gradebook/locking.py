"""The row locks every gradebook writer takes, in one order, on one database.

Every writer locks the attempt and its student first (then, for a
correction, the result): two writers of one student wait for each other
instead of each aggregating without the other's attempt, and never deadlock.
The database is the one ``DATABASE_ROUTERS`` names for writing attempts;
every write of an operation goes there, in one transaction.
"""

from django.db import connections, router
from django.db.models import F, FilteredRelation, Q

from ..models import Attempt, Student


def db_for_write(instance=None):
    """The alias the app writes gradebook rows to (``router.db_for_write``)."""
    return router.db_for_write(Attempt, instance=instance)


def lock_attempt(pk, *, using):
    """The attempt ``pk`` with its student, activity and course, locked with its student; or None.

    The student's progress rows come with it (``activity_row``:
    ActivityProgress, ``course_row``: StudentProgress; None before the first
    attempt), which the operation then updates. Call inside
    ``transaction.atomic(using=using)``.

    Lock first, read after: under READ COMMITTED each statement reads a fresh
    snapshot, so the rows read once the lock is granted include what the
    writer we waited for committed. (Read in the locking statement itself,
    rows joined to the locked ones would be as of before the wait.) SQLite
    serialises writers, so there the lock statement is not needed at all.
    """
    if connections[using].features.has_select_for_update:
        locked = (
            Attempt.objects.using(using).select_related("student").select_for_update(of=("self", "student"))
            .filter(pk=pk).only("id", "student__id")
        )
        if not list(locked):
            return None
    rows = list(
        Attempt.objects.using(using)
        .annotate(
            activity_row=FilteredRelation(
                "student__activity_progress", condition=Q(student__activity_progress__activity=F("activity"))
            ),
            course_row=FilteredRelation("student__progress", condition=Q(student__progress__course=F("course"))),
        )
        .select_related("student", "activity__course", "activity_row", "course_row")
        .filter(pk=pk)
    )
    return rows[0] if rows else None


def lock_student(student_id, *, using):
    """Lock one student's row: serialises the writers of that student's figures."""
    list(Student.objects.using(using).select_for_update().filter(pk=student_id).values_list("pk", flat=True))
