"""The queries of one student's pages: the teacher's drill-down and the student's own page.

Like the class queries, they read the rows the gradebook maintains
(StudentProgress, ActivityProgress, DailyProgress) and one page of attempts,
so a student page costs the same few queries after 10 attempts or 10,000.
"""

import datetime as dt
from decimal import Decimal

from django.db.models import DecimalField, F, FilteredRelation, Q, Sum, Value
from django.db.models.functions import Coalesce

from ..models import ActivityProgress, Attempt, Course, DailyProgress, Enrollment
from .display import percent

XP_FIELD = DecimalField(max_digits=12, decimal_places=2)


def activity_rows(student, course):
    """One student's activities in ``course`` with a completed attempt: their ActivityProgress rows.

    ``questions`` 0 marks an activity without questions (watched, read): the
    page shows it as done, not as 0%.
    """
    rows = (
        ActivityProgress.objects.filter(student=student, course=course, completed_count__gt=0)
        .values(
            "activity_id", "activity__name", "activity__masterable_units", attempts=F("completed_count"),
            questions=F("total_questions"), correct=F("correct_questions"), best=F("best_accuracy"),
            xp=F("xp_total"), mastered=F("mastered_units"), last=F("last_completed_at"),
            active=F("active_seconds"), inactive=F("inactive_seconds"),
        )
        .order_by("activity__name", "activity_id")
    )
    return [{**row, "accuracy": percent(row["correct"], row["questions"])} for row in rows]


def week_start(today, first_day_of_week):
    """The first day of ``today``'s week; ``first_day_of_week`` as Django's formats give it (0 Sunday, 1 Monday)."""
    first = (first_day_of_week - 1) % 7  # as date.weekday() counts: Monday 0 .. Sunday 6
    return today - dt.timedelta(days=(today.weekday() - first) % 7)


def own_courses(student):
    """The courses ``student`` is actively enrolled in, each with the student's figures there (one query).

    Students who have not started a course still see it, with zeros.
    """
    enrolled = Enrollment.objects.filter(student=student, role=Enrollment.Role.STUDENT, is_active=True)
    return list(
        Course.objects.filter(pk__in=enrolled.values("course_id"))
        .annotate(p=FilteredRelation("progress", condition=Q(progress__student=student)))
        .annotate(
            xp=Coalesce("p__xp_total", Value(Decimal(0)), output_field=XP_FIELD),
            accuracy=F("p__accuracy"),
            mastered=Coalesce("p__mastered_units", 0),
            attempts_count=Coalesce("p__attempts_count", 0),
            active=Coalesce("p__active_seconds", 0),
            inactive=Coalesce("p__inactive_seconds", 0),
            last_activity_at=F("p__last_activity_at"),
            completed_at=F("p__course_completed_at"),
        )
        .order_by("-is_active", "title", "pk")
    )


def xp_since(student, course_ids, today, week_from):
    """``{"today": xp, "week": xp}`` of ``student`` in ``course_ids``, from the chart days (one query).

    ``today`` and ``week_from`` are chart days (``gradebook.progress.chart_day``):
    the days the gradebook files each completion under.
    """
    sums = DailyProgress.objects.filter(student=student, course_id__in=course_ids, day__gte=min(today, week_from)).aggregate(
        today=Sum("xp", filter=Q(day=today)),
        week=Sum("xp", filter=Q(day__gte=week_from, day__lte=today)),
    )
    return {key: Decimal(value or 0) for key, value in sums.items()}


def own_attempts(student, course_ids):
    """The student's attempts in ``course_ids``, newest first, with their state, activity and course."""
    return (
        Attempt.objects.filter(student=student, course_id__in=course_ids)
        .with_state()
        .select_related("activity", "course")
        .order_by("-started_at", "-number", "-pk")
    )
