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

    Lock first, read after, in the order every writer takes: the student, then
    the attempt. Under READ COMMITTED each statement reads a fresh snapshot,
    so the rows read once the student's lock is granted include what the
    writer we waited for committed (read in the locking statement itself,
    rows joined to the locked ones would be as of before the wait). The
    attempt's own lock comes with the read: the same order for a writer that
    then re-evaluates (updates) the student's other attempts at the activity
    and for a correction of one of them, so they never deadlock. SQLite
    serialises writers: there no lock is emitted at all.
    """
    lockable = connections[using].features.has_select_for_update
    if lockable:
        student = Student.objects.using(using).select_for_update(of=("self",)).filter(attempts__pk=pk)
        if not list(student.values_list("pk", flat=True)):
            return None
    rows = Attempt.objects.using(using)
    if lockable:
        rows = rows.select_for_update(of=("self",))
    rows = list(
        rows.annotate(
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


def lock_students(student_ids, *, using):
    """Lock several students, one by one in ascending pk order (the order every batch takes)."""
    for student_id in sorted(set(student_ids)):
        lock_student(student_id, using=using)
