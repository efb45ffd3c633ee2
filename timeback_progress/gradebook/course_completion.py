"""When a student has completed a course: 100% of its masterable units, and since when.

``StudentProgress.course_completed_at`` is a pure function of the student's
completed attempts in the course: the ``completed_at`` at which their mastered
units, added up in completion order, first made ``xp.course_percent`` 100.
None when they are not there (any more), or the course declares no masterable
units. ``gradebook.progress`` keeps it on both of its paths: ``apply`` (the
app's own operations, constant cost) and ``rebuild`` (everything else), and
writes the course's mastery-completion entry to the outbox
(``outbox.completion``) whenever it moves: set, cleared, or moved in time.

See docs/semantics/course-completion.md.
"""

from django.db.models import FilteredRelation, Q

from .. import xp as xp_rules
from ..models import Attempt, Course, Student
from ..outbox import completion as outbox_completion


def completes(mastered, masterable):
    """Whether ``mastered`` units complete a course of ``masterable`` units: its progress reads 100%.

    The vendor writes the completion entry when ``pctComplete == 100``, the
    rounded figure (``handlers/activity/completion.py``); so does the app, so
    the entry and the progress shown never disagree.
    """
    return xp_rules.course_percent(mastered, masterable) == 100


def reached_at(student_id, course_id, masterable, *, using):
    """When the student's completed attempts, in completion order, first complete the course (or None).

    Only attempts that mastered units are read: at most a few per activity.
    """
    done = (
        Attempt.objects.using(using)
        .filter(student_id=student_id, course_id=course_id, completed_at__isnull=False, mastered_units__gt=0)
        .order_by("completed_at")
        .values_list("completed_at", "mastered_units")
    )
    total = 0
    for completed_at, units in done:
        total += units
        if completes(total, masterable):
            return completed_at
    return None


def _cached(instance, name):
    """The related object ``name`` of ``instance`` if it is loaded (no query), else None."""
    field = type(instance)._meta.get_field(name)
    return getattr(instance, name) if field.is_cached(instance) else None


def _course_of(attempt, course_id, using):
    """The attempt's course as loaded with it (``locking.lock_attempt`` and the API load it), else read."""
    activity = _cached(attempt, "activity")
    course = _cached(activity, "course") if activity is not None else None
    return course if course is not None else Course.objects.using(using).get(pk=course_id)


def after_completion(course_row, attempt, *, newest, using):
    """Keep ``course_row.course_completed_at`` (not yet saved) for one completion ``progress.apply`` added.

    ``newest``: no other completed attempt of the student in the course is
    later than this one; then, if the course is complete now and was not, it
    was this attempt that completed it. Without mastered units nothing can
    move: no read at all. Returns the course to announce the change for, or None.
    """
    if not attempt.mastered_units:
        return None
    if course_row.course_completed_at is not None and newest:
        return None  # already complete before this attempt, which comes after: the moment stays
    course = _course_of(attempt, course_row.course_id, using)
    masterable = course.masterable_units
    if not completes(course_row.mastered_units, masterable):
        return None  # only when the course's units were lowered since; a rebuild (recalculation) clears it
    if newest:
        moment = attempt.completed_at
    else:  # completed before (or with) others: where it falls in the order decides
        moment = reached_at(course_row.student_id, course_row.course_id, masterable, using=using)
    if moment == course_row.course_completed_at:
        return None
    course_row.course_completed_at = moment
    return course


def rebuilt(student_id, course_id, mastered, *, using):
    """``(course_completed_at, changed)`` for a course row rebuilt with ``mastered`` units.

    One query for the course's units and the stored moment, and the
    completion-order read only for a student at 100%.
    """
    masterable, before = (
        Course.objects.using(using).filter(pk=course_id)
        .annotate(row=FilteredRelation("progress", condition=Q(progress__student_id=student_id)))
        .values_list("masterable_units", "row__course_completed_at")
        .get()
    )
    moment = reached_at(student_id, course_id, masterable, using=using) if completes(mastered, masterable) else None
    return moment, moment != before


def announce(course, student, *, using):
    """Write the completion entry's rows for the student's new state (``outbox.completion``).

    ``course`` and ``student``: instances, or pks to read (only when the state moved).
    """
    if not isinstance(course, Course):
        course = Course.objects.using(using).get(pk=course)
    if not isinstance(student, Student):
        student = Student.objects.using(using).only("pk", "sourced_id").get(pk=student)
    return outbox_completion.enqueue(course, student)
