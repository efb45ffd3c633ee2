"""Figures of a time window, read from the per-day rows (``DailyProgress``), never from the attempts.

A window is a range of local days of the chart time zone
(``gradebook.progress.CHART_TZ``, the project's ``TIME_ZONE``): the figures
of a window are the sums of the attempts *completed* on those days, as the
gradebook keeps them per student, course and day. An attempt's time counts on
its completion day; an open attempt's time is in the all-time figures only.

Each function here is one query whatever the number of students or attempts:

* ``window_sums``: per-student sums as ``Subquery`` annotations for ``queries.class_rows``;
* ``window_totals``: the class's sums over a window (the cards);
* ``xp_per_day``: the chart (ISO days, and the same days in the locale's format for its axis);
* ``week_comparison``: this week against last week (weeks start on Monday).
"""

import datetime as dt
from decimal import Decimal

from django.db.models import Count, DecimalField, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import formats, timezone

from .. import xp as xp_rules
from ..gradebook.progress import CHART_TZ, DAY_SUMS
from ..models import DailyProgress
from .display import hours

# A DailyProgress sum -> the class_rows field it fills in a window (the same name but XP's).
ROW_FIELDS = {name: "xp_total" if name == "xp" else name for name in DAY_SUMS}
DECIMAL_SUMS = {"xp", "correct_questions"}
DECIMAL = DecimalField(max_digits=14, decimal_places=2)


def today():
    """Today in the chart time zone: the day "this week" and the default chart end on."""
    return timezone.localdate(timezone=CHART_TZ())


def zone_name():
    """The name of the time zone the chart days are counted in ('Europe/Paris', 'UTC')."""
    tz = CHART_TZ()
    return getattr(tz, "key", None) or str(tz)


def in_window(course, start, end):
    """The course's day rows of local days ``start``..``end`` (inclusive)."""
    return DailyProgress.objects.filter(course=course, day__gte=start, day__lte=end)


def window_sums(course, start, end):
    """``class_rows`` annotations: each student's sums of the window's day rows (0 without any).

    One correlated ``Subquery`` per figure, each an index range scan of the
    student's days (the ``(student, course, day)`` unique index): the cost
    grows with the page's students and the window's days, never with attempts.
    """
    days = in_window(course, start, end).filter(student=OuterRef("pk")).values("student").order_by()
    annotations = {}
    for name, field in ROW_FIELDS.items():
        output = DECIMAL if name in DECIMAL_SUMS else IntegerField()
        zero = Value(Decimal(0) if name in DECIMAL_SUMS else 0, output_field=output)
        total = Subquery(days.annotate(s=Sum(name)).values("s"), output_field=output)
        annotations[field] = Coalesce(total, zero, output_field=output)
    return annotations


def cleaned(figures):
    """Sums as shown: 0 for none, decimals to two places (SQLite sums them in floats)."""
    out = {name: value or 0 for name, value in figures.items()}
    for name in DECIMAL_SUMS & set(out):
        out[name] = xp_rules.quantize(Decimal(out[name]))
    return out


def window_totals(course, students, start, end):
    """The class's sums over the window, for the ``students`` subquery (one aggregate query).

    ``active_students``: students with an attempt completed in the window.
    Equal to the sum of the rows ``window_sums`` gives the same students.
    """
    figures = in_window(course, start, end).filter(student__in=students).aggregate(
        **{name: Sum(name) for name in DAY_SUMS}, active_students=Count("student", distinct=True)
    )
    return cleaned(figures)


def xp_per_day(course, start, end, students=None):
    """``{"labels": [...iso days], "xp": [...]}``: the class's XP per chart day, gaps filled with 0.

    ``students``: a subquery of the students the page's filters select (None: every row of the course).
    """
    rows = in_window(course, start, end)
    if students is not None:
        rows = rows.filter(student__in=students)
    totals = dict(rows.values("day").annotate(total=Sum("xp")).order_by("day").values_list("day", "total"))
    if (end - start).days > 366:  # a long range: plot only days with XP
        days = sorted(totals)
    else:
        days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    return {
        "labels": [d.isoformat() for d in days],
        # The axis in the active locale's date format (the ISO labels stay for scripts and tests).
        "display": [formats.date_format(d, "SHORT_DATE_FORMAT") for d in days],
        "xp": [float(totals.get(d) or 0) for d in days],
    }


WEEK_FIGURES = ("xp", "active_seconds", "completed_count", "active_students")


def week_comparison(course, students, on=None):
    """This week (Monday to ``on``, today by default) against the whole of last week, in one query.

    Weeks are weeks of the chart time zone and start on Monday. Returns
    ``{"this": {...}, "last": {...}, "this_start", "last_start", "last_end", "on"}``,
    each figure one of ``WEEK_FIGURES``.
    """
    on = on or today()
    this_start = on - dt.timedelta(days=on.weekday())
    last_start, last_end = this_start - dt.timedelta(days=7), this_start - dt.timedelta(days=1)
    weeks = {"this": Q(day__gte=this_start), "last": Q(day__lte=last_end)}
    aggregates = {}
    for week, condition in weeks.items():
        for name in WEEK_FIGURES[:-1]:
            aggregates[f"{week}_{name}"] = Sum(name, filter=condition)
        aggregates[f"{week}_active_students"] = Count("student", distinct=True, filter=condition)
    row = in_window(course, last_start, on).filter(student__in=students).aggregate(**aggregates)
    result = {week: cleaned({name: row[f"{week}_{name}"] for name in WEEK_FIGURES}) for week in weeks}
    for figures in result.values():
        figures["active"] = hours(figures["active_seconds"])
    return {**result, "this_start": this_start, "last_start": last_start, "last_end": last_end, "on": on}
