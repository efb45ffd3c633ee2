"""Delivering the outbox: claim due rows under a lease, send them, record each row's fate.

``deliver_due`` loops claim -> send -> record in chunks, so memory stays flat
however long the backlog. A claim sends line items first (the results that
refer to them wait for them), then Caliper events batched into envelopes and
result upserts side by side in a pool of threads. Delivery is at-least-once
with stable ids; ``outcome`` decides between sent, retrying and dead
(or held: an event whose student has no email, see ``held``).

A failed token fetch or a rejected credential (``AuthError``) stops the run:
the claim's unsent rows, and those of the run's later claims, go back to
retrying with backoff without a request of their own, so a wrong secret
costs one token request per run, not one per row.
"""

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.db import connections, router, transaction
from django.db.models import Q
from django.utils import timezone

from ..conf import app_settings
from ..models import Activity, Delivery
from ..timeback import errors, gradebook
from ..timeback.client import get_client
from . import completion, held
from .keys import line_item_key_of, sourced_id
from .outcome import Outcome, Summary

logger = logging.getLogger("timeback_progress.delivery")

# A result whose line item is not in Timeback yet waits this long, or until
# that line item is sent (which releases it at once).
DEFER_SECONDS = 30


def claim(limit, *, now=None, due_by=None):
    """Claim up to ``limit`` due rows for this worker; returns them (line items first).

    Where the database can, rows locked by another worker are skipped rather
    than waited for; the conditional UPDATE is the claim itself, so two
    workers never both own a row (SQLite serialises writers). ``due_by``: only
    rows due by then (default: now).
    """
    now = now or timezone.now()
    due_by = due_by or now
    token = uuid.uuid4().hex
    lease = now + timedelta(seconds=app_settings.LEASE_SECONDS)
    using = router.db_for_write(Delivery)
    with transaction.atomic(using=using):
        candidates = Delivery.objects.using(using).due(due_by).order_by("next_attempt_at", "id")
        if connections[using].features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        Delivery.objects.using(using).due(due_by).filter(id__in=ids).update(
            status=Delivery.State.SENDING, claimed_by=token, leased_until=lease, updated_at=now
        )
    rows = list(
        Delivery.objects.using(using).filter(claimed_by=token, status=Delivery.State.SENDING)
        .select_related("result__student")
    )
    order = {Delivery.Kind.LINE_ITEM: 0, Delivery.Kind.RESULT: 1, Delivery.Kind.CALIPER_EVENT: 2}
    rows.sort(key=lambda row: (order[row.kind], row.id))
    return rows


def seconds_until_next_due():
    """Seconds until the next waiting or leased row falls due (None: nothing waits)."""
    now = timezone.now()
    waiting = Delivery.objects.waiting().order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    leased = Delivery.objects.filter(status=Delivery.State.SENDING).order_by("leased_until").values_list("leased_until", flat=True).first()
    times = [t for t in (waiting, leased) if t is not None]
    return max(0.0, (min(times) - now).total_seconds()) if times else None


def deliver_due(*, limit=None, client=None, progress=None):
    """Deliver everything due now; returns a ``Summary``.

    Loops claim -> send -> record until nothing is due (or ``limit`` rows were
    handled), so memory stays flat however long the backlog. Does nothing when
    sync is disabled.
    """
    total = Summary()
    if not app_settings.SYNC_ENABLED:
        return total
    held.release_ready()  # students given an email by a write no signal told of
    client = client or get_client()
    due_by = None  # set at a stop: rows failed since are not claimed again in this run
    while limit is None or total.handled < limit:
        size = app_settings.CLAIM_SIZE if limit is None else min(app_settings.CLAIM_SIZE, limit - total.handled)
        started = timezone.now()
        rows = claim(size, now=started, due_by=due_by)
        if not rows:
            break
        # After a stop, the run's later claims go back to retrying at once: the credentials will not work now.
        total.add(send_rows(rows, client, stopped=total.stopped))
        if total.stopped is not None and due_by is None:
            due_by = started
        if progress:
            progress(total)
        if total.handled and total.sent == 0 and total.deferred == total.handled:
            break  # only rows waiting on their line items: let them come round again
    return total


def send_rows(rows, client, *, stopped=None):
    """Send one claim's rows and record what happened to each.

    ``stopped``: an earlier claim's token or credential failure; these rows
    then fail with it, unsent.
    """
    outcome = Outcome(timezone.now(), rows[0].claimed_by)
    earlier = stopped is not None
    if not earlier:
        try:
            client.auth.get_token()  # renew here, not in a sender thread, when it is due
        except errors.TimebackError as exc:
            stopped = exc  # one failed token fetch ends the claim: no row fetches one of its own
    line_items = [r for r in rows if r.kind == Delivery.Kind.LINE_ITEM]
    results = [r for r in rows if r.kind == Delivery.Kind.RESULT]
    # An event whose student has no email would be refused: held instead (rows older than holding at the source).
    events = held.fill_or_hold([r for r in rows if r.kind == Delivery.Kind.CALIPER_EVENT], outcome)
    if stopped is not None:
        outcome.stop(stopped, announce=not earlier)
        for row in (*line_items, *results, *events):
            outcome.fail(row, stopped)
        return outcome.save()
    with ThreadPoolExecutor(max_workers=app_settings.SEND_CONCURRENCY) as pool:
        _wait(_put_all(pool, client.put_line_item, [(r, _body(_line_item_body, r, outcome)) for r in line_items], outcome))
        _release_results_of(outcome.sent)
        ready, waiting = _results_ready(results, outcome)
        for row in waiting:
            outcome.defer(row, seconds=DEFER_SECONDS)
        # Results and event envelopes are independent: keep the pool full with both.
        size = app_settings.BATCH_SIZE
        send = _in_thread(_send_batch)
        futures = [pool.submit(send, client, events[i : i + size], outcome) for i in range(0, len(events), size)]
        futures += _put_all(pool, client.put_result, [(r, _body(_result_body, r, outcome)) for r in ready], outcome)
        _wait(futures)
    return outcome.save()


