"""Domain operations: start, time and complete attempts, derive results and
progress, correct results. Everything that changes the gradebook goes through
here so the rules, the aggregates and the outbox never disagree.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.module_loading import import_string

from . import xp as xp_rules
from .conf import app_settings
from .models import Attempt, DailyProgress, Result, ResultCorrection, ScoreStatus, StudentProgress

# Attempt fields services write themselves; saving only these re-derives nothing.
DERIVED_ATTEMPT_FIELDS = frozenset(
    {"accuracy", "multiplier", "xp_earned", "mastered_units", "updated_at", "reported_active_seconds", "reported_inactive_seconds", "time_events_sent"}
)
TIME_REPORT_FIELDS = ("reported_active_seconds", "reported_inactive_seconds", "time_events_sent")
MAX_SECONDS_PER_CALL = 86_400  # Timeback's own cap per time metric.


class AttemptError(Exception):
    """A domain rule refused the operation; ``code`` says which."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def get_policy():
    return import_string(app_settings.XP_POLICY)


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


def start_attempt(student, activity, *, started_at=None):
    """Create the next attempt of ``student`` at ``activity`` (numbers never collide)."""
    if not student.is_active or not activity.is_active:
        raise AttemptError("Inactive students and activities cannot start attempts.", "inactive")
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
    recompute_progress(student.pk, activity.course_id)
    return attempt


def add_time(attempt, *, active_seconds=0, inactive_seconds=0):
    """Add seconds to an open attempt. Additive, so it is safe to call every few seconds."""
    _check_seconds(active_seconds, inactive_seconds)
    with transaction.atomic():
        locked = Attempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.is_completed:
            raise AttemptError("This attempt is already completed.", "completed")
        Attempt.objects.filter(pk=attempt.pk).update(
            active_seconds=F("active_seconds") + active_seconds,
            inactive_seconds=F("inactive_seconds") + inactive_seconds,
            updated_at=timezone.now(),
        )
        attempt.refresh_from_db(
            fields=["active_seconds", "inactive_seconds", "updated_at", *TIME_REPORT_FIELDS]
        )
        recompute_progress(attempt.student_id, attempt.course_id)
        from . import delivery

        delivery.enqueue_time(attempt)
    return attempt


def complete_attempt(
    attempt, *, total_questions, correct_questions, active_seconds=0, inactive_seconds=0, completed_at=None
):
    """Complete an open attempt; the post_save receiver derives XP, result and progress."""
    _check_questions(total_questions, correct_questions)
    _check_seconds(active_seconds, inactive_seconds)
    with transaction.atomic():
        locked = Attempt.objects.select_for_update().select_related("activity", "student").get(pk=attempt.pk)
        if locked.is_completed:
            raise AttemptError("This attempt is already completed; start a new attempt instead.", "completed")
        locked.total_questions = total_questions
        locked.correct_questions = xp_rules.to_decimal(correct_questions)
        locked.active_seconds += active_seconds
        locked.inactive_seconds += inactive_seconds
        locked.completed_at = completed_at or timezone.now()
        locked.save()
    return locked


def record_attempt(student, activity, *, started_at=None, **completion):
    """Create and complete an attempt in one step (server-side apps, backfills)."""
    _check_questions(completion.get("total_questions"), completion.get("correct_questions"))
    _check_seconds(completion.get("active_seconds", 0), completion.get("inactive_seconds", 0))
    with transaction.atomic():
        attempt = start_attempt(student, activity, started_at=started_at)
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


@transaction.atomic
def apply_attempt(attempt):
    """Derive XP, mastery and results for ``attempt`` and its siblings, then progress.

    The whole chain of the student's completed attempts at the activity is
    re-evaluated: mastery counts once per student and depends on which attempt
    passed first, so an edit to one attempt can move it. Recomputing from the
    attempts (never incrementing) makes repeated saves and edits idempotent.
    Returns the attempt's Result.
    """
    activity = attempt.activity
    policy = get_policy()
    chain = list(
        Attempt.objects.filter(
            student_id=attempt.student_id, activity_id=attempt.activity_id, completed_at__isnull=False
        ).order_by("number")
    )
    mastered_before = False
    changed, xp_before = [], {}
    for item in chain:
        item.activity = activity
        item.student = attempt.student
        outcome = evaluate(item, policy)
        passed = getattr(outcome, "passed", outcome.multiplier > 0)
        mastered = xp_rules.mastered_units(passed, activity.masterable_units, mastered_before)
        if item.mastered_units_override is not None:
            mastered = item.mastered_units_override
        mastered_before = mastered_before or mastered > 0
        earned = item.xp_override if item.xp_override is not None else outcome.xp
        new = (outcome.accuracy, outcome.multiplier, xp_rules.quantize(earned), mastered)
        if item.pk == attempt.pk or (item.accuracy, item.multiplier, item.xp_earned, item.mastered_units) != new:
            xp_before[item.pk] = item.xp_earned
            item.accuracy, item.multiplier, item.xp_earned, item.mastered_units = new
            changed.append(item)
    Attempt.objects.bulk_update(changed, ["accuracy", "multiplier", "xp_earned", "mastered_units"])
    current = next(item for item in changed if item.pk == attempt.pk)
    for field in ("accuracy", "multiplier", "xp_earned", "mastered_units"):
        setattr(attempt, field, getattr(current, field))
    for field in TIME_REPORT_FIELDS:
        setattr(current, field, getattr(attempt, field))

    results = sync_results(changed)
    recompute_progress(attempt.student_id, attempt.course_id)
    from . import delivery  # delivery builds on services' results; import late

    delivery.enqueue_attempt(
        current, [(item, *results[item.pk], xp_before[item.pk]) for item in changed]
    )
    for field in TIME_REPORT_FIELDS:
        setattr(attempt, field, getattr(current, field))
    return results[attempt.pk][0]


