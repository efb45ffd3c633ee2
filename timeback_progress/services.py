"""Domain operations: start, time and complete attempts, derive results and
progress, correct results. Everything that changes the gradebook goes through
here so the rules, the aggregates and the outbox never disagree.
"""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from . import sql
from . import xp as xp_rules
from .gradebook.policy import get_policy
from .timeback import caliper
from .models import Attempt, DailyProgress, Result, ResultCorrection, ScoreStatus, Student, StudentProgress

TIME_REPORT_FIELDS = Attempt.TIME_REPORT_FIELDS
# Attempt fields services write themselves; saving only these re-derives nothing.
DERIVED = Attempt.DERIVED_FIELDS
DERIVED_ATTEMPT_FIELDS = frozenset({*DERIVED, "updated_at"})
# What a time report writes.
TIME_FIELDS = ("active_seconds", "inactive_seconds", "updated_at")
# What completing writes (the receiver derives the rest).
COMPLETION_FIELDS = ("total_questions", "correct_questions", "active_seconds", "inactive_seconds", "completed_at", "updated_at")
MAX_SECONDS_PER_CALL = caliper.MAX_SECONDS_PER_METRIC  # one call never needs more than one event


class AttemptError(Exception):
    """A domain rule refused the operation; ``code`` says which."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def evaluate(attempt, policy=None):
    """Run the XP policy on one completed attempt's inputs."""
    policy = policy or get_policy()
    return policy(
        attempt.activity.expected_xp,
        attempt.total_questions or 0,
        attempt.correct_questions or 0,
        attempt.number,
        passive=not attempt.activity.is_graded,
    )


# -- attempts -----------------------------------------------------------------


def start_attempt(student, activity, *, started_at=None, _recompute=True):
    """Create the next attempt of ``student`` at ``activity`` (numbers never collide)."""
    if not student.is_active or not activity.is_active:
        raise AttemptError("Inactive students and activities cannot start attempts.", "inactive")
    if _recompute:
        with transaction.atomic(savepoint=False):
            lock_student(student.pk)
            attempt = _start(student, activity, started_at)
            recompute_progress(student.pk, activity.course_id, daily=False)
        return attempt
    return _start(student, activity, started_at)


def lock_student(student_id):
    """Serialise the writers of one student's derived figures (progress, mastery).

    Two completions of the same student must not each aggregate without
    seeing the other's attempt: the second would overwrite the first's totals.
    The row lock makes the later transaction wait, and then (READ COMMITTED)
    see the earlier one's rows. SQLite serialises writers anyway.
    """
    list(Student.objects.select_for_update().filter(pk=student_id).values_list("pk", flat=True))


def _start(student, activity, started_at):
    for _try in range(5):
        try:
            with transaction.atomic():
                attempt = Attempt(student=student, activity=activity, course_id=activity.course_id)
                attempt.started_at = started_at or timezone.now()
                attempt.save()
                break
        except IntegrityError:
            # A concurrent start took the same number; the next save picks the next one.
            continue
    else:  # pragma: no cover - needs five concurrent losers in a row
        raise AttemptError("Could not allocate an attempt number, try again.", "conflict")
    return attempt


def add_time(attempt, *, active_seconds=0, inactive_seconds=0, locked=False):
    """Add seconds to an open attempt. Additive, so it is safe to call every few seconds.

    ``locked=True``: the caller loaded ``attempt`` with ``sql.attempt_for_write(lock=True)``
    in its open transaction (the API does, to check permissions in the same query).
    """
    _check_seconds(active_seconds, inactive_seconds)
    # No savepoint inside a caller's transaction (two queries fewer); a refusal
    # leaves the block normally, having written nothing, and is raised outside.
    with transaction.atomic(savepoint=False):
        if locked:
            locked = attempt
        else:
            locked = sql.attempt_for_write(attempt.pk, lock=True)  # the locks every writer takes, in order
        if locked is None:
            raise Attempt.DoesNotExist("Attempt matching query does not exist.")
        if not locked.is_completed:
            _add_time(attempt, locked, active_seconds, inactive_seconds)
    if locked.is_completed:
        raise AttemptError("This attempt is already completed.", "completed")
    return attempt


