"""The attempt lifecycle: start, report time, complete, record.

Each operation takes the locks every writer takes (``locking``), writes the
attempt with a QuerySet ``update``/``bulk_create`` (no ``post_save``: the
derivation is called here, with what the operation knows), derives what
follows (``derivation``), adds its figures to the progress rows
(``progress.apply``) and writes the outbox rows, in one transaction on the
router's write database. A refusal raises ``AttemptError`` and writes nothing.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import limits
from ..conf import app_settings

from ..outbox import writing
from .. import xp as xp_rules
from ..models import Attempt
from ..timeback import caliper
from . import derivation, progress
from .locking import db_for_write, lock_attempt, lock_student

TIME_REPORT_FIELDS = Attempt.TIME_REPORT_FIELDS
MAX_SECONDS_PER_CALL = caliper.MAX_SECONDS_PER_METRIC  # one call never needs more than one event
# An attempt's seconds, per kind, never exceed a week: far below the columns' range (2**31 - 1).
MAX_SECONDS_PER_ATTEMPT = limits.MAX_ATTEMPT_SECONDS
# No attempt starts or ends before this (a back-dated year 1 breaks date arithmetic elsewhere).
EARLIEST = limits.EARLIEST_TIMESTAMP


class AttemptError(Exception):
    """A domain rule refused the operation; ``code`` says which."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def start_attempt(student, activity, *, started_at=None):
    """Create the next attempt of ``student`` at ``activity`` (numbers never collide)."""
    if not student.is_active or not activity.is_active:
        raise AttemptError(_("Inactive students and activities cannot start attempts."), "inactive")
    _check_moments(started_at)
    using = db_for_write()
    with transaction.atomic(using=using, savepoint=False):
        lock_student(student.pk, using=using)  # serialises this student's numbers and figures
        attempt = _create(student, activity, started_at, using)
        summary = progress.summary_for(student.pk, activity.pk, using=using)
        progress.apply(
            progress.Change(attempts_count=1, started_at=attempt.started_at),
            student_id=student.pk, activity_id=activity.pk, course_id=activity.course_id, summary=summary, using=using,
        )
    return attempt


def _create(student, activity, started_at, using):
    attempt = Attempt(
        student=student, activity=activity, course_id=activity.course_id, started_at=started_at or timezone.now()
    )
    attempt.number = attempt.next_number(using)
    try:
        Attempt.objects.using(using).bulk_create([attempt])  # no post_save: progress is added by the caller
    except IntegrityError:
        # Host code created an attempt without the student lock meanwhile: the caller's transaction is void.
        raise AttemptError(_("Another attempt took this attempt number; try again."), "conflict") from None
    return attempt


def _on_open_attempt(attempt, locked, work, refusal):
    """Run ``work(current, using)`` on the open attempt, under its lock, in one transaction.

    ``locked=True``: the caller loaded ``attempt`` with ``locking.lock_attempt``
    in its open transaction (the API does, to check permissions in the same
    query). A completed attempt is refused with ``refusal``, and ``work`` may
    refuse by returning an ``AttemptError`` before it writes: either way the
    block is left normally, having written nothing, and the error is raised
    outside it (a caller's own transaction stays usable). Returns the locked instance.
    """
    using = db_for_write(attempt)
    with transaction.atomic(using=using, savepoint=False):
        current = attempt if locked else lock_attempt(attempt.pk, using=using)
        if current is None:
            raise Attempt.DoesNotExist("Attempt matching query does not exist.")
        if current.is_completed:
            error = AttemptError(refusal, "completed")
        else:
            error = work(current, using)
            if error is None:
                return current
    raise error


def add_time(attempt, *, active_seconds=0, inactive_seconds=0, locked=False):
    """Add seconds to an open attempt. Additive, so it is safe to call every few seconds."""
    _check_seconds(active_seconds, inactive_seconds)

    def work(current, using):
        # Under the row lock ``current`` holds the stored seconds: add in Python, write once.
        now = timezone.now()
        error = _elapsed_error(current.active_seconds + active_seconds, current.inactive_seconds + inactive_seconds,
                               current.started_at, now)
        if error:
            return error
        current.active_seconds += active_seconds
        current.inactive_seconds += inactive_seconds
        current.updated_at = now
        Attempt.objects.using(using).filter(pk=current.pk).update(
            active_seconds=current.active_seconds, inactive_seconds=current.inactive_seconds,
            updated_at=current.updated_at,
        )
        progress.add_time(current, active_seconds, inactive_seconds, using=using)
        writing.enqueue_time(current)

    current = _on_open_attempt(attempt, locked, work, _("This attempt is already completed."))
    for name in ("active_seconds", "inactive_seconds", "updated_at", *TIME_REPORT_FIELDS):
        setattr(attempt, name, getattr(current, name))
    return attempt


def complete_attempt(
    attempt, *, total_questions, correct_questions, active_seconds=0, inactive_seconds=0, completed_at=None,
    locked=False,
):
    """Complete an open attempt: XP, mastery, result, progress and outbox rows, in one transaction."""
    _check_questions(total_questions, correct_questions)
    _check_seconds(active_seconds, inactive_seconds)

    def work(current, using):
        change = progress.Change(active_seconds=active_seconds, inactive_seconds=inactive_seconds)
        return _complete(current, change, total_questions, correct_questions, completed_at, using)

    return _on_open_attempt(
        attempt, locked, work, _("This attempt is already completed; start a new attempt instead.")
    )


