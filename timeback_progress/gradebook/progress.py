"""The progress rows: per student and activity, per student and course, per chart day.

Two ways to keep them, one outcome:

* ``apply``: the app's own operations (start, time, complete, record) know
  exactly what they add, and add it to the rows they already touch. The
  cost does not depend on the student's history.
* ``rebuild``: anything else (an attempt saved from the admin, a shell or
  host code; corrections; recalculation) recomputes one student's rows at one
  activity from the attempts, and the course row from the activity rows.

``tests/test_progress.py`` holds the first against the second after mixed
operations. Everything here runs on the database the caller names (the
router's write alias) inside the caller's transaction, under the student lock.
"""

import datetime
from dataclasses import dataclass
from functools import cache
from decimal import Decimal

from django.db import connections
from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from .. import xp as xp_rules
from ..models import ActivityProgress, Attempt, DailyProgress, StudentProgress
from . import course_completion
from .policy import pass_mark

# The sums an ActivityProgress row holds and StudentProgress adds up.
SUMS = (
    "xp_total", "attempts_count", "completed_count", "total_questions", "correct_questions",
    "mastered_units", "active_seconds", "inactive_seconds",
)

# Chart days are calendar days of the project's TIME_ZONE, whoever's request
# (and activated time zone) triggers the write.
CHART_TZ = timezone.get_default_timezone


@dataclass
class Change:
    """What one operation adds to a student's figures at one activity.

    ``completed``: the attempt that was just completed for the first time
    (its derived fields set); its figures are added and it may move the
    student's failed streak and that day's chart row.
    """

    attempts_count: int = 0
    active_seconds: int = 0
    inactive_seconds: int = 0
    started_at: datetime.datetime | None = None
    completed: Attempt | None = None

    def sums(self):
        out = dict.fromkeys(SUMS, 0)
        out.update(attempts_count=self.attempts_count, active_seconds=self.active_seconds,
                   inactive_seconds=self.inactive_seconds)
        if self.completed is not None:
            attempt = self.completed
            out.update(
                completed_count=1,
                xp_total=attempt.xp_earned,
                total_questions=attempt.total_questions or 0,
                correct_questions=attempt.correct_questions or 0,
                mastered_units=attempt.mastered_units,
            )
        return out


def summary_for(student_id, activity_id, *, using):
    """The student's ActivityProgress row at the activity, or None before their first attempt."""
    rows = list(ActivityProgress.objects.using(using).filter(student_id=student_id, activity_id=activity_id))
    return rows[0] if rows else None


def _later(current, moment):
    return moment if current is None or (moment is not None and moment > current) else current


def passed(attempt):
    """Pass (True), miss (False) or neither (None: no questions) for the failed streak."""
    if not attempt.total_questions:
        return None
    return attempt.accuracy is not None and attempt.accuracy >= pass_mark()


