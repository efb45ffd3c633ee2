"""The XP derivation: from a completed attempt's inputs to its XP, mastery, result and outbox rows.

Two entrances, one derivation:

* the app's own operations (``attempts.complete_attempt``, corrections,
  recalculation) call it directly with what they know;
* ``on_attempt_saved`` (the ``post_save`` receiver) covers an attempt saved
  anywhere else (the admin, a shell, host code): it reloads the attempt under
  the lock and takes the same path.

The chain is the student's completed attempts at the activity in the order
they were completed. An attempt's number, as Timeback counts it
(``attempt_number``, what the re-attempt multiplier reads), is its place in
that chain: starting, abandoning or timing out never costs XP, as in the
vendor's SDK (``handlers/activity/attempts.py``: ``max(attempt) + 1`` over the
student's results). A completion at the end of the chain (the common case) is
judged against the activity's progress row: constant work.
Anything that changes history (an earlier attempt edited, corrected, or
completed late) re-evaluates the whole chain, since mastery counts once per
student and depends on which attempt passed first. Rows are recomputed from
the attempts, never incremented by guesswork, so repeated saves are idempotent.
"""

from collections import Counter

from django.db import transaction
from django.utils import timezone

from ..outbox import writing
from .. import xp as xp_rules
from ..models import Attempt, Result
from . import progress, results
from .locking import lock_attempt, lock_student
from .policy import get_policy
from .signals import attempt_completed, send_on_commit, unit_mastered, xp_awarded

# Attempt fields the derivation writes (never typed in), and with updated_at.
DERIVED = Attempt.DERIVED_FIELDS
DERIVED_ATTEMPT_FIELDS = frozenset({*DERIVED, "updated_at"})
# The inputs completing writes.
COMPLETION_FIELDS = ("total_questions", "correct_questions", "active_seconds", "inactive_seconds", "completed_at")


def evaluate(attempt, policy=None):
    """Run the XP policy on one completed attempt's inputs (``attempt_number`` set)."""
    policy = policy or get_policy()
    return policy(
        attempt.activity.expected_xp,
        attempt.total_questions or 0,
        attempt.correct_questions or 0,
        attempt.attempt_number or 1,
        passive=not attempt.activity.is_graded,
    )


def ends_chain(attempt, summary):
    """Whether completing ``attempt`` puts it after every completion in ``summary`` (the fast path).

    Equal times go the long way: the chain's order is then decided by the run number.
    """
    last = summary.last_completed_at if summary is not None and summary.completed_count else None
    return last is None or attempt.completed_at > last


def derive(attempt, *, mastered_before, policy=None):
    """``(accuracy, multiplier, xp_earned, mastered_units)`` of one completed attempt; overrides win."""
    outcome = evaluate(attempt, policy)
    passive = not attempt.activity.is_graded
    passed = not passive and getattr(outcome, "passed", outcome.multiplier > 0)
    mastered = xp_rules.mastered_units(passed, attempt.activity.masterable_units, mastered_before)
    if attempt.mastered_units_override is not None:
        mastered = attempt.mastered_units_override
    earned = attempt.xp_override if attempt.xp_override is not None else outcome.xp
    # A passive activity (watched, read) has no accuracy: None, never a 0% that reads as a failure.
    accuracy = None if passive else outcome.accuracy
    return accuracy, outcome.multiplier, xp_rules.quantize(earned), mastered


def write_attempt(attempt, names, *, using):
    """One UPDATE of ``names`` from the instance (a QuerySet update: no post_save, the derivation is here)."""
    attempt.updated_at = timezone.now()
    Attempt.objects.using(using).filter(pk=attempt.pk).update(
        **{name: getattr(attempt, name) for name in (*names, "updated_at")}
    )