def _complete(attempt, change, total_questions, correct_questions, completed_at, using):
    """Complete ``attempt`` (locked); returns an ``AttemptError``, having written nothing, if its time does not fit."""
    completed_at = completed_at or timezone.now()
    error = _moments_error(attempt.started_at, completed_at) or _elapsed_error(
        attempt.active_seconds + change.active_seconds, attempt.inactive_seconds + change.inactive_seconds,
        attempt.started_at, completed_at,
    )
    if error:
        return error
    attempt.total_questions = total_questions
    attempt.correct_questions = xp_rules.quantize(correct_questions)  # as stored: XP is computed on it
    attempt.active_seconds += change.active_seconds
    attempt.inactive_seconds += change.inactive_seconds
    attempt.completed_at = completed_at
    if hasattr(attempt, "activity_row"):  # loaded with the lock (locking.lock_attempt)
        summary, course_row = attempt.activity_row, attempt.course_row
    else:  # just created by record_attempt
        summary, course_row = progress.summary_for(attempt.student_id, attempt.activity_id, using=using), False
    if derivation.ends_chain(attempt, summary):
        derivation.complete_new(attempt, summary, using=using, change=change, course_row=course_row)
    else:  # completed before another completion (a back-dated completedAt): re-evaluate the chain
        derivation.write_attempt(attempt, derivation.COMPLETION_FIELDS, using=using)
        derived = derivation.rederive_chain(
            attempt.student_id, attempt.activity_id, attempt.course_id, using=using, include=attempt.pk
        )[attempt.pk]
        for name in (*derivation.DERIVED, "updated_at"):
            setattr(attempt, name, getattr(derived, name))


def record_attempt(student, activity, *, started_at=None, **completion):
    """Create and complete an attempt in one step (server-side apps, backfills)."""
    _check_questions(completion.get("total_questions"), completion.get("correct_questions"))
    active, inactive = completion.pop("active_seconds", 0), completion.pop("inactive_seconds", 0)
    _check_seconds(active, inactive)
    if not student.is_active or not activity.is_active:
        raise AttemptError(_("Inactive students and activities cannot start attempts."), "inactive")
    completed_at = completion.get("completed_at") or timezone.now()
    if started_at is None:  # as long before the completion as the time it reports
        started_at = completed_at - timedelta(seconds=active + inactive)
    error = _moments_error(started_at, completed_at) or _elapsed_error(active, inactive, started_at, completed_at)
    if error:
        raise error
    using = db_for_write()
    with transaction.atomic(using=using, savepoint=False):
        lock_student(student.pk, using=using)
        attempt = _create(student, activity, started_at, using)
        attempt.student, attempt.activity = student, activity
        # One Change for both steps: the progress rows are written once.
        change = progress.Change(
            attempts_count=1, started_at=attempt.started_at, active_seconds=active, inactive_seconds=inactive
        )
        _complete(attempt, change, completion["total_questions"], completion["correct_questions"], completed_at, using)
    return attempt


def _check_questions(total, correct):
    if total is None or correct is None:
        raise AttemptError(_("Both totalQuestions and correctQuestions are required."), "invalid")
    correct = xp_rules.to_decimal(correct)
    if not correct.is_finite() or total < 0 or correct < 0:
        raise AttemptError(_("Question counts must be finite and not negative."), "invalid")
    if correct > total:
        raise AttemptError(_("correctQuestions cannot exceed totalQuestions."), "invalid")


def _moments_error(started_at=None, completed_at=None):
    """Times before ``EARLIEST``, in the future (beyond the tolerance), or a completion before the start."""
    now = timezone.now()
    for name, moment in (("startedAt", started_at), ("completedAt", completed_at)):
        problem = None if moment is None else limits.timestamp_problem(moment, now, app_settings.TIME_TOLERANCE_SECONDS)
        if problem == "too_early":
            return AttemptError(_("%(field)s is before %(earliest)s.") % {"field": name, "earliest": f"{EARLIEST:%Y-%m-%d}"}, "invalid")
        if problem == "too_late":
            return AttemptError(_("%(field)s is in the future.") % {"field": name}, "invalid")
    if started_at is not None and completed_at is not None and completed_at < started_at:
        return AttemptError(_("completedAt is before startedAt."), "invalid")
    return None


def _check_moments(started_at=None, completed_at=None):
    error = _moments_error(started_at, completed_at)
    if error:
        raise error


def _elapsed_error(active, inactive, started_at, until):
    """Reported time never runs ahead of the wall clock since the attempt started (beyond the tolerance).

    A student cannot report a year of work on one attempt, and an attempt's
    totals stay far below their columns' range (``MAX_SECONDS_PER_ATTEMPT``).
    """
    if max(active, inactive) > MAX_SECONDS_PER_ATTEMPT:
        return AttemptError(
            _("An attempt holds at most %(seconds)d seconds of each kind.") % {"seconds": MAX_SECONDS_PER_ATTEMPT}, "invalid"
        )
    elapsed = max(0, int((until - started_at).total_seconds()))
    if active + inactive > elapsed + app_settings.TIME_TOLERANCE_SECONDS:
        return AttemptError(
            _("%(reported)d seconds reported, but only %(elapsed)d seconds passed since the attempt started.")
            % {"reported": active + inactive, "elapsed": elapsed},
            "invalid",
        )
    return None


def _check_seconds(*values):
    for value in values:
        if value < 0 or value > MAX_SECONDS_PER_CALL:
            raise AttemptError(_("Seconds must be between 0 and %(maximum)d.") % {"maximum": MAX_SECONDS_PER_CALL}, "invalid")