def result_sourced_id(attempt):
    return f"{attempt.derived_uuid('result')}"


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
    existing = {r.attempt_id: r for r in Result.objects.filter(attempt__in=[a.pk for a in attempts])}
    out, to_update = {}, []
    for attempt in attempts:
        result = existing.get(attempt.pk)
        fields = result_fields(attempt, result)
        if result is None:
            result = Result.objects.create(sourced_id=result_sourced_id(attempt), attempt=attempt, **fields)
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


def recompute_progress(student_id, course_id):
    """Rebuild one student's aggregates in one course from their attempts."""
    attempts = Attempt.objects.filter(student_id=student_id, course_id=course_id)
    done = Q(completed_at__isnull=False)
    agg = attempts.aggregate(
        xp_total=Coalesce(Sum("xp_earned", filter=done), Decimal(0)),
        attempts_count=Count("id"),
        completed_count=Count("id", filter=done),
        total_questions=Coalesce(Sum("total_questions", filter=done), 0),
        correct_questions=Coalesce(Sum("correct_questions", filter=done), Decimal(0)),
        mastered_units=Coalesce(Sum("mastered_units", filter=done), 0),
        active_seconds=Coalesce(Sum("active_seconds"), 0),
        inactive_seconds=Coalesce(Sum("inactive_seconds"), 0),
        last_completed=Max("completed_at"),
        last_started=Max("started_at"),
    )
    recent = attempts.filter(done).order_by("-completed_at", "-number").values_list("accuracy", flat=True)[:50]
    streak = 0
    for accuracy in recent:
        if accuracy is not None and accuracy >= xp_rules.PASS_THRESHOLD:
            break
        streak += 1
    total = agg["total_questions"]
    last = max(filter(None, (agg.pop("last_completed"), agg.pop("last_started"))), default=None)
    progress = StudentProgress(
        student_id=student_id,
        course_id=course_id,
        accuracy=xp_rules.quantize(Decimal(agg["correct_questions"]) * 100 / total) if total else None,
        failed_streak=streak,
        last_activity_at=last,
        updated_at=timezone.now(),
        **agg,
    )
    update = [f for f in agg] + ["accuracy", "failed_streak", "last_activity_at", "updated_at"]
    StudentProgress.objects.bulk_create(
        [progress], update_conflicts=True, unique_fields=["student", "course"], update_fields=update
    )
    _recompute_daily(student_id, course_id)
    return progress


def _recompute_daily(student_id, course_id):
    rows = (
        Attempt.objects.filter(student_id=student_id, course_id=course_id, completed_at__isnull=False)
        .annotate(day=TruncDate("completed_at"))
        .values("day")
        .annotate(xp=Sum("xp_earned"), completed_count=Count("id"), active_seconds=Sum("active_seconds"))
    )
    days = [
        DailyProgress(student_id=student_id, course_id=course_id, **row) for row in rows
    ]
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
    """Re-run the rules over completed attempts (after a policy or content change)."""
    count = 0
    for attempt in attempts.filter(completed_at__isnull=False).select_related("activity", "student"):
        apply_attempt(attempt)
        count += 1
    return count


# -- corrections --------------------------------------------------------------

CORRECTABLE = ("score", "score_status", "xp", "total_questions", "correct_questions", "mastered_units")


def snapshot(result):
    """What an audit row records of a result."""
    return {
        "score": str(result.score),
        "scoreStatus": result.score_status,
        **{k: v for k, v in result.metadata.items()},
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
        result = Result.objects.select_for_update().select_related("attempt__activity", "attempt__student").get(pk=result.pk)
        attempt = result.attempt
        before = snapshot(result)
        total = changes.get("total_questions", attempt.total_questions)
        correct = changes.get("correct_questions", attempt.correct_questions)
        if total is not None and correct is not None and xp_rules.to_decimal(correct) > xp_rules.to_decimal(total):
            raise ValidationError({"correct_questions": "Correct answers cannot exceed the total."})
        if "score" in changes or "score_status" in changes:
            Result.objects.filter(pk=result.pk).update(
                score=changes.get("score", result.score),
                score_status=changes.get("score_status", result.score_status),
                is_corrected=True,
            )
        attempt.total_questions = total
        attempt.correct_questions = correct
        if "xp" in changes:
            attempt.xp_override = changes["xp"]
        if "mastered_units" in changes:
            attempt.mastered_units_override = changes["mastered_units"]
        attempt.save()  # the receiver re-derives the result and progress, and re-syncs it
        result.refresh_from_db()
        correction = ResultCorrection.objects.create(
            result=result, corrected_by=user, reason=reason.strip(), before=before, after=snapshot(result)
        )
    return correction
