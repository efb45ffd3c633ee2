"""Sync health: whether the outbox is flowing, said plainly, from figures that stay cheap at any size.

Two sources. The outbox itself, but only the statuses that need attention
(waiting, retrying, sending, dead, held: the ``(status, next_attempt_at)``
index serves each, and the millions of sent rows are never counted). And the
sending worker's own report: every delivery run (``tasks.deliver_due``) and
every ``qcluster`` worker start records, in ``SyncState("outbox worker")``,
the settings *it* read (``SYNC_ENABLED``, platform, environment) and when it
last delivered something. The web process's settings may be older or newer
than the worker's (each reads ``.env`` when it starts), and only the worker's
decide whether anything is sent.

``assess`` is the rule, a pure function of those figures: "disabled" when the
worker (or, before any worker reported, this process) has sync off;
"failing" when rows are dead or nothing was delivered for longer than
``ADMIN_SYNC_STALE_MINUTES`` while rows wait that long; "attention" for
retries, held rows, a backlog, or waiting rows with no worker seen lately;
"healthy" only when nothing waits or deliveries succeeded within the window.
"""

import os
import socket
from datetime import timedelta

from django.db import IntegrityError, router, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _, ngettext

from ..conf import app_settings
from ..models import Delivery, SyncState

HELD_REASONS_SHOWN = 5
# The SyncState row the sending workers write (``last_run_at``: their last run;
# ``high_water_mark``: their last successful delivery; ``last_summary``: their settings and last run).
WORKER_STATE = "outbox worker"
# The statuses counted (never SENT or SUPERSEDED: those are the millions of rows).
ATTENTION = (
    Delivery.State.PENDING, Delivery.State.RETRYING, Delivery.State.SENDING, Delivery.State.DEAD, Delivery.State.HELD,
)
DISABLED, HEALTHY, ATTENTION_NEEDED, FAILING = "disabled", "healthy", "attention", "failing"


# -- what the worker records ---------------------------------------------------------------------


