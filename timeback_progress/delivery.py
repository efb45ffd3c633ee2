"""The sync outbox: rows written with the data they describe, delivered later.

This module owns the write side (``enqueue_*``, called by ``services`` inside
their transactions). Caliper events are snapshotted when enqueued: a sent event
can never change, so a correction is a new event. Line items and results are
built when sent, from the current database state, so a re-sync always PUTs
the latest values under the same sourcedId.
"""

import uuid

from django.db import transaction
from django.utils import timezone

from .models import Attempt, Delivery
from .timeback import caliper

OPEN_STATES = (Delivery.State.PENDING, Delivery.State.SENDING, Delivery.State.RETRYING)


def line_item_key(activity):
    return f"lineitem:{activity.line_item_sourced_id}"


def result_key(result):
    return f"result:{result.sourced_id}"


def _event_row(event, attempt, result=None):
    return Delivery(kind=Delivery.Kind.CALIPER_EVENT, key=event["id"], payload=event, attempt=attempt, result=result)


def write(rows):
    """Insert rows; a key that already has an open row is folded into it."""
    if rows:
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        transaction.on_commit(_kick)


def _kick():
    from . import tasks

    tasks.kick()


def time_rows(attempt, *, at=None):
    """A TimeSpentEvent for the seconds of ``attempt`` not yet reported, if any.

    Marks them reported on the instance; the caller saves the
    ``TIME_REPORT_FIELDS`` in the same transaction as the rows, so each second
    is announced once, in a window with a stable id.
    """
    delta_active = max(0, attempt.active_seconds - attempt.reported_active_seconds)
    delta_inactive = max(0, attempt.inactive_seconds - attempt.reported_inactive_seconds)
    if delta_active <= 0 and delta_inactive <= 0:
        return []
    window = attempt.time_events_sent
    event = caliper.time_spent_event(
        attempt,
        active_seconds=delta_active,
        inactive_seconds=delta_inactive,
        window=window,
        event_time=at or attempt.completed_at or timezone.now(),
    )
    attempt.reported_active_seconds = attempt.active_seconds
    attempt.reported_inactive_seconds = attempt.inactive_seconds
    attempt.time_events_sent = window + 1
    return [_event_row(event, attempt)]


def enqueue_time(attempt):
    """Announce time reported on an open attempt (called by ``services.add_time``)."""
    rows = time_rows(attempt)
    if rows:
        from .services import TIME_REPORT_FIELDS

        Attempt.objects.filter(pk=attempt.pk).update(**{f: getattr(attempt, f) for f in TIME_REPORT_FIELDS})
        write(rows)


def line_item_rows(activity):
    """The activity's line item, the first time one of its results is sent."""
    if activity.line_item_queued:
        return []
    type(activity).objects.filter(pk=activity.pk).update(line_item_queued=True)
    activity.line_item_queued = True
    return [Delivery(kind=Delivery.Kind.LINE_ITEM, key=line_item_key(activity))]


def enqueue_line_item(activity):
    """Re-send an activity's line item (after its title or status changed)."""
    write([Delivery(kind=Delivery.Kind.LINE_ITEM, key=line_item_key(activity))])


def rows_for_attempts(changes):
    """Outbox rows for what ``services.apply_attempt`` derived (not yet written).

    ``changes`` is a list of ``(attempt, result, state, xp_before)`` where state
    is what ``services.sync_results`` did to the result. A newly
    completed attempt sends its line item (once per activity), its result, its
    ActivityEvent and a TimeSpentEvent for unreported time. A re-derived one
    re-sends its result and, when its XP moved, an ActivityEvent carrying the
    difference (Timeback's way to correct XP).
    """
    rows = []
    for item, result, state, xp_before in changes:
        if state == "unchanged":
            continue
        if state == "created":
            rows.extend(line_item_rows(item.activity))
            rows.append(_event_row(caliper.activity_event(item), item, result))
            rows.extend(time_rows(item))
        elif xp_before != item.xp_earned:
            rows.append(_xp_delta_row(item, result, xp_before))
        rows.append(Delivery(kind=Delivery.Kind.RESULT, key=result_key(result), result=result, attempt=item))
    return rows


def _xp_delta_row(attempt, result, xp_before):
    now = timezone.now()
    event_id = uuid.uuid5(attempt.derived_uuid("xp-correction"), f"{xp_before}->{attempt.xp_earned}@{now.isoformat()}")
    event = caliper.activity_event(
        attempt, xp_earned=attempt.xp_earned - xp_before, mastered_units=0, event_id=event_id, event_time=now
    )
    return _event_row(event, attempt, result)


def enqueue_result(result):
    """Re-send a result as it stands now (admin "re-sync")."""
    write([Delivery(kind=Delivery.Kind.RESULT, key=result_key(result), result=result, attempt_id=result.attempt_id)])
