"""Heartbeat and submit on the gradebook: a run is one attempt, a window counts once.

Each operation runs in one transaction on the router's write database and
takes the student's lock first, as every gradebook writer does
(``gradebook.locking``); what it reads after that lock is what the writer it
waited for committed. So two identical heartbeats at once (a retry racing
its original, two tabs) serialise: the second finds the first's
``HeartbeatWindow`` and is a duplicate, and the unique (run, window start)
backs that up in the database, across processes and restarts. The vendor
keeps the same key in a 5-minute in-memory cache, per process.

Seconds reach the attempt through ``gradebook.attempts`` (``start_attempt``,
``add_time``, ``complete_attempt``, ``record_attempt``), so their rules, the
progress rows and the outbox rows are the REST API's; nothing here sends.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ..conf import app_settings
from ..gradebook import attempts, corrections
from ..gradebook.locking import db_for_write, lock_attempt, lock_student
from ..models import ActivityRun, HeartbeatWindow, Result
from ..outbox import held
from .errors import ProtocolError, invalid

# The gradebook's refusals (attempts.AttemptError.code) in the vendor's error shape.
REFUSALS = {
    "completed": ("RUN_COMPLETED", 409),
    "conflict": ("CONFLICT", 409),
    "inactive": ("NOT_FOUND", 404),
}


def _gradebook(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except attempts.AttemptError as exc:
        if exc.code == "invalid":
            raise invalid("time", str(exc)) from None
        code, status = REFUSALS.get(exc.code, ("INVALID_PAYLOAD", 400))
        raise ProtocolError(code, str(exc), status) from None


def _run(student, run_id, activity, using):
    """The student's run ``run_id`` (read after the student's lock), or None; another activity's is a 409."""
    run = ActivityRun.objects.using(using).select_related("attempt").filter(student=student, run_id=run_id).first()
    if run is not None and run.activity_id != activity.pk:
        raise ProtocolError("RUN_MISMATCH", _("This runId belongs to another activity."), 409)
    return run


def _check_email(student):
    """Timeback refuses a student's events without an email: refuse the run before it starts (the API does too)."""
    if not held.has_email(student.email):
        raise ProtocolError(
            "MISSING_EMAIL",
            _("Your student record has no email, and Timeback refuses events without one. Nothing was written."),
            400,
        )


def record_heartbeat(student, activity, beat):
    """Add one window's time to the run's attempt (starting it on first sight); False for a duplicate.

    Milliseconds add up on the run; the attempt gets the whole seconds they
    complete, so windows of 14.6 s never lose or invent a second.
    """
    using = db_for_write()
    with transaction.atomic(using=using):
        lock_student(student.pk, using=using)
        run = _run(student, beat.run_id, activity, using)
        if run is None:
            _check_email(student)
            attempt = _gradebook(attempts.start_attempt, student, activity, started_at=beat.started_at)
            run = ActivityRun.objects.using(using).create(
                student=student, run_id=beat.run_id, activity=activity, attempt=attempt
            )
        elif run.attempt.is_completed:
            raise ProtocolError("RUN_COMPLETED", _("This run is already submitted."), 409)
        if HeartbeatWindow.objects.using(using).filter(run=run, start_ms=beat.start_ms).exists():
            return False
        HeartbeatWindow.objects.using(using).create(
            run=run, start_ms=beat.start_ms, started_at=beat.started_at, ended_at=beat.ended_at,
            active_ms=beat.active_ms, inactive_ms=beat.inactive_ms,
        )
        active_ms, inactive_ms = run.active_ms + beat.active_ms, run.inactive_ms + beat.inactive_ms
        active, inactive = active_ms // 1000 - run.active_ms // 1000, inactive_ms // 1000 - run.inactive_ms // 1000
        if active or inactive:
            attempt = lock_attempt(run.attempt_id, using=using)
            _gradebook(attempts.add_time, attempt, active_seconds=active, inactive_seconds=inactive, locked=True)
        ActivityRun.objects.using(using).filter(pk=run.pk).update(active_ms=active_ms, inactive_ms=inactive_ms)
    return True


def submit_run(student, activity, submit, *, user):
    """Complete the run's attempt (once); returns ``(attempt, duplicate)``.

    A run never heard of before (no heartbeat reached the server) is recorded
    as completed at ``endedAt``. A second submit of a completed run with the
    same counts answers the first completion again (``duplicate``); other
    counts are a 409: a run completes once.
    """
    using = db_for_write()
    counts = {"total_questions": submit.total_questions, "correct_questions": submit.correct_questions}
    with transaction.atomic(using=using):
        lock_student(student.pk, using=using)
        run = _run(student, submit.run_id, activity, using)
        if run is None:
            _check_email(student)
            attempt = _gradebook(attempts.record_attempt, student, activity, completed_at=submit.ended_at, **counts)
            ActivityRun.objects.using(using).create(student=student, run_id=submit.run_id, activity=activity, attempt=attempt)
        else:
            attempt = lock_attempt(run.attempt_id, using=using)
            if attempt.is_completed:
                if (attempt.total_questions, attempt.correct_questions) != (submit.total_questions, Decimal(submit.correct_questions)):
                    raise ProtocolError("RUN_COMPLETED", _("This run was already submitted with other counts."), 409)
                return attempt, True
            attempt = _gradebook(attempts.complete_attempt, attempt, completed_at=submit.ended_at, locked=True, **counts)
        if app_settings.ACTIVITY_TRUST_CLIENT_XP:
            attempt = _trust_client_xp(attempt, submit.xp_earned, user, using)
    return attempt, False


def _trust_client_xp(attempt, xp_earned, user, using):
    """Apply the page's XP as an audited correction of the rules' XP (``ACTIVITY_TRUST_CLIENT_XP``).

    The rules' figure is computed and announced first; a different client
    figure then goes through ``corrections.correct_result``: a
    ``ResultCorrection`` row that says who (the student's user) and why, and
    a correction event to Timeback carrying the difference. Nothing bypasses
    the XP rules silently. A figure the corrections refuse (negative) refuses
    the whole submit.
    """
    xp = Decimal(str(xp_earned)).quantize(Decimal("0.01"))
    if xp == attempt.xp_earned:
        return attempt
    result = Result.objects.using(using).get(attempt_id=attempt.pk)
    try:
        corrections.correct_result(
            result, user=user, xp=xp,
            reason=_("XP from the learning app's page (ACTIVITY_TRUST_CLIENT_XP); the rules gave %(xp)s.")
            % {"xp": attempt.xp_earned},
        )
    except ValidationError as exc:
        raise invalid("metrics.xpEarned", " ".join(exc.messages)) from None
    return lock_attempt(attempt.pk, using=using)


def result_body(attempt, run_id, *, duplicate):
    """What ``endActivity`` resolves to: the completion as the rules (or a correction) made it."""
    return {
        "runId": str(run_id),
        "attempt": attempt.attempt_number,
        "xpEarned": json_number(attempt.xp_earned),
        "xpSource": "correction" if attempt.xp_override is not None else "rules",
        "accuracy": json_number(attempt.accuracy),
        "multiplier": json_number(attempt.multiplier),
        "masteredUnits": attempt.mastered_units,
        "totalQuestions": attempt.total_questions,
        "correctQuestions": json_number(attempt.correct_questions),
        "completedAt": attempt.completed_at.isoformat().replace("+00:00", "Z"),
        "duplicate": duplicate,
    }


def json_number(value):
    """A Decimal as JSON: whole numbers as integers (as the vendor's XP), others as floats."""
    if value is None:
        return None
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)
