"""Where the class struggles: one row per activity of a course, summed over its students.

Two queries whatever the class size or the number of attempts: the course's
activities, and one aggregate over the ``ActivityProgress`` rows of the
students enrolled (in the section), grouped by activity.

Definitions (docs/dashboards.md, "Where the class struggles"):

* attempted: students who started at least one attempt; completed: students
  with at least one completed attempt;
* class accuracy: the class's correct answers / its questions, over every
  completed attempt (None for a passive activity: no questions);
* mastery rate: students who mastered the activity (``mastered_units >=
  masterable_units > 0``) / students who attempted it;
* attempts to master: the average ``completed_count`` of the students who
  mastered it. An approximation: attempts completed *after* mastering count
  too (the exact number needs the attempts, which pages never scan), so it is
  an upper bound, exact for students who stopped once they mastered it;
* never passed: students who completed it with questions and whose best
  accuracy is under the XP policy's pass mark;
* flagged: more than ``DASHBOARD_STRUGGLING_ACTIVITY_PERCENT`` percent of the
  students who completed it with questions never passed it: most students fail it.
"""

from decimal import Decimal

from django.db.models import Count, F, Q, Sum

from ..conf import app_settings
from ..gradebook.policy import pass_mark
from ..models import Activity, ActivityProgress
from .display import percent
from .queries import enrolled_students

# Sort key -> the row value it orders by; anything else is refused by the form.
SORTS = ("order", "name", "attempted", "completed", "never_passed", "accuracy", "mastery", "to_master", "time")


def course_activities(course):
    """The course's active activities in the course's order (by name: Activity has no order field)."""
    return Activity.objects.filter(course=course, is_active=True).order_by("name", "pk")


def sums(course, section=""):
    """``{activity_id: {...sums}}`` over the enrolled students' progress rows (one query)."""
    students = enrolled_students(course, section).values("pk")
    masterable = F("activity__masterable_units")
    mastered = Q(completed_count__gt=0, activity__masterable_units__gt=0, mastered_units__gte=masterable)
    with_questions = Q(completed_count__gt=0, total_questions__gt=0)
    rows = (
        ActivityProgress.objects.filter(course=course, student__in=students)
        .values("activity_id")
        .annotate(
            attempted=Count("pk", filter=Q(attempts_count__gt=0)),
            completed=Count("pk", filter=Q(completed_count__gt=0)),
            completed_with_questions=Count("pk", filter=with_questions),
            never_passed=Count("pk", filter=with_questions & Q(best_accuracy__lt=pass_mark())),
            mastered=Count("pk", filter=mastered),
            mastered_attempts=Sum("completed_count", filter=mastered),
            questions=Sum("total_questions"),
            correct=Sum("correct_questions"),
            active=Sum("active_seconds"),
        )
        .order_by()
    )
    return {row.pop("activity_id"): row for row in rows}


def activity_rows(course, section=""):
    """One dict per active activity of ``course``, in the course's order, with its class figures."""
    found = sums(course, section)
    return [figures(activity, found.get(activity.pk, {})) for activity in course_activities(course)]


def figures(activity, agg):
    """The row of one activity from its ``sums`` (``{}``: nobody started it)."""
    completed = agg.get("completed") or 0
    questions = agg.get("questions") or 0
    mastered = agg.get("mastered") or 0
    attempted = agg.get("attempted") or 0
    never_passed = agg.get("never_passed") or 0
    failing_share = percent(never_passed, agg.get("completed_with_questions"))
    return {
        "activity": activity,
        "attempted": attempted,
        "completed": completed,
        "passive": bool(completed) and not questions,
        "never_passed": never_passed,
        "failing_share": failing_share,
        "accuracy": percent(agg.get("correct"), questions),
        "mastered": mastered,
        "mastery": percent(mastered, attempted) if activity.masterable_units else None,
        "to_master": (Decimal(agg["mastered_attempts"]) / mastered).quantize(Decimal("0.1")) if mastered else None,
        "time": agg.get("active") or 0,
        "flagged": struggling(failing_share),
    }


def pass_mark_text():
    """The policy's pass mark without trailing zeros: '80', '82.5'."""
    return format(pass_mark().normalize(), "f")


def struggling(failing_share):
    """Whether most of the class fails an activity: the share of students who never passed it is over the setting."""
    return failing_share is not None and failing_share > app_settings.DASHBOARD_STRUGGLING_ACTIVITY_PERCENT


def sort_rows(rows, sort="order"):
    """``rows`` ordered by a ``SORTS`` key (``-`` for descending); missing values last both ways, ties in course order."""
    key = sort.removeprefix("-")
    if key == "order":
        return list(reversed(rows)) if sort.startswith("-") else list(rows)
    value = (lambda r: (r["activity"].name.casefold(), r["activity"].pk)) if key == "name" else (lambda r: r[key])
    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    return sorted(present, key=value, reverse=sort.startswith("-")) + missing