def complete_new(attempt, summary, *, using, change=None, inputs_saved=False, course_row=False):
    """Derive a first completion at the end of the student's chain at the activity.

    ``attempt`` is locked with its student, its inputs set; ``summary`` is the
    student's ActivityProgress row there (or None). ``change``: what the
    caller's operation adds to progress (``progress.Change``); without one
    (the receiver, which cannot know what else the save changed) the
    progress rows are rebuilt. Returns the attempt's new Result.
    """
    mastered_before = summary is not None and summary.mastered_units > 0
    attempt.attempt_number = (summary.completed_count if summary is not None else 0) + 1
    attempt.accuracy, attempt.multiplier, attempt.xp_earned, attempt.mastered_units = derive(
        attempt, mastered_before=mastered_before
    )
    result = results.create_result(attempt, using=using)
    if course_row is False:  # not loaded with the lock: read once, for the event and for apply
        course_row = progress.course_row_for(attempt.student_id, attempt.course_id, using=using)
    mastered_in_course = (course_row.mastered_units if course_row is not None else 0) + attempt.mastered_units
    changes = [writing.Derived(attempt, result, "created", course_mastered=mastered_in_course)]
    rows, resync = writing.rows_for_attempts(changes)  # marks time as reported
    write_attempt(attempt, DERIVED if inputs_saved else (*COMPLETION_FIELDS, *DERIVED), using=using)
    writing.write(rows, resync=resync)
    if change is None:
        progress.rebuild(attempt.student_id, attempt.activity_id, attempt.course_id, using=using)
    else:
        change.completed = attempt
        progress.apply(change, student_id=attempt.student_id, activity_id=attempt.activity_id,
                       course_id=attempt.course_id, summary=summary, using=using, course_row=course_row)
    send_on_commit(attempt_completed, using=using, sender=Attempt, attempt=attempt, result=result)
    _announce_xp(attempt, xp_before=0, using=using)
    if attempt.mastered_units > 0 and not mastered_before:
        send_on_commit(unit_mastered, using=using, sender=Attempt, attempt=attempt, units=attempt.mastered_units)
    return result


def rederive_chain(student_id, activity_id, course_id, *, using, include=None):
    """Re-evaluate the student's completed attempts at the activity, in attempt order.

    Re-sends what moved (results, XP differences) and rebuilds the progress
    rows (also when no completed attempt is left). ``include``: the pk of an
    attempt just edited, handled as changed even if its figures did not move
    (its result or time may have). Returns ``{attempt pk: attempt}`` of the
    attempts handled as changed, with their derived figures as written.
    """
    chain = list(
        Attempt.objects.using(using)
        .select_related("student", "activity__course")
        .filter(student_id=student_id, activity_id=activity_id, completed_at__isnull=False)
        .order_by("completed_at", "number")
    )
    policy = get_policy()
    mastered_before, changed, before = False, [], {}
    for place, item in enumerate(chain, start=1):
        old = (item.attempt_number, item.accuracy, item.multiplier, item.xp_earned, item.mastered_units)
        item.attempt_number = place
        new = (place, *derive(item, mastered_before=mastered_before, policy=policy))
        mastered_before = mastered_before or new[4] > 0
        if old != new or item.pk == include:
            before[item.pk] = old
            item.accuracy, item.multiplier, item.xp_earned, item.mastered_units = new[1:]
            changed.append(item)
        else:
            item.attempt_number = old[0]
    synced = results.sync_results(changed, using=using) if changed else {}
    if changed:
        now = timezone.now()
        for item in changed:
            item.updated_at = now
        Attempt.objects.using(using).bulk_update(changed, [*DERIVED, "updated_at"])
    progress.rebuild(student_id, activity_id, course_id, using=using)
    course = progress.course_row_for(student_id, course_id, using=using)  # the share pctCompleteApp reports
    mastered_in_course = course.mastered_units if course is not None else 0
    rows, resync = writing.rows_for_attempts([
        writing.Derived(item, *synced[item.pk], xp_before=before[item.pk][3], mastered_before=before[item.pk][4],
                        course_mastered=mastered_in_course)
        for item in changed
    ])
    if changed:  # the counters rows_for_attempts moved (time reported, corrections sent)
        Attempt.objects.using(using).bulk_update(changed, list(Attempt.SYNC_COUNTERS))
    writing.write(rows, resync=resync)
    for item in changed:
        result, state = synced[item.pk]
        if state == "created":  # completed just now, earlier in the chain than another completion
            send_on_commit(attempt_completed, using=using, sender=Attempt, attempt=item, result=result)
        _announce_xp(item, xp_before=before[item.pk][3], using=using)
    # Mastery is the student's, once per activity: announced when they had none before and have some now.
    if not any(before.get(item.pk, (0, 0, 0, 0, item.mastered_units))[4] for item in chain):
        first = next((item for item in chain if item.mastered_units > 0), None)
        if first is not None:
            send_on_commit(unit_mastered, using=using, sender=Attempt, attempt=first, units=first.mastered_units)
    return {item.pk: item for item in changed}