def _add_time(attempt, locked, active_seconds, inactive_seconds):
    # Under the row lock ``locked`` holds the stored seconds: add in Python, write once.
    locked.active_seconds += active_seconds
    locked.inactive_seconds += inactive_seconds
    sql.update_row(locked, TIME_FIELDS)  # stamps updated_at
    for name in (*TIME_FIELDS, *TIME_REPORT_FIELDS):
        setattr(attempt, name, getattr(locked, name))
    recompute_progress(attempt.student_id, attempt.course_id, daily=False)  # charts count completed attempts only
    from .outbox import writing

    writing.enqueue_time(attempt)


def time_saved(attempt):
    """An open attempt was saved with seconds not yet announced (admin, host code).

    Announced like the API's time calls: once a window is full; the sweeper
    flushes the rest if no more time comes.
    """
    if not attempt.active_seconds > attempt.reported_active_seconds and not attempt.inactive_seconds > attempt.reported_inactive_seconds:
        return
    from .outbox import writing

    with transaction.atomic(savepoint=False):
        locked = sql.attempt_for_write(attempt.pk, lock=True)  # the locks every writer takes, in order
        if locked is not None and not locked.is_completed and writing.enqueue_time(locked):
            for name in TIME_REPORT_FIELDS:
                setattr(attempt, name, getattr(locked, name))


def complete_attempt(
    attempt, *, total_questions, correct_questions, active_seconds=0, inactive_seconds=0, completed_at=None,
    locked=False,
):
    """Complete an open attempt; the post_save receiver derives XP, result and progress.

    ``locked=True``: the caller loaded ``attempt`` with ``select_for_update``
    of the attempt and its student (see ``lock_student``) in its open
    transaction (the API does, to check permissions in the same query).
    """
    _check_questions(total_questions, correct_questions)
    _check_seconds(active_seconds, inactive_seconds)
    with transaction.atomic(savepoint=False):
        if not locked:
            attempt = (
                Attempt.objects.select_for_update(of=("self", "student"))
                .select_related("activity__course", "student")
                .get(pk=attempt.pk)
            )
        locked = attempt
        refused = locked.is_completed  # raised outside the block: see add_time
        if not refused:
            _complete(locked, total_questions, correct_questions, active_seconds, inactive_seconds, completed_at)
    if refused:
        raise AttemptError("This attempt is already completed; start a new attempt instead.", "completed")
    return locked


def _complete(locked, total_questions, correct_questions, active_seconds, inactive_seconds, completed_at):
    locked.total_questions = total_questions
    locked.correct_questions = xp_rules.quantize(correct_questions)  # as stored: XP is computed on it
    locked.active_seconds += active_seconds
    locked.inactive_seconds += inactive_seconds
    locked.completed_at = completed_at or timezone.now()
    locked._first_completion = True  # tells apply_attempt no result exists yet
    locked._student_locked = True
    sql.save_fields(locked, COMPLETION_FIELDS)  # save(update_fields=...): post_save derives XP


def record_attempt(student, activity, *, started_at=None, **completion):
    """Create and complete an attempt in one step (server-side apps, backfills)."""
    _check_questions(completion.get("total_questions"), completion.get("correct_questions"))
    _check_seconds(completion.get("active_seconds", 0), completion.get("inactive_seconds", 0))
    with transaction.atomic(savepoint=False):
        attempt = start_attempt(student, activity, started_at=started_at, _recompute=False)
        return complete_attempt(attempt, **completion)


def _check_questions(total, correct):
    if total is None or correct is None:
        raise AttemptError("Both totalQuestions and correctQuestions are required.", "invalid")
    correct = xp_rules.to_decimal(correct)
    if not correct.is_finite() or total < 0 or correct < 0:
        raise AttemptError("Question counts must be finite and not negative.", "invalid")
    if correct > total:
        raise AttemptError("correctQuestions cannot exceed totalQuestions.", "invalid")


