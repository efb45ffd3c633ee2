"""The sync outbox: rows written with the data they describe, delivered later.

Write side (``enqueue_*``, ``rows_for_attempts``): called by ``gradebook``
inside their transactions. Caliper events are snapshotted when enqueued: a sent
event can never change, so a correction is a new event. Line items and results
are built when sent, from the current database state, so a re-sync always PUTs
the latest values under the same sourcedId.

Send side (``deliver_due``): claim due rows in chunks under a lease, send
events batched into envelopes and PUT line items (before the results that
refer to them) and results, then record each row's fate: sent, retrying with
capped exponential backoff and jitter (honouring ``Retry-After``), or dead
with the server's message. Delivery is at-least-once with stable ids.
"""

import logging
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from .conf import app_settings
from .models import Activity, Attempt, Delivery
from .timeback import caliper, errors, gradebook

logger = logging.getLogger("timeback_progress.delivery")

WAITING = (Delivery.State.PENDING, Delivery.State.RETRYING)
# A result whose line item is not in Timeback yet waits this long, or until
# that line item is sent (which releases it at once).
DEFER_SECONDS = 30


def line_item_key(activity):
    return f"lineitem:{activity.line_item_sourced_id}"


def result_key(result):
    return f"result:{result.sourced_id}"


def _event_row(event, attempt, result=None):
    return Delivery(kind=Delivery.Kind.CALIPER_EVENT, key=event["id"], payload=event, attempt=attempt, result=result)


def write(rows, *, resync=()):
    """Insert rows; a key that already has a waiting row is folded into it.

    ``resync``: keys whose new content must go out now even if they fold into
    a row that waits in a long backoff (it gets a fresh start).
    """
    if rows:
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        if resync:
            Delivery.objects.filter(key__in=list(resync), status__in=WAITING).update(
                next_attempt_at=timezone.now(), attempts=0, updated_at=timezone.now()
            )
        kick_after_commit()


def kick_after_commit():
    """Ask a worker to deliver once the current transaction commits."""
    from . import tasks

    transaction.on_commit(tasks.kick)


# Open attempts holding seconds not yet announced (the partial index tbp_attempt_unsent_time).
UNSENT_TIME = Q(completed_at__isnull=True) & (
    Q(active_seconds__gt=F("reported_active_seconds")) | Q(inactive_seconds__gt=F("reported_inactive_seconds"))
)


def time_rows(attempt, *, at=None, threshold=0):
    """TimeSpentEvents for the seconds of ``attempt`` not yet reported, if any.

    Nothing while fewer than ``threshold`` seconds (active + inactive) are
    unsent. Marks them reported on the instance; the caller saves the
    ``Attempt.TIME_REPORT_FIELDS`` in the same transaction as the rows, so each second
    is announced once, in a window whose id is fixed by the attempt and the
    window's number. A window carries at most ``caliper.MAX_SECONDS_PER_METRIC`` per
    metric (Timeback's cap), so a larger backlog takes several.
    """
    delta_active = max(0, attempt.active_seconds - attempt.reported_active_seconds)
    delta_inactive = max(0, attempt.inactive_seconds - attempt.reported_inactive_seconds)
    if delta_active + delta_inactive <= 0 or delta_active + delta_inactive < threshold:
        return []
    rows = []
    event_time = at or attempt.completed_at or timezone.now()
    while delta_active > 0 or delta_inactive > 0:
        active, inactive = min(delta_active, caliper.MAX_SECONDS_PER_METRIC), min(delta_inactive, caliper.MAX_SECONDS_PER_METRIC)
        event = caliper.time_spent_event(
            attempt, active_seconds=active, inactive_seconds=inactive, window=attempt.time_events_sent, event_time=event_time
        )
        rows.append(_event_row(event, attempt))
        attempt.time_events_sent += 1
        delta_active, delta_inactive = delta_active - active, delta_inactive - inactive
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
    with transaction.atomic():
        idle = (
            Attempt.objects.filter(UNSENT_TIME, updated_at__lte=cutoff)
            .select_related("student", "activity__course")
            .order_by("updated_at")
        )
        if connection.features.has_select_for_update_skip_locked:
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