def _announce_xp(attempt, *, xp_before, using):
    if attempt.xp_earned != xp_before:
        send_on_commit(xp_awarded, using=using, sender=Attempt, attempt=attempt, xp=attempt.xp_earned,
                       delta=attempt.xp_earned - xp_before)


def on_attempt_saved(instance, *, using):
    """An attempt was saved outside the app's operations: derive and sync it the same way.

    A newly completed attempt at the end of the chain takes the completion's
    own path; an edit of anything else re-evaluates the chain. Progress rows
    are rebuilt either way (a plain save may also have changed time or dates).
    """
    with transaction.atomic(using=using, savepoint=False):
        locked = lock_attempt(instance.pk, using=using)
        if locked is None:  # deleted meanwhile
            return
        if not locked.is_completed:
            # Its seconds go out like the API's time reports (once a window is full).
            if writing.enqueue_time(locked):
                for name in Attempt.TIME_REPORT_FIELDS:
                    setattr(instance, name, getattr(locked, name))
            if Result.objects.using(using).filter(attempt_id=locked.pk).exists():  # un-completed by this save
                rederive_chain(locked.student_id, locked.activity_id, locked.course_id, using=using)
            else:
                progress.rebuild(locked.student_id, locked.activity_id, locked.course_id, using=using, completed=False)
            return
        summary = locked.activity_row
        if ends_chain(locked, summary) and not Result.objects.using(using).filter(attempt_id=locked.pk).exists():
            complete_new(locked, summary, using=using, inputs_saved=True)
        else:
            locked = rederive_chain(
                locked.student_id, locked.activity_id, locked.course_id, using=using, include=locked.pk
            )[locked.pk]
    for name in (*DERIVED, "updated_at"):
        setattr(instance, name, getattr(locked, name))


def recalculate_attempts(attempts):
    """Re-run the rules over completed attempts (after a policy or content change).

    One chain re-evaluation per (student, activity) covers every selected
    attempt in it. Returns how many selected attempts were re-evaluated.
    """
    using = attempts.db
    chains = Counter(
        attempts.filter(completed_at__isnull=False).values_list("student_id", "activity_id", "course_id")
    )
    for student_id, activity_id, course_id in chains:
        with transaction.atomic(using=using):
            lock_student(student_id, using=using)
            rederive_chain(student_id, activity_id, course_id, using=using)
    return sum(chains.values())


def on_attempt_deleted(instance, *, using):
    """An attempt was deleted (host code, a shell): what the student's other attempts earn may move.

    Its result goes with it (cascade); the rest of the chain is re-evaluated
    and the progress rows rebuilt, so the next completion is judged right.
    """
    with transaction.atomic(using=using, savepoint=False):
        lock_student(instance.student_id, using=using)
        rederive_chain(instance.student_id, instance.activity_id, instance.course_id, using=using)
