"""The row locks every gradebook writer takes, in one order, on one database.

Every writer locks the attempt and its student first (then, for a
correction, the result): two writers of one student wait for each other
instead of each aggregating without the other's attempt, and never deadlock.
The database is the one ``DATABASE_ROUTERS`` names for writing attempts;
every write of an operation goes there, in one transaction.
"""

from django.db import router
from django.db.models import F, FilteredRelation, Q

from ..models import Attempt, Student


def db_for_write(instance=None):
    """The alias the app writes gradebook rows to (``router.db_for_write``)."""
    return router.db_for_write(Attempt, instance=instance)


def lock_attempt(pk, *, using):
    """The attempt ``pk`` with its student, activity and course, locked with its student; or None.

    The student's progress rows come in the same query (``activity_row``:
    ActivityProgress, ``course_row``: StudentProgress; None before the first
    attempt), which the operation updates. Call inside
    ``transaction.atomic(using=using)``. SQLite has no row locks (it
    serialises writers), so the lock clause is simply not emitted there.
    """
    rows = list(
        Attempt.objects.using(using)
        .annotate(
            activity_row=FilteredRelation(
                "student__activity_progress", condition=Q(student__activity_progress__activity=F("activity"))
            ),
            course_row=FilteredRelation("student__progress", condition=Q(student__progress__course=F("course"))),
        )
        .select_related("student", "activity__course", "activity_row", "course_row")
        .select_for_update(of=("self", "student"))
        .filter(pk=pk)
    )
    return rows[0] if rows else None


def lock_student(student_id, *, using):
    """Lock one student's row: serialises the writers of that student's figures."""
    list(Student.objects.using(using).select_for_update().filter(pk=student_id).values_list("pk", flat=True))