def rows_for_attempts(changes):
    """Outbox rows for what ``gradebook.derivation`` derived (not yet written).

    ``changes`` is a list of ``(attempt, result, state, xp_before)`` where state
    is what ``gradebook.results.sync_results`` did to the result. A newly
    completed attempt sends its line item (once per activity), its result, its
    ActivityEvent and a TimeSpentEvent for unreported time. A re-derived one
    re-sends its result and, when its XP moved, an ActivityEvent carrying the
    difference (Timeback's way to correct XP).
    """
    rows, resync = [], []
    # With CALIPER_PROCESS Timeback builds the gradebook from the events: writing it too would duplicate it.
    gradebook = not app_settings.CALIPER_PROCESS
    for item, result, state, xp_before in changes:
        # Seconds not yet announced go out whatever else changed (an edit may add time after completion).
        rows.extend(time_rows(item))
        if state == "unchanged":
            continue
        if state == "created":
            if gradebook:
                rows.extend(line_item_rows(item.activity))
            rows.append(_event_row(caliper.activity_event(item), item, result))
        elif xp_before != item.xp_earned:
            rows.append(_xp_delta_row(item, result, xp_before))
        if gradebook:
            # A new result was never sent: the first try creates it (POST) instead of PUT -> 404 -> POST.
            hint = {"create": True} if state == "created" else {}
            rows.append(Delivery(kind=Delivery.Kind.RESULT, key=result_key(result), result=result, attempt=item, payload=hint))
            if state == "updated":
                resync.append(result_key(result))
    return rows, resync


def _xp_delta_row(attempt, result, xp_before):
    """An ActivityEvent carrying only the XP difference; its id is the attempt's n-th correction.

    Counts ``attempt.xp_corrections_sent`` up on the instance (saved with the
    derived fields), so the id is fixed by the attempt and the correction's
    number: a resend never counts twice.
    """
    number = attempt.xp_corrections_sent
    attempt.xp_corrections_sent = number + 1
    # Only the XP moves: question counts were announced with the attempt and must not count twice.
    event = caliper.activity_event(
        attempt, xp_earned=attempt.xp_earned - xp_before, mastered_units=0,
        event_id=attempt.derived_uuid(f"xp-correction/{number}"), event_time=timezone.now(),
        total_questions=0, correct_questions=0,
    )
    # Never for Timeback to process: it would replace the attempt's result with the difference.
    event["object"].pop("process", None)
    return _event_row(event, attempt, result)


def enqueue_result(result):
    """Re-send a result as it stands now (admin "re-sync", score corrections)."""
    if app_settings.CALIPER_PROCESS:
        return
    key = result_key(result)
    write([Delivery(kind=Delivery.Kind.RESULT, key=key, result=result, attempt_id=result.attempt_id)], resync=[key])


# -- send side ----------------------------------------------------------------


COUNTERS = ("sent", "retrying", "dead", "deferred", "superseded", "requests")


@dataclass
class Summary:
    """What one ``deliver_due`` run did (also the ``timeback_sync`` report)."""

    sent: int = 0
    retrying: int = 0
    dead: int = 0
    deferred: int = 0
    superseded: int = 0
    requests: int = 0
    errors: list = field(default_factory=list)

    def add(self, other):
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors[: 20 - len(self.errors)])
        return self

    @property
    def handled(self):
        return self.sent + self.retrying + self.dead + self.deferred + self.superseded

    def as_dict(self):
        return {name: getattr(self, name) for name in COUNTERS}


def due(now=None):
    """Rows a worker may claim now: waiting and due, or sending with an expired lease."""
    now = now or timezone.now()
    return Delivery.objects.filter(
        Q(status__in=WAITING, next_attempt_at__lte=now) | Q(status=Delivery.State.SENDING, leased_until__lt=now)
    )


def claim(limit, *, now=None):
    """Claim up to ``limit`` due rows for this worker; returns them (line items first).

    Where the database can, rows locked by another worker are skipped rather
    than waited for; the conditional UPDATE is the claim itself, so two
    workers never both own a row (SQLite serialises writers).
    """
    now = now or timezone.now()
    token = uuid.uuid4().hex
    lease = now + timedelta(seconds=app_settings.LEASE_SECONDS)
    with transaction.atomic():
        candidates = due(now).order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        due(now).filter(id__in=ids).update(
            status=Delivery.State.SENDING, claimed_by=token, leased_until=lease, updated_at=now
        )
    rows = list(
        Delivery.objects.filter(claimed_by=token, status=Delivery.State.SENDING).select_related("result__student")
    )
    order = {Delivery.Kind.LINE_ITEM: 0, Delivery.Kind.RESULT: 1, Delivery.Kind.CALIPER_EVENT: 2}
    rows.sort(key=lambda row: (order[row.kind], row.id))
    return rows


