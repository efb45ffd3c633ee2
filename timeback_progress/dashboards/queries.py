"""The class queries: one row per enrolled student with their figures, and how
those rows are searched, filtered, sorted and summed.

The dashboards and the API (``api.views.CourseStudentsView``) both list a
course's students through ``class_rows``, ``filter_rows`` and ``sort_rows``,
so the figures, the "stuck" rule, the search and the order are the same
everywhere. The rows read the aggregates the gradebook maintains
(StudentProgress, DailyProgress) and never scan attempts, so a page costs the
same handful of queries at 10 students or 10,000.
"""

import datetime as dt
from decimal import Decimal

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DecimalField,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from .. import xp as xp_rules
from ..conf import app_settings
from ..limits import EARLIEST_DATE, LATEST_DATE
from ..models import ActivityProgress, Attempt, DailyProgress, Enrollment, Student, StudentProgress
from . import stuck
from .display import duration, percent

STUDENT = Enrollment.Role.STUDENT

# Sort key -> the row fields it orders by. Anything else is refused (a KeyError
# here, a validation error in the forms), so a crafted ``?sort=`` can never
# order by an arbitrary column. Ties fall back to the name, then the pk.
SORTS = {
    "name": ("family_name", "given_name"),
    "xp": ("xp_total",),
    "accuracy": ("accuracy",),
    "mastered": ("mastered_units",),
    "progress": ("mastered_units",),  # mastered / the course's fixed masterable units
    "active": ("active_seconds",),
    "attempts": ("attempts_count",),
    "last_activity": ("last_activity_at",),
    "stuck": ("is_stuck", "failed_streak"),
}
TIE_BREAK = ("family_name", "given_name", "pk")


def enrolled_students(course, section=""):
    """Students actively enrolled in ``course`` (teachers and ended enrolments left out).

    ``section``: a roster class's sourcedId keeps only the students enrolled
    through it (one join: the conditions sit in one ``filter``).
    """
    conditions = {"enrollments__course": course, "enrollments__role": STUDENT, "enrollments__is_active": True}
    if section:
        conditions["enrollments__class_sourced_id"] = section
    return Student.objects.filter(**conditions)


def class_rows(course, now=None):
    """One row per student actively enrolled in ``course``, with their aggregates.

    A single query: the StudentProgress row is left-joined (students who have
    not started yet still appear, with zeros) and ``is_stuck`` is computed in SQL
    so it can be sorted and filtered on.
    """
    xp_field = DecimalField(max_digits=12, decimal_places=2)
    return (
        enrolled_students(course)
        .annotate(p=FilteredRelation("progress", condition=Q(progress__course=course)))
        .annotate(
            enrolled_at=F("enrollments__created_at"),
            xp_total=Coalesce("p__xp_total", Value(Decimal(0)), output_field=xp_field),
            accuracy=F("p__accuracy"),
            mastered_units=Coalesce("p__mastered_units", 0),
            active_seconds=Coalesce("p__active_seconds", 0),
            inactive_seconds=Coalesce("p__inactive_seconds", 0),
            attempts_count=Coalesce("p__attempts_count", 0),
            completed_count=Coalesce("p__completed_count", 0),
            failed_streak=Coalesce("p__failed_streak", 0),
            last_activity_at=F("p__last_activity_at"),
        )
        .annotate(
            is_stuck=Case(When(stuck.condition(now), then=Value(True)), default=Value(False), output_field=BooleanField())
        )
    )


def clamp_day(day):
    """``day`` within ``limits.EARLIEST_DATE``..``LATEST_DATE`` (None stays None).

    The forms refuse dates outside; this keeps the day arithmetic of any other
    caller (a day added, a time zone applied) away from year 1 and 9999.
    """
    return None if day is None else min(max(day, EARLIEST_DATE), LATEST_DATE)


def day_bounds(start, end):
    """Aware datetimes covering local days ``start``..``end`` (either may be None)."""
    tz = timezone.get_current_timezone()
    start, end = clamp_day(start), clamp_day(end)
    low = timezone.make_aware(dt.datetime.combine(start, dt.time.min), tz) if start else None
    high = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min), tz) if end else None
    return low, high


def filter_rows(rows, *, search="", start=None, end=None, stuck=None, min_xp=None):
    """Narrow ``class_rows``; an argument left at its default filters nothing.

    ``search``: every word appears in the given name, family name, email or
    sourcedId. ``start``/``end``: local days (inclusive) the last activity falls
    in. ``stuck``: True or False keeps only flagged or only unflagged students.
    ``min_xp``: at least this much XP in the course.
    """
    for term in (search or "").split():
        rows = rows.filter(
            Q(given_name__icontains=term)
            | Q(family_name__icontains=term)
            | Q(email__icontains=term)
            | Q(sourced_id__icontains=term)
        )
    low, high = day_bounds(start, end)
    if low:
        rows = rows.filter(last_activity_at__gte=low)
    if high:
        rows = rows.filter(last_activity_at__lt=high)
    if stuck is not None:
        rows = rows.filter(is_stuck=stuck)
    if min_xp is not None:
        rows = rows.filter(xp_total__gte=min_xp)
    return rows