def apply(change, *, student_id, activity_id, course_id, summary, using, course_row=False):
    """Add ``change`` to the activity row (``summary``, loaded by the caller, or None),
    the course row (``course_row``: loaded by the caller, None if there is none yet;
    left out, it is read here) and, for a completion, the chart day.

    A completion that brings the student to 100% of the course's masterable
    units sets ``course_completed_at`` and writes the completion entry
    (``course_completion``): no read unless the completion mastered units.
    """
    sums = change.sums()
    if summary is None:
        summary = ActivityProgress(student_id=student_id, activity_id=activity_id, course_id=course_id)
    for name, value in sums.items():
        setattr(summary, name, getattr(summary, name) + value)
    summary.last_started_at = _later(summary.last_started_at, change.started_at)
    attempt = change.completed
    if attempt is not None:
        summary.last_completed_number = max(summary.last_completed_number, attempt.number)
        summary.last_completed_at = _later(summary.last_completed_at, attempt.completed_at)
        if attempt.total_questions and attempt.accuracy is not None:
            best = summary.best_accuracy
            summary.best_accuracy = attempt.accuracy if best is None else max(best, attempt.accuracy)
    summary.save(using=using)

    course = _student_row(student_id, course_id, using) if course_row is False else course_row
    if course is None:
        course = StudentProgress(student_id=student_id, course_id=course_id)
    for name, value in sums.items():
        setattr(course, name, getattr(course, name) + value)
    course.accuracy = xp_rules.percent_correct(course.correct_questions, course.total_questions)
    course.last_activity_at = _later(course.last_activity_at, change.started_at)
    completed_course = None
    if attempt is not None:
        newest = course.last_completed_at is None or attempt.completed_at >= course.last_completed_at
        completed_course = course_completion.after_completion(course, attempt, newest=newest, using=using)
        outcome = passed(attempt)
        if course.last_completed_at is None or attempt.completed_at > course.last_completed_at:
            # The newest completion in the course continues or ends the streak.
            if outcome is not None:
                course.failed_streak = 0 if outcome else course.failed_streak + 1
        else:  # completed before (or with) the newest one: the streak needs the history
            course.failed_streak = failed_streak(student_id, course_id, using=using)
        course.last_completed_at = _later(course.last_completed_at, attempt.completed_at)
        course.last_activity_at = _later(course.last_activity_at, attempt.completed_at)
        _add_to_day(attempt, using)
    course.save(using=using)
    if completed_course is not None:
        student = attempt.student if Attempt.student.is_cached(attempt) else student_id
        course_completion.announce(completed_course, student, using=using)
    return summary


def add_time(attempt, active_seconds, inactive_seconds, *, using):
    """Seconds reported for an open attempt: two UPDATEs, no reads.

    Rows missing (the attempt was created outside the app's operations
    before any rebuild made them) are rebuilt instead.
    """
    filters = {"student_id": attempt.student_id}
    added = {}
    for name, value in (("active_seconds", active_seconds), ("inactive_seconds", inactive_seconds)):
        if value:
            added[name] = F(name) + value
    if not added:
        return
    done = ActivityProgress.objects.using(using).filter(activity_id=attempt.activity_id, **filters).update(**added)
    done += StudentProgress.objects.using(using).filter(course_id=attempt.course_id, **filters).update(
        **added, updated_at=timezone.now()
    )
    if done != 2:
        rebuild(attempt.student_id, attempt.activity_id, attempt.course_id, using=using)


def _student_row(student_id, course_id, using):
    rows = list(StudentProgress.objects.using(using).filter(student_id=student_id, course_id=course_id))
    return rows[0] if rows else StudentProgress(student_id=student_id, course_id=course_id)


def chart_day(moment):
    """(local date, start, end) of the chart day ``moment`` (a datetime) falls on."""
    local = timezone.localtime(moment, CHART_TZ()) if timezone.is_aware(moment) else moment
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.date(), start, start + datetime.timedelta(days=1)


def _add_to_day(attempt, using):
    """Count a newly completed attempt on its chart day: one upsert that adds to the day's row.

    Plain SQL, because the ORM cannot say "insert, or add to the row that is
    there" in one statement (``bulk_create(update_conflicts=True)`` replaces
    values, it cannot add to them); the UPDATE-then-INSERT it would take
    cost twice as much per completion. Table and column names come from the
    model; ``INSERT ... ON CONFLICT DO UPDATE`` runs on SQLite and PostgreSQL,
    the backends check E009 admits. ``rebuild_days`` is its ORM reference
    (tests/test_gradebook.py holds one against the other).
    """
    connection = connections[using]
    ops = connection.ops
    field = DailyProgress._meta.get_field
    xp, correct = field("xp"), field("correct_questions")
    values = {
        "student": attempt.student_id,
        "course": attempt.course_id,
        "day": ops.adapt_datefield_value(chart_day(attempt.completed_at)[0]),
        "xp": ops.adapt_decimalfield_value(attempt.xp_earned, xp.max_digits, xp.decimal_places),
        "completed_count": 1,
        "active_seconds": attempt.active_seconds,
        "inactive_seconds": attempt.inactive_seconds,
        "total_questions": attempt.total_questions or 0,
        "correct_questions": ops.adapt_decimalfield_value(
            attempt.correct_questions or 0, correct.max_digits, correct.decimal_places
        ),
        "mastered_units": attempt.mastered_units,
    }
    with connection.cursor() as cursor:
        cursor.execute(_day_upsert_sql(connection.vendor), [values[name] for name in DAY_COLUMNS])