def _check_seconds(*values):
    for value in values:
        if value < 0 or value > MAX_SECONDS_PER_CALL:
            raise AttemptError(f"Seconds must be between 0 and {MAX_SECONDS_PER_CALL}.", "invalid")


# -- derivation ---------------------------------------------------------------


def apply_attempt(attempt):
    """Derive XP, mastery and results for ``attempt`` and its siblings, then progress.

    The whole chain of the student's completed attempts at the activity is
    re-evaluated: mastery counts once per student and depends on which attempt
    passed first, so an edit to one attempt can move it. Recomputing from the
    attempts (never incrementing) makes repeated saves and edits idempotent.
    Returns the attempt's Result.
    """
    from .outbox import writing  # the outbox builds on the results made here; import late

    with transaction.atomic(savepoint=False):
        if not attempt.__dict__.pop("_student_locked", False):
            lock_student(attempt.student_id)
        activity = attempt.activity
        activity.course  # noqa: B018 - loaded once here, used by the event builders
        policy = get_policy()
        siblings = attempt.__dict__.pop("_completed_siblings", None)  # loaded with the attempt (the API)
        if siblings is None:
            chain = sql.completed_chain(attempt.student_id, attempt.activity_id)
        else:
            chain = sorted([*siblings, attempt], key=lambda item: item.number)
        mastered_before = False
        changed, xp_before = [], {}
        for item in chain:
            if item.pk == attempt.pk:
                # The caller's instance holds the inputs just saved; derived figures
                # and sync counters are the database's (the instance may predate a
                # correction or a flush, and XP differences are taken from them).
                for name in DERIVED:
                    setattr(attempt, name, getattr(item, name))
                item = attempt
            item.activity, item.student = activity, attempt.student
            outcome = evaluate(item, policy)
            passed = getattr(outcome, "passed", outcome.multiplier > 0)
            mastered = xp_rules.mastered_units(passed, activity.masterable_units, mastered_before)
            if item.mastered_units_override is not None:
                mastered = item.mastered_units_override
            mastered_before = mastered_before or mastered > 0
            earned = item.xp_override if item.xp_override is not None else outcome.xp
            new = (outcome.accuracy, outcome.multiplier, xp_rules.quantize(earned), mastered)
            if item is attempt or (item.accuracy, item.multiplier, item.xp_earned, item.mastered_units) != new:
                xp_before[item.pk] = item.xp_earned
                item.accuracy, item.multiplier, item.xp_earned, item.mastered_units = new
                changed.append(item)
        results = sync_results(changed)
        changes = [(item, *results[item.pk], xp_before[item.pk]) for item in changed]
        rows, resync = writing.rows_for_attempts(changes)  # may mark time as reported on the attempts
        _save_derived(changed)
        writing.write(rows, resync=resync)
        first_completion = results[attempt.pk][1] == "created" and len(changed) == 1
        recompute_progress(
            attempt.student_id, attempt.course_id, day=attempt.completed_at if first_completion else None
        )
    return results[attempt.pk][0]


def _save_derived(attempts):
    """Write the derived fields (one UPDATE for the common single attempt; bulk_update's CASE costs more)."""
    if len(attempts) == 1:
        sql.update_row(attempts[0], DERIVED)
    else:
        Attempt.objects.bulk_update(attempts, DERIVED)


def result_sourced_id(attempt):
    return str(attempt.derived_uuid("result"))


def result_fields(attempt, existing=None):
    """The assessmentResult a completed attempt stands for (metadata carries the XP)."""
    fields = {
        "student_id": attempt.student_id,
        "line_item_sourced_id": attempt.activity.line_item_sourced_id,
        "score_date": attempt.completed_at,
        "metadata": {
            "xp": float(attempt.xp_earned),
            "accuracy": float(attempt.accuracy or 0),
            "totalQuestions": attempt.total_questions or 0,
            "correctQuestions": float(attempt.correct_questions or 0),
            "masteredUnits": attempt.mastered_units,
            "multiplier": float(attempt.multiplier or 0),
            "attempt": attempt.number,
        },
    }
    if existing is None or not existing.is_corrected:
        fields["score"] = attempt.accuracy or Decimal(0)
        fields["score_status"] = ScoreStatus.FULLY_GRADED
    return fields


