"""Writing outbox rows in the caller's transaction: what Timeback must hear, with the data it describes.

Called by the gradebook operations inside their transactions. Caliper events
are snapshotted when enqueued: a sent event can never change, so a correction
is a new event. Line items and results are built when sent, from the current
database state, so a re-sync always PUTs the latest values under the same
sourcedId. Every write asks a worker to deliver once the transaction commits.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import xp as xp_rules
from ..conf import app_settings
from ..models import Attempt, Delivery
from ..timeback import caliper
from . import held, kick, windows
from .keys import line_item_key, result_key


def _event_row(event, attempt, result=None):
    """A Caliper event's row: pending, or held when Timeback cannot take it yet (``held``: no email)."""
    row = Delivery(kind=Delivery.Kind.CALIPER_EVENT, key=event["id"], payload=event, attempt=attempt, result=result)
    return held.hold_if_needed(row)


def write(rows, *, resync=()):
    """Insert rows; a key that already has a waiting row is folded into it.

    ``resync``: keys whose new content must go out now even if they fold into
    a row that waits in a long backoff (it gets a fresh start).
    """
    if rows:
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        if resync:
            Delivery.objects.waiting().filter(key__in=list(resync)).update(
                next_attempt_at=timezone.now(), attempts=0, updated_at=timezone.now()
            )
        kick.after_commit()


# Open attempts holding seconds not yet announced (the partial index tbp_attempt_unsent_time).
UNSENT_TIME = Q(completed_at__isnull=True) & (
    Q(active_seconds__gt=F("reported_active_seconds")) | Q(inactive_seconds__gt=F("reported_inactive_seconds"))
)


