"""The local gradebook mirror: the OneRoster assessmentResult each completed attempt stands for."""

from decimal import Decimal

from django.utils import timezone

from ..models import Result, ScoreStatus

# What re-deriving may change on a result (a correction's score fields are kept).
DERIVED_RESULT_FIELDS = (
    "student_id", "line_item_sourced_id", "score_date", "metadata", "score", "text_score", "score_status",
)
# The textScore of a passive activity's result: done, not graded.
PASSIVE_TEXT_SCORE = "completed"


def result_sourced_id(attempt):
    return str(attempt.derived_uuid("result"))


def result_fields(attempt, existing=None):
    """The assessmentResult a completed attempt stands for (metadata carries the XP).

    A passive activity (watched, read) has no score: its result says
    "completed" in ``textScore`` and carries no question counts or accuracy,
    so nothing reads it as a failed test (docs/semantics/passive-activities.md).
    """
    if attempt.activity.is_graded:
        metadata = {
            "xp": float(attempt.xp_earned),
            "accuracy": float(attempt.accuracy or 0),
            "totalQuestions": attempt.total_questions or 0,
            "correctQuestions": float(attempt.correct_questions or 0),
            "masteredUnits": attempt.mastered_units,
            "multiplier": float(attempt.multiplier or 0),
            "attempt": attempt.attempt_number,
        }
    else:
        metadata = {
            "xp": float(attempt.xp_earned),
            "masteredUnits": attempt.mastered_units,
            "attempt": attempt.attempt_number,
            "passive": True,
            "activeSeconds": attempt.active_seconds,
        }
    fields = {
        "student_id": attempt.student_id,
        "line_item_sourced_id": attempt.activity.line_item_sourced_id,
        "score_date": attempt.completed_at,
        "metadata": metadata,
    }
    if existing is None or not existing.is_corrected:
        if attempt.activity.is_graded:
            fields["score"], fields["text_score"] = attempt.accuracy or Decimal(0), ""
        else:
            fields["score"], fields["text_score"] = None, PASSIVE_TEXT_SCORE
        fields["score_status"] = ScoreStatus.FULLY_GRADED
    return fields


def create_result(attempt, *, using):
    """The first result of a newly completed attempt."""
    result = Result.objects.using(using).create(
        sourced_id=result_sourced_id(attempt), attempt=attempt, **result_fields(attempt)
    )
    result.student = attempt.student
    return result


def sync_results(attempts, *, using):
    """Create or update each completed attempt's Result.

    Returns ``{attempt pk: (result, state)}`` with state "created", "updated"
    or "unchanged".
    """
    existing = {r.attempt_id: r for r in Result.objects.using(using).filter(attempt__in=[a.pk for a in attempts])}
    out, to_update = {}, []
    for attempt in attempts:
        result = existing.get(attempt.pk)
        if result is None:
            out[attempt.pk] = (create_result(attempt, using=using), "created")
            continue
        state = "unchanged"
        for name, value in result_fields(attempt, result).items():
            if getattr(result, name) != value:
                setattr(result, name, value)
                state = "updated"
        if state == "updated":
            result.updated_at = timezone.now()
            to_update.append(result)
        result.student = attempt.student
        out[attempt.pk] = (result, state)
    if to_update:
        Result.objects.using(using).bulk_update(to_update, [*DERIVED_RESULT_FIELDS, "updated_at"])
    return out
