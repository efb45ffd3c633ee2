"""Result corrections: the rules, in one place, and the audited operation.

The admin's correction form and the API's correction endpoint both pass
what the user changed to ``check`` (for field errors before anything is
written) and then to ``correct_result``, which checks again under the locks.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ..outbox import writing
from .. import xp as xp_rules
from ..models import Result, ResultCorrection, ScoreStatus
from . import derivation
from .locking import db_for_write, lock_attempt
from .signals import result_corrected, send_on_commit

CORRECTABLE = ("score", "score_status", "xp", "total_questions", "correct_questions", "mastered_units")
NUMBERS = ("score", "xp", "total_questions", "correct_questions", "mastered_units")


def current_values(result):
    """A result's correctable figures as they stand (the form's initial values)."""
    attempt = result.attempt
    return {
        "score": result.score,
        "score_status": result.score_status,
        "xp": attempt.xp_earned,
        "total_questions": attempt.total_questions or 0,
        "correct_questions": attempt.correct_questions or Decimal(0),
        "mastered_units": attempt.mastered_units,
    }


def changed_values(values, result):
    """The entries of ``values`` that differ from the result's: an untouched XP is never pinned."""
    current = current_values(result)
    return {name: value for name, value in values.items() if name in CORRECTABLE and value != current[name]}


def check(changes, attempt):
    """Raise ``ValidationError`` (a dict by field) if ``changes`` break a rule for ``attempt``."""
    unknown = set(changes) - set(CORRECTABLE)
    if unknown:
        raise ValidationError(_("Cannot correct: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    errors = {}
    if "score_status" in changes and changes["score_status"] not in ScoreStatus.values:
        errors["score_status"] = _("Unknown scoreStatus %(value)r.") % {"value": changes["score_status"]}
    for key in NUMBERS:
        value = changes.get(key)
        if value is not None and (not xp_rules.to_decimal(value).is_finite() or xp_rules.to_decimal(value) < 0):
            errors[key] = _("Must be a finite number, not negative.")
    if not errors:
        total = changes.get("total_questions", attempt.total_questions)
        correct = changes.get("correct_questions", attempt.correct_questions)
        if total is not None and correct is not None and xp_rules.to_decimal(correct) > xp_rules.to_decimal(total):
            errors["correct_questions"] = _("Correct answers cannot exceed the total.")
        mastered, masterable = changes.get("mastered_units"), attempt.activity.masterable_units
        if mastered is not None and mastered > masterable:
            errors["mastered_units"] = _("The activity has only %(n)s masterable units.") % {"n": masterable}
    if errors:
        raise ValidationError(errors)


def snapshot(result):
    """What an audit row records of a result."""
    return {"score": str(result.score), "scoreStatus": result.score_status, **result.metadata}


def correct_result(result, *, user, reason, **changes):
    """Correct a result with a reason: an audit row, the re-derivation, the re-sync.

    ``changes`` may hold score, score_status, xp, total_questions,
    correct_questions and mastered_units. Invalid values raise
    ValidationError and change nothing.
    """
    if not (reason or "").strip():
        raise ValidationError({"reason": _("A correction needs a reason.")})
    check(changes, result.attempt)
    using = db_for_write(result.attempt)
    with transaction.atomic(using=using):
        # The locks every writer takes, in order: the attempt and its student, then the result.
        attempt = lock_attempt(result.attempt_id, using=using)
        result = Result.objects.using(using).select_for_update(of=("self",)).get(pk=result.pk)
        result.attempt = attempt
        check(changes, attempt)  # again, on the figures as they stand under the lock
        before = snapshot(result)
        if "score" in changes or "score_status" in changes:
            Result.objects.using(using).filter(pk=result.pk).update(
                score=changes.get("score", result.score),
                score_status=changes.get("score_status", result.score_status),
                is_corrected=True,
            )
        fields = {"total_questions": changes.get("total_questions", attempt.total_questions)}
        correct = changes.get("correct_questions", attempt.correct_questions)
        fields["correct_questions"] = None if correct is None else xp_rules.quantize(correct)  # as stored
        if "xp" in changes:
            fields["xp_override"] = changes["xp"]
        if "mastered_units" in changes:
            fields["mastered_units_override"] = changes["mastered_units"]
        for name, value in fields.items():
            setattr(attempt, name, value)
        derivation.write_attempt(attempt, list(fields), using=using)
        derivation.rederive_chain(
            attempt.student_id, attempt.activity_id, attempt.course_id, using=using, include=attempt.pk
        )
        result.refresh_from_db(using=using)
        if "score" in changes or "score_status" in changes:
            writing.enqueue_result(result)  # score fields are not derived: re-send them
        correction = ResultCorrection.objects.using(using).create(
            result=result, corrected_by=user, reason=reason.strip(), before=before, after=snapshot(result)
        )
        send_on_commit(result_corrected, using=using, sender=Result, result=result, correction=correction)
    return correction