def window_length(unsent):
    """``TIME_WINDOW_SECONDS``, or longer when ``unsent`` seconds would need more than ``TIME_WINDOWS_PER_FLUSH`` windows.

    Live reports flush a minute or so at a time: a handful of windows of the
    vendor's 15 s. A backfill (a recorded hour-long attempt, a day of time
    reported at once) would otherwise write one outbox row per 15 s of it;
    its windows grow instead, so a flush costs at most that many rows.
    """
    per_flush = app_settings.TIME_WINDOWS_PER_FLUSH
    return max(app_settings.TIME_WINDOW_SECONDS, -(-unsent // per_flush))


def time_rows(attempt, *, at=None, threshold=0):
    """TimeSpentEvents for the seconds of ``attempt`` not yet reported, if any, one per time window.

    Nothing while fewer than ``threshold`` seconds (active + inactive) are
    unsent. The seconds were spent between the end of the last window sent
    (``time_reported_until``; the start of the attempt before the first) and
    the flush: ``at``, else the completion, else now. ``windows.split_seconds``
    cuts that span into windows of at most ``TIME_WINDOW_SECONDS`` and places
    the seconds in them, so time lands on the day it was spent. Marks the
    seconds reported on the instance; the caller saves the
    ``Attempt.TIME_REPORT_FIELDS`` in the same transaction as the rows, so each
    second is announced once, in a window whose id is fixed by the attempt and
    the window's number.
    """
    delta_active = max(0, attempt.active_seconds - attempt.reported_active_seconds)
    delta_inactive = max(0, attempt.inactive_seconds - attempt.reported_inactive_seconds)
    if delta_active + delta_inactive <= 0 or delta_active + delta_inactive < threshold:
        return []
    flushed_at = at or attempt.completed_at or timezone.now()
    cut = windows.split_seconds(
        attempt.time_reported_until or attempt.started_at, flushed_at, delta_active, delta_inactive,
        length=window_length(delta_active + delta_inactive), cap=caliper.MAX_SECONDS_PER_METRIC,
    )
    rows = []
    for window in cut:
        event = caliper.time_spent_event(
            attempt, active_seconds=window.active, inactive_seconds=window.inactive, window=attempt.time_events_sent,
            start=window.start, end=window.end,
        )
        rows.append(_event_row(event, attempt))
        attempt.time_events_sent += 1
    attempt.time_reported_until = cut[-1].end
    attempt.reported_active_seconds = attempt.active_seconds
    attempt.reported_inactive_seconds = attempt.inactive_seconds
    return rows


def enqueue_time(attempt, *, force=False):
    """Announce the unsent time of an open attempt once a window is full (or now, with ``force``).

    The caller holds the attempt's row lock (``gradebook.attempts.add_time``), so the
    seconds read are the seconds written.
    """
    rows = time_rows(attempt, threshold=0 if force else app_settings.TIME_FLUSH_SECONDS)
    if rows:
        _save_time_reported(attempt)
        write(rows)
    return len(rows)


def _save_time_reported(attempt, *, window=None):
    """Store what ``time_rows`` marked; with ``window``, only if no one flushed meanwhile (fenced)."""
    rows = Attempt.objects.filter(pk=attempt.pk)
    if window is not None:
        rows = rows.filter(time_events_sent=window)
    return rows.update(**{f: getattr(attempt, f) for f in Attempt.TIME_REPORT_FIELDS})


def flush_idle_time(*, now=None, limit=None):
    """Announce the unsent time of open attempts with no report for ``TIME_FLUSH_SECONDS``.

    Run by the delivery task (so by the sweeper every minute): time of an
    attempt that is never completed still reaches Timeback, a window later.
    Locked attempts (a report in flight) are skipped and caught next time.
    Returns the number of TimeSpentEvents written.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=app_settings.TIME_FLUSH_SECONDS)
    using = router.db_for_write(Attempt)
    with transaction.atomic(using=using):
        idle = (
            Attempt.objects.using(using).filter(UNSENT_TIME, updated_at__lte=cutoff)
            .select_related("student", "activity__course")
            .order_by("updated_at")
        )
        if connections[using].features.has_select_for_update_skip_locked:
            idle = idle.select_for_update(skip_locked=True, of=("self",))
        rows = []
        for attempt in idle[: limit or app_settings.CLAIM_SIZE]:
            window = attempt.time_events_sent
            made = time_rows(attempt, at=attempt.updated_at)  # when the seconds were reported
            # Fenced: a report that landed since the read has flushed or will flush itself.
            if made and _save_time_reported(attempt, window=window):
                rows.extend(made)
        write(rows)
    return len(rows)


def line_item_rows(activity):
    """The activity's line item, the first time one of its results is sent."""
    if activity.line_item_queued:
        return []
    type(activity).objects.filter(pk=activity.pk).update(line_item_queued=True)
    activity.line_item_queued = True
    return [Delivery(kind=Delivery.Kind.LINE_ITEM, key=line_item_key(activity), payload={"create": True})]


def enqueue_line_item(activity):
    """Re-send an activity's line item (after its title or status changed), once Timeback has it."""
    if app_settings.CALIPER_PROCESS or not activity.line_item_queued:
        return
    key = line_item_key(activity)
    write([Delivery(kind=Delivery.Kind.LINE_ITEM, key=key)], resync=[key])


@dataclass
class Derived:
    """What the derivation did to one completed attempt, for ``rows_for_attempts``.

    ``state`` is what ``gradebook.results.sync_results`` did to its result
    ("created", "updated" or "unchanged"); ``xp_before`` and
    ``mastered_before`` are the figures Timeback already holds for it;
    ``course_mastered`` the student's mastered units in the course after the
    change (for ``pctCompleteApp``; None: not known, not sent).
    """

    attempt: Attempt
    result: object
    state: str
    xp_before: Decimal = Decimal(0)
    mastered_before: int = 0
    course_mastered: int | None = None


def rows_for_attempts(changes):
    """Outbox rows for what ``gradebook.derivation`` derived (a list of ``Derived``, not yet written).

    A newly completed attempt sends its line item (once per activity), its
    result, its ActivityEvent and TimeSpentEvents for unreported time. A
    re-derived one re-sends its result and, when its XP or mastered units
    moved, a correction event carrying the differences (sent events never change).
    """
    rows, resync = [], []
    # With CALIPER_PROCESS Timeback builds the gradebook from the events: writing it too would duplicate it.
    gradebook = not app_settings.CALIPER_PROCESS
    for change in changes:
        item, result, state = change.attempt, change.result, change.state
        # Seconds not yet announced go out whatever else changed (an edit may add time after completion).
        rows.extend(time_rows(item))
        if state == "unchanged":
            continue
        percent = _course_percent(item, change.course_mastered)
        if state == "created":
            if gradebook:
                rows.extend(line_item_rows(item.activity))
            rows.append(_event_row(caliper.activity_event(item, pct_complete=percent), item, result))
        elif change.xp_before != item.xp_earned or change.mastered_before != item.mastered_units:
            rows.append(_correction_row(item, result, change, percent))
        if gradebook:
            # A new result was never acknowledged: every try creates it (POST; 409 -> PUT) instead of PUT -> 404 -> POST.
            hint = {"create": True} if state == "created" else {}
            rows.append(Delivery(kind=Delivery.Kind.RESULT, key=result_key(result), result=result, attempt=item, payload=hint))
            if state == "updated":
                resync.append(result_key(result))
    return rows, resync


def _course_percent(attempt, course_mastered):
    if course_mastered is None:
        return None
    return xp_rules.course_percent(course_mastered, attempt.activity.course.masterable_units)


def _correction_row(attempt, result, change, percent):
    """A correction event: the differences of XP and mastered units; its id is the attempt's n-th correction.

    Counts ``attempt.xp_corrections_sent`` up on the instance (saved with the
    derived fields), so the id is fixed by the attempt and the correction's
    number: a resend never counts twice.
    """
    number = attempt.xp_corrections_sent
    attempt.xp_corrections_sent = number + 1
    event = caliper.correction_event(
        attempt,
        xp_delta=attempt.xp_earned - change.xp_before,
        mastered_delta=attempt.mastered_units - change.mastered_before,
        event_id=attempt.derived_uuid(f"xp-correction/{number}"),
        event_time=timezone.now(),
        pct_complete=percent,
    )
    return _event_row(event, attempt, result)


def enqueue_result(result):
    """Re-send a result as it stands now (admin "re-sync", score corrections)."""
    if app_settings.CALIPER_PROCESS:
        return
    key = result_key(result)
    write([Delivery(kind=Delivery.Kind.RESULT, key=key, result=result, attempt_id=result.attempt_id)], resync=[key])