@cache
def _day_upsert_sql(vendor):
    """The day upsert for one backend (``vendor`` keys the cache; quoting is the backend's)."""
    connection = next(c for c in connections.all(initialized_only=True) if c.vendor == vendor)
    qn = connection.ops.quote_name
    meta = DailyProgress._meta
    table = qn(meta.db_table)
    column = {name: qn(meta.get_field(name).column) for name in DAY_COLUMNS}
    added = ", ".join(f"{column[n]} = {table}.{column[n]} + excluded.{column[n]}" for n in DAY_SUMS)
    return (
        f"INSERT INTO {table} ({', '.join(column.values())}) VALUES ({', '.join(['%s'] * len(column))})"  # noqa: S608
        f" ON CONFLICT ({column['student']}, {column['course']}, {column['day']}) DO UPDATE SET {added}"
    )


# What a day row adds up: everything a time window on the dashboards shows.
DAY_SUMS = (
    "xp", "completed_count", "active_seconds", "inactive_seconds", "total_questions", "correct_questions",
    "mastered_units",
)
DAY_COLUMNS = ("student", "course", "day", *DAY_SUMS)


# -- rebuilding from the attempts ----------------------------------------------------


def failed_streak(student_id, course_id, *, using):
    """Completed attempts with questions below the pass mark since the student's last pass in the course."""
    mark = pass_mark()
    done = Attempt.objects.using(using).filter(student_id=student_id, course_id=course_id, completed_at__isnull=False)
    last_pass = done.filter(accuracy__gte=mark).aggregate(at=Max("completed_at"))["at"]
    misses = done.filter(total_questions__gt=0, accuracy__lt=mark)
    if last_pass is not None:
        misses = misses.filter(completed_at__gt=last_pass)
    return misses.count()


def rebuild(student_id, activity_id, course_id, *, using, completed=True):
    """Recompute the student's row at the activity, their course row and their chart days.

    ``completed=False`` (an open attempt was saved): the failed streak and the
    chart days, which count completed attempts only, are left as they are.
    """
    done = Q(completed_at__isnull=False)
    aggregates = {
        "attempts_count": Count("pk"),
        "completed_count": Count("completed_at"),
        "xp_total": Sum("xp_earned", filter=done),
        "total_questions": Sum("total_questions", filter=done),
        "correct_questions": Sum("correct_questions", filter=done),
        "mastered_units": Sum("mastered_units", filter=done),
        "active_seconds": Sum("active_seconds"),
        "inactive_seconds": Sum("inactive_seconds"),
        "best_accuracy": Max("accuracy", filter=done & Q(total_questions__gt=0)),
        "last_completed_number": Max("number", filter=done),
        "last_started_at": Max("started_at"),
        "last_completed_at": Max("completed_at"),
    }
    # Aliased: an aggregate may not share a name with a field it reads.
    row = Attempt.objects.using(using).filter(student_id=student_id, activity_id=activity_id).aggregate(
        **{f"agg_{name}": aggregate for name, aggregate in aggregates.items()}
    )
    figures = {name: row[f"agg_{name}"] for name in aggregates}
    figures = _cleaned(figures)
    figures["last_completed_number"] = figures["last_completed_number"] or 0
    if figures["best_accuracy"] is not None:
        figures["best_accuracy"] = xp_rules.quantize(figures["best_accuracy"])
    _save_row(ActivityProgress, {"student_id": student_id, "activity_id": activity_id},
              {"course_id": course_id, **figures}, using=using)
    rebuild_course(student_id, course_id, using=using, streak=completed)
    if completed:
        rebuild_days(student_id, course_id, using=using)