def _wait(futures):
    for future in futures:
        future.result()


def _put_all(pool, put, items, outcome):
    """Submit one upsert per row; returns the futures."""

    @_in_thread
    def one(row, body):
        if body is None:
            outcome.fail(row, errors.PermanentError("nothing to send: its record no longer exists"))
            return
        if outcome.stopped is not None:
            outcome.fail(row, outcome.stopped)
            return
        try:
            put(body, create_first=bool(row.payload.get("create")))
        except errors.AuthError as exc:
            outcome.stop(exc)
            outcome.fail(row, exc)
        except errors.TimebackError as exc:
            outcome.fail(row, exc)
        except Exception as exc:  # never let one row stall the claim
            outcome.fail(row, _unexpected(exc))
        else:
            outcome.ok(row, 200)
        outcome.request()

    return [pool.submit(one, row, body) for row, body in items if body is not _FAILED]


_FAILED = object()


def _body(build, row, outcome):
    """Build a row's body; a failure is that row's (retriable) failure, not the claim's."""
    try:
        return build(row)
    except Exception as exc:
        outcome.fail(row, _unexpected(exc))
        return _FAILED


def _unexpected(exc):
    logger.exception("outbox: unexpected %s", type(exc).__name__)
    return errors.RetriableError(f"unexpected {type(exc).__name__} (see the worker's log)")


def _in_thread(function):
    """Sender threads do no database work, but a token renewal reads the shared
    cache (maybe a database cache): close what the thread opened."""

    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return run


def _release_results_of(sent):
    """Results that waited on a line item just sent are due now, not after their wait."""
    ids = [sourced_id(r.key) for r in sent if r.kind == Delivery.Kind.LINE_ITEM]
    if ids:
        Delivery.objects.filter(
            Q(result__line_item_sourced_id__in=ids) | Q(payload__completion__lineItem__in=ids),
            kind=Delivery.Kind.RESULT, status=Delivery.State.PENDING,
        ).update(next_attempt_at=timezone.now())


def body(row):
    """The body this row's request carries, built exactly as ``send_rows`` builds it, from the database now.

    Line items and results store a reference, not a body (so a row sent late
    sends the current state): this is what the admin shows as the row's body.
    A Caliper event is stored whole and sent as it is, in an envelope with
    others. ``None``: its record no longer exists (the row would fail).
    """
    if row.kind == Delivery.Kind.LINE_ITEM:
        return _line_item_body(row)
    if row.kind == Delivery.Kind.RESULT:
        return _result_body(row)
    return row.payload


def _line_item_body(row):
    if completion.is_completion(row):  # the course's completion line item, not an activity's
        return completion.line_item_body(row)
    activity = Activity.objects.select_related("course").filter(line_item_sourced_id=sourced_id(row.key)).first()
    return gradebook.line_item_body(activity) if activity else None


def _result_body(row):
    if completion.is_completion(row):  # a student's course completion, built from their progress now
        return completion.result_body(row)
    return gradebook.result_body(row.result) if row.result_id else None


def _results_ready(results, outcome):
    """Split results into those whose line item Timeback has, and those to wait.

    A line item sent in this claim or before counts; one that is dead (or has
    no row) does not hold its results back: Timeback will say what is wrong.
    """
    sent_now = {r.key for r in outcome.sent if r.kind == Delivery.Kind.LINE_ITEM}
    needed = {line_item_key_of(r) for r in results} - sent_now - {None}
    pending, sent = set(), set()
    if needed:
        for key, status in Delivery.objects.filter(key__in=needed).values_list("key", "status"):
            if status == Delivery.State.SENT:
                sent.add(key)
            elif status in (*Delivery.WAITING, Delivery.State.SENDING):
                pending.add(key)
    blocked = pending - sent
    ready, waiting = [], []
    for row in results:
        (waiting if line_item_key_of(row) in blocked else ready).append(row)
    return ready, waiting


def _send_batch(client, rows, outcome):
    """POST one envelope; on a rejection, set the named bad events aside and resend the rest.

    When the server names no event, the batch is halved until the bad ones
    stand alone, so one bad event never blocks the others.
    """
    if not rows:
        return
    if outcome.stopped is not None:
        for row in rows:
            outcome.fail(row, outcome.stopped)
        return
    outcome.request()
    try:
        client.send_events([row.payload for row in rows])
    except errors.PermanentError as exc:
        bad = exc.invalid_event_ids
        named = [r for r in rows if r.key in bad]
        if named:
            messages = {e.get("id"): e.get("message") for e in exc.errors}
            for row in named:
                outcome.fail(row, errors.PermanentError(messages.get(row.key) or exc.message, status=exc.status))
            _send_batch(client, [r for r in rows if r.key not in bad], outcome)
        elif len(rows) == 1:
            outcome.fail(rows[0], exc)
        else:
            half = len(rows) // 2
            _send_batch(client, rows[:half], outcome)
            _send_batch(client, rows[half:], outcome)
    except errors.TimebackError as exc:
        if isinstance(exc, errors.AuthError):
            outcome.stop(exc)
        for row in rows:
            outcome.fail(row, exc)
    except Exception as exc:  # never let one envelope stall the claim
        error = _unexpected(exc)
        for row in rows:
            outcome.fail(row, error)
    else:
        for row in rows:
            outcome.ok(row, 200)