def worker_settings():
    """The settings of this process that decide what is sent (never a secret)."""
    return {
        "sync_enabled": bool(app_settings.SYNC_ENABLED),
        "platform": app_settings.PLATFORM,
        "environment": app_settings.ENVIRONMENT,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def record_worker(event, summary=None, *, now=None):
    """Record this worker's settings and what it just did (``event``: "run" or "start"); one UPDATE.

    A run that sent something moves ``high_water_mark`` (the last successful
    delivery); one that sent nothing leaves it. Several workers write the same
    row: the last writer's settings are shown, and they should all agree.
    """
    now = now or timezone.now()
    values = {
        "last_run_at": now,
        "last_summary": {**worker_settings(), "event": event, "at": now.isoformat(), "run": summary or {}},
    }
    if summary and summary.get("sent"):
        values["high_water_mark"] = now
    if SyncState.objects.filter(name=WORKER_STATE).update(**values):
        return  # one UPDATE on every run but the first
    try:
        with transaction.atomic(using=router.db_for_write(SyncState)):
            SyncState.objects.create(name=WORKER_STATE, **values)
    except IntegrityError:  # another worker created it meanwhile
        SyncState.objects.filter(name=WORKER_STATE).update(**values)


# -- what the admin shows ------------------------------------------------------------------------


def sync_health(now=None):
    """The figures and the verdict of the sync health box: four queries (five while rows are held)."""
    now = now or timezone.now()
    counts = dict(
        Delivery.objects.filter(status__in=ATTENTION).order_by().values_list("status").annotate(n=Count("id"))
    )
    oldest = (
        Delivery.objects.unsent().order_by("created_at", "id")
        .only("id", "kind", "key", "status", "created_at", "next_attempt_at").first()
    )
    worker = SyncState.objects.filter(name=WORKER_STATE).first()
    # The newest sent row by the index's order (its due time): catches what a run still going, or
    # ``timeback_sync``, sent since the worker last recorded.
    newest_sent = (
        Delivery.objects.filter(status=Delivery.State.SENT).order_by("-next_attempt_at")
        .values_list("sent_at", flat=True).first()
    )
    last_sent = max((t for t in (worker and worker.high_water_mark, newest_sent) if t), default=None)
    seen = (worker.last_summary or {}) if worker else {}
    figures = {
        "enabled": seen.get("sync_enabled", bool(app_settings.SYNC_ENABLED)),
        "waiting": counts.get(Delivery.State.PENDING, 0),
        "retrying": counts.get(Delivery.State.RETRYING, 0),
        "sending": counts.get(Delivery.State.SENDING, 0),
        "dead": counts.get(Delivery.State.DEAD, 0),
        "held": counts.get(Delivery.State.HELD, 0),
        "oldest_age": now - oldest.created_at if oldest else None,
        "last_sent_age": now - last_sent if last_sent else None,
        "worker_age": now - worker.last_run_at if worker and worker.last_run_at else None,
        "stale": timedelta(minutes=app_settings.ADMIN_SYNC_STALE_MINUTES),
    }
    state, reasons = assess(figures)
    labels = dict(Delivery.State.choices)
    return {
        **figures,
        "state": state,
        "reasons": reasons,
        "healthy": state == HEALTHY,
        "counts": [(s, labels[s], counts.get(s, 0)) for s in ATTENTION],
        "oldest": oldest,
        "last_sent": last_sent,
        "worker": worker,
        "worker_settings": seen,
        "web_enabled": bool(app_settings.SYNC_ENABLED),
        "settings_differ": bool(seen) and seen.get("sync_enabled") != bool(app_settings.SYNC_ENABLED),
        "held_reasons": held_reasons() if figures["held"] else [],
        "stale_minutes": app_settings.ADMIN_SYNC_STALE_MINUTES,
    }


def assess(f):
    """``(state, [reason, ...])`` from the figures ``sync_health`` gathers (a pure rule; see the module)."""
    unsent = f["waiting"] + f["retrying"] + f["sending"]
    stale = f["stale"]
    backlog = f["oldest_age"] is not None and f["oldest_age"] > stale
    flowing = f["last_sent_age"] is not None and f["last_sent_age"] <= stale
    if not f["enabled"]:
        where = (
            _("Sync is off in the worker (SYNC_ENABLED).") if f["worker_age"] is not None
            else _("Sync is off (SYNC_ENABLED) in this web process, and no worker has reported its own settings yet.")
        )
        waiting = ngettext(
            "%(n)d row waits and nothing is sent.", "%(n)d rows wait and nothing is sent.", unsent + f["held"],
        ) % {"n": unsent + f["held"]}
        return DISABLED, [f"{where} {waiting}"]
    failing, attention = [], []
    if f["dead"]:
        failing.append(ngettext(
            "%(n)d dead row: Timeback refused it or its retries ran out (replay it once fixed).",
            "%(n)d dead rows: Timeback refused them or their retries ran out (replay them once fixed).", f["dead"],
        ) % {"n": f["dead"]})
    if unsent and not flowing:
        since = _("never") if f["last_sent_age"] is None else _("%(age)s ago") % {"age": _age(f["last_sent_age"])}
        text = ngettext(
            "%(n)d row waits and nothing was delivered in the last %(m)d minutes (last delivery: %(since)s).",
            "%(n)d rows wait and nothing was delivered in the last %(m)d minutes (last delivery: %(since)s).", unsent,
        ) % {"n": unsent, "m": _minutes(stale), "since": since}
        (failing if backlog else attention).append(text)
    elif backlog:
        attention.append(_("Delivering, but the oldest waiting row was queued %(age)s ago.") % {"age": _age(f["oldest_age"])})
    if unsent and (f["worker_age"] is None or f["worker_age"] > stale):
        attention.append(
            _("No worker has run yet: is qcluster running?") if f["worker_age"] is None
            else _("No worker has run for %(age)s: is qcluster running?") % {"age": _age(f["worker_age"])}
        )
    if f["retrying"]:
        attention.append(ngettext(
            "%(n)d row failed and will be retried.", "%(n)d rows failed and will be retried.", f["retrying"]
        ) % {"n": f["retrying"]})
    if f["held"]:
        attention.append(ngettext(
            "%(n)d row held until its data is complete.", "%(n)d rows held until their data is complete.",
            f["held"],
        ) % {"n": f["held"]})
    if failing:
        return FAILING, failing + attention
    if attention:
        return ATTENTION_NEEDED, attention
    return HEALTHY, []


def _age(delta):
    return timesince(timezone.now() - delta)


def _minutes(delta):
    return int(delta.total_seconds() // 60)


def held_reasons(limit=HELD_REASONS_SHOWN):
    """``[(reason, rows)]``, the most common first: one per student without an email."""
    return [
        (reason, n) for reason, n in
        Delivery.objects.filter(status=Delivery.State.HELD).order_by().values_list("last_error")
        .annotate(n=Count("id")).order_by("-n", "last_error")[:limit]
    ]