def _save_row(model, key, values, *, using):
    """UPDATE the row ``key`` names, or INSERT it (the caller holds the student lock: no race)."""
    if not model.objects.using(using).filter(**key).update(**values, updated_at=timezone.now()):
        model.objects.using(using).create(**key, **values)


def _cleaned(figures):
    """Aggregates as stored: missing sums are 0, decimal sums exact to two places (SQLite sums in floats)."""
    for name in SUMS:
        if name in figures:
            figures[name] = figures[name] or 0
    for name in ("xp_total", "correct_questions"):
        if name in figures:
            figures[name] = xp_rules.quantize(figures[name])
    return figures


def rebuild_course(student_id, course_id, *, using, streak=True):
    """The course row as the sum of the student's activity rows in the course (and the failed streak),
    and whether (since when) the student has completed the course."""
    aggregates = {**{name: Sum(name) for name in SUMS}, "last_started_at": Max("last_started_at"),
                  "last_completed_at": Max("last_completed_at")}
    row = ActivityProgress.objects.using(using).filter(student_id=student_id, course_id=course_id).aggregate(
        **{f"agg_{name}": aggregate for name, aggregate in aggregates.items()}
    )
    figures = {name: row[f"agg_{name}"] for name in aggregates}
    last_started = figures.pop("last_started_at")
    figures = _cleaned(figures)
    figures["accuracy"] = xp_rules.percent_correct(figures["correct_questions"], figures["total_questions"])
    figures["last_activity_at"] = _later(last_started, figures["last_completed_at"])
    if streak:
        figures["failed_streak"] = failed_streak(student_id, course_id, using=using)
    figures["course_completed_at"], moved = course_completion.rebuilt(
        student_id, course_id, figures["mastered_units"], using=using
    )
    _save_row(StudentProgress, {"student_id": student_id, "course_id": course_id}, figures, using=using)
    if moved:  # reached, withdrawn (a correction took mastery back) or moved in time: Timeback hears it
        course_completion.announce(course_id, student_id, using=using)


def rebuild_days(student_id, course_id, *, using):
    """All of a student's chart rows in a course, from the completed attempts."""
    rows = (
        Attempt.objects.using(using)
        .filter(student_id=student_id, course_id=course_id, completed_at__isnull=False)
        .annotate(day=TruncDate("completed_at", tzinfo=CHART_TZ()))
        .values("day")
        .annotate(
            xp=Sum("xp_earned"), completed_count=Count("id"), active_seconds=Sum("active_seconds"),
            inactive_seconds=Sum("inactive_seconds"), total_questions=Sum("total_questions"),
            correct_questions=Sum("correct_questions"), mastered_units=Sum("mastered_units"),
        )
        .order_by()
    )
    days = [
        DailyProgress(
            student_id=student_id, course_id=course_id, day=row["day"], completed_count=row["completed_count"],
            **{name: row[name] or 0 for name in ("active_seconds", "inactive_seconds", "total_questions", "mastered_units")},
            **{name: xp_rules.quantize(row[name] or Decimal(0)) for name in ("xp", "correct_questions")},
        )
        for row in rows
    ]
    # A full rebuild drops days that no longer have attempts.
    DailyProgress.objects.using(using).filter(student_id=student_id, course_id=course_id).exclude(
        day__in=[d.day for d in days]
    ).delete()
    if days:
        DailyProgress.objects.using(using).bulk_create(
            days,
            update_conflicts=True,
            unique_fields=["student", "course", "day"],
            update_fields=list(DAY_SUMS),
        )


def course_row_for(student_id, course_id, *, using):
    """The student's StudentProgress row in the course, or None (what ``apply``'s ``course_row`` takes)."""
    return StudentProgress.objects.using(using).filter(student_id=student_id, course_id=course_id).first()