def sync_results(attempts):
    """Create or update each completed attempt's Result.

    Returns ``{attempt pk: (result, state)}`` with state "created", "updated"
    or "unchanged".
    """
    lookup = [a.pk for a in attempts if not a.__dict__.pop("_first_completion", False)]
    existing = {r.attempt_id: r for r in Result.objects.filter(attempt__in=lookup)} if lookup else {}
    out, to_update = {}, []
    for attempt in attempts:
        result = existing.get(attempt.pk)
        fields = result_fields(attempt, result)
        if result is None:
            result = sql.insert_row(Result(sourced_id=result_sourced_id(attempt), attempt=attempt, **fields))
            state = "created"
        else:
            state = "unchanged"
            for name, value in fields.items():
                if getattr(result, name) != value:
                    setattr(result, name, value)
                    state = "updated"
            if state == "updated":
                to_update.append(result)
        result.student = attempt.student
        out[attempt.pk] = (result, state)
    if to_update:
        now = timezone.now()
        for result in to_update:
            result.updated_at = now
        Result.objects.bulk_update(
            to_update, ["student_id", "line_item_sourced_id", "score_date", "metadata", "score", "score_status", "updated_at"]
        )
    return out


def recompute_progress(student_id, course_id, *, day=None, daily=True):
    """Rebuild one student's aggregates in one course from their attempts.

    ``day`` (a datetime) says only that day's chart row can have changed,
    which spares the full rebuild of the daily rows on the hot path;
    ``daily=False`` (starting, timing) leaves the chart rows alone.
    """
    day = _chart_day(day) if daily and day is not None else None
    if connection.vendor in ONE_STATEMENT_PROGRESS and (day or not daily):
        sql.refresh_progress_in_one_statement(student_id, course_id, now=timezone.now(), day=day)
        return
    agg = sql.progress_aggregate(student_id, course_id)
    last = max(filter(None, (agg.pop("last_completed"), agg.pop("last_started"))), default=None)
    agg = {key: value or 0 for key, value in agg.items()}
    sql.upsert_progress(
        StudentProgress(
            student_id=student_id,
            course_id=course_id,
            accuracy=xp_rules.percent_correct(agg["correct_questions"], agg["total_questions"]),
            last_activity_at=last,
            updated_at=timezone.now(),
            **agg,
        )
    )
    if day:
        sql.upsert_day(student_id, course_id, *day)
    elif daily:
        _recompute_daily(student_id, course_id)


# Backends that rebuild the progress row in one statement (sql.refresh_progress_in_one_statement).
ONE_STATEMENT_PROGRESS = ("postgresql",)

# Chart days are calendar days of the project's TIME_ZONE, whoever's request
# (and activated time zone) triggers the recompute.
CHART_TZ = timezone.get_default_timezone


def _chart_day(moment):
    """(local date, start, end) of the chart day ``moment`` (a datetime) falls on."""
    local = timezone.localtime(moment, CHART_TZ()) if timezone.is_aware(moment) else moment
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.date(), start, start + datetime.timedelta(days=1)


def _recompute_daily(student_id, course_id):
    """Rebuild all of a student's chart rows in a course (after edits and corrections)."""
    rows = (
        Attempt.objects.filter(student_id=student_id, course_id=course_id, completed_at__isnull=False)
        .annotate(day=TruncDate("completed_at", tzinfo=CHART_TZ()))
        .values("day")
        .annotate(xp=Sum("xp_earned"), completed_count=Count("id"), active_seconds=Sum("active_seconds"))
        .order_by()
    )
    days = [DailyProgress(student_id=student_id, course_id=course_id, **row) for row in rows]
    # A full rebuild drops days that no longer have attempts.
    DailyProgress.objects.filter(student_id=student_id, course_id=course_id).exclude(
        day__in=[d.day for d in days]
    ).delete()
    if days:
        DailyProgress.objects.bulk_create(
            days,
            update_conflicts=True,
            unique_fields=["student", "course", "day"],
            update_fields=["xp", "completed_count", "active_seconds"],
        )