def backoff(attempts, retry_after=None):
    """Seconds before the next try: exponential, capped, with full jitter above half."""
    base = app_settings.BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)
    delay = min(app_settings.BACKOFF_MAX_SECONDS, base)
    delay = random.uniform(delay / 2, delay)
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), app_settings.BACKOFF_MAX_SECONDS))
    return delay


class Outcome:
    """Collects the fate of each row of a claim, then writes it.

    Every write is fenced by the claim token: a worker whose lease ran out
    (and whose rows another worker took over) changes nothing.
    """

    def __init__(self, now, token):
        self.now = now
        self.token = token
        self.summary = Summary()
        self.sent, self.failed, self.deferred = [], [], []
        self.lock = threading.Lock()  # sender threads report here

    def request(self):
        with self.lock:
            self.summary.requests += 1

    def ok(self, row, status):
        row.response_status = status
        with self.lock:
            self.sent.append(row)

    def fail(self, row, error):
        with self.lock:
            self._fail(row, error)

    def _fail(self, row, error):
        row.response_status = error.status
        row.last_error = str(error)[:2000]
        retriable = error.retriable or isinstance(error, errors.AuthError)
        if retriable and row.attempts + 1 < app_settings.MAX_ATTEMPTS:
            row.status = Delivery.State.RETRYING
            row.next_attempt_at = self.now + timedelta(seconds=backoff(row.attempts + 1, getattr(error, "retry_after", None)))
        else:
            row.status = Delivery.State.DEAD
            if retriable:
                row.last_error = f"gave up after {row.attempts + 1} attempts: {row.last_error}"[:2000]
        self.failed.append(row)
        if len(self.summary.errors) < 20:
            self.summary.errors.append(f"{row.kind} {row.key}: {row.last_error}")

    def defer(self, row, seconds):
        """Not tried (its line item is not there yet): back in the queue, no attempt used."""
        row.status = Delivery.State.PENDING
        row.next_attempt_at = self.now + timedelta(seconds=seconds)
        self.deferred.append(row)

    def save(self):
        for row in self.failed:
            row.attempts += 1
        for _try in range(3):
            try:
                with transaction.atomic():
                    self._save()
                break
            except IntegrityError:
                # A re-sync for one of these keys was written between the check and
                # the write (one waiting row per key): check again.
                continue
        else:  # pragma: no cover - three races in a row; the leases bring the rows back
            logger.warning("outbox: could not record a claim's outcome; its rows return when their lease expires")
        s = self.summary
        s.sent += len(self.sent)
        s.dead += sum(1 for r in self.failed if r.status == Delivery.State.DEAD)
        s.retrying += sum(1 for r in self.failed if r.status == Delivery.State.RETRYING)
        s.deferred += sum(1 for r in self.deferred if r.status == Delivery.State.PENDING)
        s.superseded += sum(1 for r in (*self.failed, *self.deferred) if r.status == Delivery.State.SUPERSEDED)
        return s

    def _save(self):
        now = timezone.now()
        mine = Delivery.objects.filter(claimed_by=self.token, status=Delivery.State.SENDING)
        released = {"leased_until": None, "claimed_by": "", "updated_at": now}
        by_status = {}
        for row in self.sent:
            by_status.setdefault(row.response_status, []).append(row.id)
        for status, ids in by_status.items():
            mine.filter(id__in=ids).update(
                status=Delivery.State.SENT, sent_at=now, response_status=status,
                attempts=F("attempts") + 1, last_error="", **released,
            )
        waiting = [r for r in (*self.failed, *self.deferred) if r.status in WAITING]
        if waiting:
            # A re-sync enqueued while this row was being sent already waits with
            # newer values: this older row steps aside instead of clashing with it.
            taken = set(
                Delivery.objects.filter(key__in=[r.key for r in waiting], status__in=WAITING)
                .exclude(id__in=[r.id for r in waiting])
                .values_list("key", flat=True)
            )
            for row in waiting:
                if row.key in taken:
                    row.status = Delivery.State.SUPERSEDED
        for row in self.failed:
            mine.filter(id=row.id).update(
                status=row.status, next_attempt_at=row.next_attempt_at, attempts=row.attempts,
                last_error=row.last_error, response_status=row.response_status, **released,
            )
        deferred = [r.id for r in self.deferred if r.status == Delivery.State.PENDING]
        if deferred:
            mine.filter(id__in=deferred).update(
                status=Delivery.State.PENDING, next_attempt_at=self.deferred[0].next_attempt_at, **released
            )
        superseded = [r.id for r in self.deferred if r.status == Delivery.State.SUPERSEDED]
        if superseded:
            mine.filter(id__in=superseded).update(status=Delivery.State.SUPERSEDED, **released)