def sort_rows(rows, sort):
    """Order rows by a ``SORTS`` key, ``-`` prefixed for descending (None: by name).

    Missing values (no accuracy or activity yet) go last in both directions.
    """
    key = (sort or "name").lstrip("-")
    descending = (sort or "").startswith("-")
    order = [F(f).desc(nulls_last=True) if descending else F(f).asc(nulls_last=True) for f in SORTS[key]]
    return rows.order_by(*order, *TIE_BREAK)


def class_figures(rows, course):
    """Headline figures over ``rows`` (one aggregate query)."""
    agg = rows.order_by().aggregate(
        students=Count("pk"),
        xp=Sum("xp_total"),
        questions=Sum("p__total_questions"),
        correct=Sum("p__correct_questions"),
        mastered=Sum("mastered_units"),
        capped=Sum(Least("mastered_units", Value(course.masterable_units))),
        active=Sum("active_seconds"),
        inactive=Sum("inactive_seconds"),
        attempts=Sum("attempts_count"),
        stuck=Count("pk", filter=Q(is_stuck=True)),
    )
    students = agg["students"]
    xp = Decimal(agg["xp"] or 0)
    average_xp = xp / students if students else Decimal(0)
    return {
        "students": students,
        "xp": xp,
        "average_xp": average_xp,
        "accuracy": percent(agg["correct"], agg["questions"]),
        # Mastered / masterable units over the class, each student counted up to 100%.
        "average_progress": xp_rules.course_percent(agg["capped"] or 0, course.masterable_units * students),
        "mastered": agg["mastered"] or 0,
        "average_mastered": (agg["mastered"] or 0) / students if students else 0,
        "active": duration(agg["active"] or 0),
        "attempts": agg["attempts"] or 0,
        "stuck": agg["stuck"],
    }


def course_rows(courses, *, search="", subject=""):
    """``courses`` matching the course list's filters, with their student count and class XP."""
    if search:
        courses = courses.filter(title__icontains=search)
    if subject:
        courses = courses.filter(subject=subject)
    class_xp = (
        StudentProgress.objects.filter(course=OuterRef("pk")).values("course").annotate(s=Sum("xp_total")).values("s")
    )
    return courses.annotate(
        students=Count("enrollments", filter=Q(enrollments__role=STUDENT, enrollments__is_active=True)),
        class_xp=Subquery(class_xp),
    ).order_by("-is_active", "title", "pk")


def activity_rows(student, course):
    """One student's activities in ``course`` with a completed attempt: their ActivityProgress rows.

    Read from the progress rows the gradebook keeps, so the student page costs
    the same with 10 attempts or 10,000.
    """
    rows = (
        ActivityProgress.objects.filter(student=student, course=course, completed_count__gt=0)
        .values(
            "activity_id", "activity__name", "activity__masterable_units", attempts=F("completed_count"),
            questions=F("total_questions"), correct=F("correct_questions"), best=F("best_accuracy"),
            xp=F("xp_total"), mastered=F("mastered_units"), last=F("last_completed_at"),
        )
        .order_by("activity__name", "activity_id")
    )
    return [{**row, "accuracy": percent(row["correct"], row["questions"])} for row in rows]


def student_attempts(student, course):
    """A student's attempts in ``course``, newest first."""
    return (
        Attempt.objects.filter(student=student, course=course)
        .with_state()
        .select_related("activity")
        .order_by("-started_at", "-number", "-pk")
    )


# -- XP per day -------------------------------------------------------------------


def chart_range(start, end, today=None):
    """The days the class chart covers: the chosen range, else the last N days.

    Always within ``limits.EARLIEST_DATE``..``LATEST_DATE``, so subtracting the
    span never runs past year 1.
    """
    today = clamp_day(today or timezone.localdate())
    start, end = clamp_day(start), clamp_day(end)
    span = dt.timedelta(days=app_settings.DASHBOARD_CHART_DAYS - 1)
    if start and end:
        return start, end
    if start:
        return start, max(start, today)
    end = end or today
    return (end - span if end - EARLIEST_DATE > span else EARLIEST_DATE), end


def class_xp_per_day(course, start, end):
    """``{"labels": [...iso days], "xp": [...]}`` for the class, gaps filled with 0."""
    totals = dict(
        DailyProgress.objects.filter(course=course, day__gte=start, day__lte=end)
        .values("day")
        .annotate(total=Sum("xp"))
        .order_by("day")
        .values_list("day", "total")
    )
    if (end - start).days > 366:  # a long range: plot only days with XP
        days = sorted(totals)
    else:
        days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    return {"labels": [d.isoformat() for d in days], "xp": [float(totals.get(d) or 0) for d in days]}


def student_xp_per_day(student, course):
    """Chart data for one student: every day from the first to the last active
    one (gaps as 0, up to a year; longer spans plot active days only)."""
    totals = dict(
        DailyProgress.objects.filter(student=student, course=course).order_by("day").values_list("day", "xp")
    )
    if not totals:
        return {"labels": [], "xp": [], "cumulative": []}
    first, last = min(totals), max(totals)
    if (last - first).days > 366:
        days = sorted(totals)
    else:
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    running, xp, cumulative = Decimal(0), [], []
    for day in days:
        running += totals.get(day) or 0
        xp.append(float(totals.get(day) or 0))
        cumulative.append(float(running))
    return {"labels": [d.isoformat() for d in days], "xp": xp, "cumulative": cumulative}