def recalculate_attempts(attempts):
    """Re-run the rules over completed attempts (after a policy or content change).

    ``apply_attempt`` re-evaluates a student's whole chain at an activity, so
    one call per (student, activity) covers every selected attempt in it.
    Returns how many selected attempts were re-evaluated.
    """
    completed = attempts.filter(completed_at__isnull=False)
    chains = {}
    for attempt in completed.select_related("activity__course", "student").order_by("number"):
        chains.setdefault((attempt.student_id, attempt.activity_id), []).append(attempt)
    for chain in chains.values():
        with transaction.atomic():
            apply_attempt(chain[0])
    return sum(len(chain) for chain in chains.values())


# -- corrections --------------------------------------------------------------

CORRECTABLE = ("score", "score_status", "xp", "total_questions", "correct_questions", "mastered_units")


def snapshot(result):
    """What an audit row records of a result."""
    return {
        "score": str(result.score),
        "scoreStatus": result.score_status,
        **result.metadata,
    }


def correct_result(result, *, user, reason, **changes):
    """Correct a result with a reason; writes an audit row and re-syncs.

    ``changes`` may hold score, score_status, xp, total_questions,
    correct_questions and mastered_units. Invalid values raise
    ValidationError and change nothing.
    """
    unknown = set(changes) - set(CORRECTABLE)
    if unknown:
        raise ValidationError(f"Cannot correct: {', '.join(sorted(unknown))}.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "A correction needs a reason."})
    errors = {}
    if "score_status" in changes and changes["score_status"] not in ScoreStatus.values:
        errors["score_status"] = f"Unknown scoreStatus {changes['score_status']!r}."
    for key in ("score", "xp", "total_questions", "correct_questions", "mastered_units"):
        value = changes.get(key)
        if value is not None and (not xp_rules.to_decimal(value).is_finite() or xp_rules.to_decimal(value) < 0):
            errors[key] = "Must be a finite number, not negative."
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        # Every writer locks the attempt and its student first, then the result
        # (the API does): the same order, so two correctors never deadlock.
        sql.attempt_for_write(result.attempt_id, lock=True)
        result = (
            Result.objects.select_for_update(of=("self",))
            .select_related("attempt__activity", "attempt__student")
            .get(pk=result.pk)
        )
        attempt = result.attempt
        before = snapshot(result)
        total = changes.get("total_questions", attempt.total_questions)
        correct = changes.get("correct_questions", attempt.correct_questions)
        if total is not None and correct is not None and xp_rules.to_decimal(correct) > xp_rules.to_decimal(total):
            raise ValidationError({"correct_questions": "Correct answers cannot exceed the total."})
        mastered = changes.get("mastered_units")
        if mastered is not None and mastered > attempt.activity.masterable_units:
            raise ValidationError(
                {"mastered_units": f"The activity has only {attempt.activity.masterable_units} masterable units."}
            )
        if "score" in changes or "score_status" in changes:
            Result.objects.filter(pk=result.pk).update(
                score=changes.get("score", result.score),
                score_status=changes.get("score_status", result.score_status),
                is_corrected=True,
            )
        attempt.total_questions = total
        attempt.correct_questions = None if correct is None else xp_rules.quantize(correct)  # as stored
        if "xp" in changes:
            attempt.xp_override = changes["xp"]
        if "mastered_units" in changes:
            attempt.mastered_units_override = changes["mastered_units"]
        attempt.save()  # the receiver re-derives the result and progress, and re-syncs it
        result.refresh_from_db()
        if "score" in changes or "score_status" in changes:
            from .outbox import writing

            writing.enqueue_result(result)  # score fields are not derived, so the receiver saw no change
        correction = ResultCorrection.objects.create(
            result=result, corrected_by=user, reason=reason.strip(), before=before, after=snapshot(result)
        )
    return correction
