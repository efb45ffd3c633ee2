"""The class queries: one row per enrolled student with their figures, and how
those rows are searched, filtered, sorted and summed.

The dashboards and the API (``api.views.CourseStudentsView``) both list a
course's students through ``class_rows``, ``filter_rows`` and ``sort_rows``,
so the figures, the flags (``flags``), the search and the order are the same
everywhere. The rows read the aggregates the gradebook maintains
(StudentProgress; DailyProgress for a time window, through ``days``) and never
scan attempts, so a page costs the same handful of queries at 10 students or
10,000.
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
from ..models import Attempt, DailyProgress, Enrollment, Student, StudentProgress
from . import days, flags
from .display import duration, hours, percent

STUDENT = Enrollment.Role.STUDENT

# Sort key -> the row fields it orders by. Anything else is refused (a KeyError
# here, a validation error in the forms), so a crafted ``?sort=`` can never
# order by an arbitrary column. Ties fall back to the name, then the pk.
SORTS = {
    "name": ("family_name", "given_name"),
    "xp": ("xp_total",),
    "accuracy": ("accuracy",),
    "mastered": ("mastered_units",),
    "progress": ("course_mastered_units",),  # mastered / the course's fixed masterable units, as of now
    "active": ("active_seconds",),
    "completed": ("completed_count",),
    "last_activity": ("last_activity_at",),
    # Struggling first (descending), then inactive, then the longest run under the pass mark.
    "flags": ("is_struggling", "is_inactive", "failed_streak"),
}
# Earlier names, so saved links keep sorting.
SORTS["attempts"] = SORTS["completed"]
SORTS["stuck"] = SORTS["flags"]
TIE_BREAK = ("family_name", "given_name", "pk")
XP_FIELD = DecimalField(max_digits=12, decimal_places=2)


def enrolled_students(course, section=""):
    """Students actively enrolled in ``course`` (teachers and ended enrolments left out).

    ``section``: a roster class's sourcedId keeps only the students enrolled
    through it (one join: the conditions sit in one ``filter``).
    """
    conditions = {"enrollments__course": course, "enrollments__role": STUDENT, "enrollments__is_active": True}
    if section:
        conditions["enrollments__class_sourced_id"] = section
    return Student.objects.filter(**conditions)


def all_time_sums():
    """``class_rows``' figures without a window: the student's StudentProgress row (zeros before any)."""
    return {
        "xp_total": Coalesce("p__xp_total", Value(Decimal(0)), output_field=XP_FIELD),
        "accuracy": F("p__accuracy"),
        "total_questions": Coalesce("p__total_questions", 0),
        "correct_questions": Coalesce("p__correct_questions", Value(Decimal(0)), output_field=XP_FIELD),
        "mastered_units": Coalesce("p__mastered_units", 0),
        "active_seconds": Coalesce("p__active_seconds", 0),
        "inactive_seconds": Coalesce("p__inactive_seconds", 0),
        "completed_count": Coalesce("p__completed_count", 0),
    }


def window_accuracy():
    """Correct / total questions of the window, a percent (None without questions), for sorting."""
    return Case(
        When(total_questions__gt=0, then=F("correct_questions") * Value(Decimal(100)) / F("total_questions")),
        default=Value(None), output_field=DecimalField(max_digits=7, decimal_places=2),
    )


def class_rows(course, now=None, *, section="", window=None):
    """One row per student actively enrolled in ``course`` (or in its ``section``), with their figures.

    ``window``: ``(first day, last day)`` of the chart time zone; the figures
    (XP, accuracy, questions, units mastered, active and inactive time,
    completions) are then those of the attempts completed in those days, from
    DailyProgress, and every selected student stays listed (zeros when idle).
    Without it they are all time, from StudentProgress. Course progress
    (``course_mastered_units``), the last activity and the flags are as of now
    either way. ``attempts_count`` (attempts started) is all time, None in a window.

    A single query: the StudentProgress row is left-joined (students who have
    not started yet still appear, with zeros) and the flags are computed in
    SQL so they can be sorted and filtered on.
    """
    rows = (
        enrolled_students(course, section)
        .annotate(p=FilteredRelation("progress", condition=Q(progress__course=course)))
        .annotate(
            enrolled_at=F("enrollments__created_at"),
            course_mastered_units=Coalesce("p__mastered_units", 0),
            attempts_count=Value(None, output_field=XP_FIELD) if window else Coalesce("p__attempts_count", 0),
            failed_streak=Coalesce("p__failed_streak", 0),
            last_activity_at=F("p__last_activity_at"),
            course_completed_at=F("p__course_completed_at"),
        )
    )
    if window:
        rows = rows.annotate(**days.window_sums(course, *window)).annotate(accuracy=window_accuracy())
    else:
        rows = rows.annotate(**all_time_sums())
    struggling, inactive = flags.conditions(now)
    flag = {"output_field": BooleanField(), "default": Value(False)}
    rows = rows.annotate(
        is_struggling=Case(When(struggling, then=Value(True)), **flag),
        is_inactive=Case(When(inactive, then=Value(True)), **flag),
    )
    # Either flag: the API's deprecated ``stuck``.
    return rows.annotate(is_stuck=Case(When(Q(is_struggling=True) | Q(is_inactive=True), then=Value(True)), **flag))


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


def window_for(start, end):
    """The ``class_rows`` window of a date filter: None without one; an open end is today, an open start the earliest day."""
    if not start and not end:
        return None
    return clamp_day(start) or EARLIEST_DATE, clamp_day(end) or max(days.today(), clamp_day(start))


def filter_rows(rows, *, search="", show=None, stuck=None, min_xp=None):
    """Narrow ``class_rows``; an argument left at its default filters nothing.

    ``search``: every word appears in the given name, family name, email or
    sourcedId. ``show``: a ``flags.SHOW`` key (struggling, inactive, either).
    ``stuck`` (the API's): True or False keeps only students with either flag
    or only those with neither. ``min_xp``: at least this much XP (in the window, if any).
    """
    for term in (search or "").split():
        rows = rows.filter(
            Q(given_name__icontains=term)
            | Q(family_name__icontains=term)
            | Q(email__icontains=term)
            | Q(sourced_id__icontains=term)
        )
    if show and flags.SHOW[show] is not None:
        rows = rows.filter(flags.SHOW[show])
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


def student_ids(rows):
    """The selected students as a subquery (for the day rows: chart, window totals, weeks)."""
    return rows.order_by().values("pk")


def class_figures(rows, course, window=None):
    """Headline figures over ``rows``: one aggregate query, and one more over the day rows for a window.

    Course progress and the flags are as of now; the other figures are the
    window's (``days.window_totals``: the same sums the rows show) or all time.
    """
    capped = Least("course_mastered_units", Value(course.masterable_units))
    state = {
        "students": Count("pk"),
        "capped": Sum(capped),
        "struggling": Count("pk", filter=Q(is_struggling=True)),
        "inactive_students": Count("pk", filter=Q(is_inactive=True)),
        "flagged": Count("pk", filter=Q(is_stuck=True)),
    }
    if window:
        agg = rows.order_by().aggregate(**state)
        sums = days.window_totals(course, student_ids(rows), *window)
    else:
        # Aliased: an aggregate may not share a name with an annotation it reads.
        agg = rows.order_by().aggregate(
            **state,
            **{f"sum_{name}": Sum(field) for name, field in days.ROW_FIELDS.items()},
            sum_active_students=Count("pk", filter=Q(completed_count__gt=0)),
        )
        sums = days.cleaned({name: agg[f"sum_{name}"] for name in (*days.ROW_FIELDS, "active_students")})
    students = agg["students"]
    xp = sums["xp"]
    return {
        "students": students,
        "xp": xp,
        "average_xp": xp / students if students else Decimal(0),
        "accuracy": percent(sums["correct_questions"], sums["total_questions"]),
        "questions": sums["total_questions"],
        # Mastered / masterable units over the class, each student counted up to 100%.
        "average_progress": xp_rules.course_percent(agg["capped"] or 0, course.masterable_units * students),
        "mastered": sums["mastered_units"],
        "average_mastered": sums["mastered_units"] / students if students else 0,
        "active": hours(sums["active_seconds"]),
        "active_exact": duration(sums["active_seconds"]),
        "active_seconds": sums["active_seconds"],
        "inactive": hours(sums["inactive_seconds"]),
        "inactive_exact": duration(sums["inactive_seconds"]),
        "inactive_seconds": sums["inactive_seconds"],
        "completed": sums["completed_count"],
        "active_students": sums["active_students"],
        "struggling": agg["struggling"],
        "inactive_students": agg["inactive_students"],
        "flagged": agg["flagged"],
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

    Days of the chart time zone. Always within ``limits.EARLIEST_DATE``..``LATEST_DATE``,
    so subtracting the span never runs past year 1.
    """
    today = clamp_day(today or days.today())
    start, end = clamp_day(start), clamp_day(end)
    span = dt.timedelta(days=app_settings.DASHBOARD_CHART_DAYS - 1)
    if start and end:
        return start, end
    if start:
        return start, max(start, today)
    end = end or today
    return (end - span if end - EARLIEST_DATE > span else EARLIEST_DATE), end


def class_xp_per_day(course, start, end, students=None):
    """The class chart (``days.xp_per_day``): ``students`` a subquery of the selected students."""
    return days.xp_per_day(course, start, end, students)


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
