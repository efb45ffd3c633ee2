"""What became of each row of a claim: sent, retrying after a backoff, dead, deferred, superseded or held.

Rows are sent by threads that do no database work; their fates are
collected here and written at the end, each write fenced by the claim token.
"""

import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, router, transaction
from django.db.models import F
from django.utils import timezone

from ..conf import app_settings
from ..models import Delivery
from ..timeback import errors, redaction

logger = logging.getLogger("timeback_progress.delivery")

COUNTERS = ("sent", "retrying", "dead", "deferred", "superseded", "held", "requests")


@dataclass
class Summary:
    """What one ``deliver_due`` run did (also the ``timeback_sync`` report)."""

    sent: int = 0
    retrying: int = 0
    dead: int = 0
    deferred: int = 0
    superseded: int = 0
    held: int = 0  # events set aside until their student has an email (``held``)
    requests: int = 0
    errors: list = field(default_factory=list)
    # The token or credential failure that stopped the run (``sending``), or None.
    stopped: object = None

    def add(self, other):
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors[: 20 - len(self.errors)])
        self.stopped = self.stopped or other.stopped
        return self

    @property
    def handled(self):
        return self.sent + self.retrying + self.dead + self.deferred + self.superseded + self.held

    def as_dict(self):
        return {name: getattr(self, name) for name in COUNTERS}


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
        self.sent, self.failed, self.deferred, self.held = [], [], [], []
        self.lock = threading.Lock()  # sender threads report here
        # A token or credential failure: the claim's rows not yet sent fail with it, unsent.
        self.stopped = None

    def request(self):
        with self.lock:
            self.summary.requests += 1

    def stop(self, error, *, announce=True):
        """End the claim's sends: no token, or the credentials were refused, so every further request would fail too."""
        with self.lock:
            if self.stopped is None:
                self.stopped = self.summary.stopped = error
                if announce:
                    logger.warning("outbox: sending stopped, rows go back to retrying: %s", error)

    def ok(self, row, status):
        row.response_status = status
        with self.lock:
            self.sent.append(row)

    def fail(self, row, error):
        with self.lock:
            self._fail(row, error)

    def _fail(self, row, error):
        row.response_status = error.status
        # Already redacted where the server's words came in; once more against the configured secret, in any encoding.
        row.last_error = redaction.redact_configured(str(error))[:2000]
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

    def hold(self, row, reason):
        """Not sent and no attempt used: it waits, held, until its data is complete (``held``)."""
        row.status = Delivery.State.HELD
        row.last_error = reason[:2000]
        self.held.append(row)

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
                with transaction.atomic(using=router.db_for_write(Delivery)):
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
        s.held += len(self.held)
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
        waiting = [r for r in (*self.failed, *self.deferred) if r.status in Delivery.WAITING]
        if waiting:
            # A re-sync enqueued while this row was being sent already waits with
            # newer values: this older row steps aside instead of clashing with it.
            taken = set(
                Delivery.objects.waiting().filter(key__in=[r.key for r in waiting])
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
        by_reason = {}
        for row in self.held:
            by_reason.setdefault(row.last_error, []).append(row.id)
        for reason, ids in by_reason.items():
            mine.filter(id__in=ids).update(status=Delivery.State.HELD, last_error=reason, **released)