def seconds_until_next_due():
    """Seconds until the next waiting or leased row falls due (None: nothing waits)."""
    now = timezone.now()
    waiting = Delivery.objects.filter(status__in=WAITING).order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
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
    from .timeback.client import get_client

    client = client or get_client()
    while limit is None or total.handled < limit:
        size = app_settings.CLAIM_SIZE if limit is None else min(app_settings.CLAIM_SIZE, limit - total.handled)
        rows = claim(size)
        if not rows:
            break
        total.add(send_rows(rows, client))
        if progress:
            progress(total)
        if total.handled and total.sent == 0 and total.deferred == total.handled:
            break  # only rows waiting on their line items: let them come round again
    return total


def send_rows(rows, client):
    """Send one claim's rows and record what happened to each."""
    outcome = Outcome(timezone.now(), rows[0].claimed_by)
    try:
        client.auth.get_token()  # renew here, not in a sender thread, when it is due
    except errors.TimebackError:
        pass  # each request will fail with it and be recorded
    line_items = [r for r in rows if r.kind == Delivery.Kind.LINE_ITEM]
    results = [r for r in rows if r.kind == Delivery.Kind.RESULT]
    events = [r for r in rows if r.kind == Delivery.Kind.CALIPER_EVENT]
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
        try:
            put(body, create_first=row.attempts == 0 and bool(row.payload.get("create")))
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
    ids = [r.key.split(":", 1)[1] for r in sent if r.kind == Delivery.Kind.LINE_ITEM]
    if ids:
        Delivery.objects.filter(
            kind=Delivery.Kind.RESULT, status=Delivery.State.PENDING, result__line_item_sourced_id__in=ids
        ).update(next_attempt_at=timezone.now())


def _line_item_body(row):
    sourced_id = row.key.split(":", 1)[1]
    activity = Activity.objects.select_related("course").filter(line_item_sourced_id=sourced_id).first()
    return gradebook.line_item_body(activity) if activity else None


def _result_body(row):
    return gradebook.result_body(row.result) if row.result_id else None


def _results_ready(results, outcome):
    """Split results into those whose line item Timeback has, and those to wait.

    A line item sent in this claim or before counts; one that is dead (or has
    no row) does not hold its results back: Timeback will say what is wrong.
    """
    sent_now = {r.key for r in outcome.sent if r.kind == Delivery.Kind.LINE_ITEM}
    needed = {line_item_key_of(r) for r in results if r.result_id} - sent_now
    pending, sent = set(), set()
    if needed:
        for key, status in Delivery.objects.filter(key__in=needed).values_list("key", "status"):
            if status == Delivery.State.SENT:
                sent.add(key)
            elif status in (*WAITING, Delivery.State.SENDING):
                pending.add(key)
    blocked = pending - sent
    ready, waiting = [], []
    for row in results:
        (waiting if row.result_id and line_item_key_of(row) in blocked else ready).append(row)
    return ready, waiting


def line_item_key_of(result_row):
    return f"lineitem:{result_row.result.line_item_sourced_id}"


def _send_batch(client, rows, outcome):
    """POST one envelope; on a rejection, set the named bad events aside and resend the rest.

    When the server names no event, the batch is halved until the bad ones
    stand alone, so one bad event never blocks the others.
    """
    if not rows:
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
        for row in rows:
            outcome.fail(row, exc)
    except Exception as exc:  # never let one envelope stall the claim
        error = _unexpected(exc)
        for row in rows:
            outcome.fail(row, error)
    else:
        for row in rows:
            outcome.ok(row, 200)
