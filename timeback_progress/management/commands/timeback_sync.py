"""Deliver every outbox row that is due now, in the foreground.

Everything printed that came from Timeback passes ``redaction`` once more
(the client secret in any encoding), as the admin does.
"""

import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from timeback_progress.conf import app_settings
from timeback_progress.models import Delivery
from timeback_progress.outbox import health, sending, writing
from timeback_progress.timeback.redaction import redact_configured


class Command(BaseCommand):
    help = "Deliver due outbox rows to Timeback now; exits non-zero if any row is dead."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="Handle at most this many rows.")

    def handle(self, *args, limit=None, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        if not app_settings.SYNC_ENABLED:
            waiting = Delivery.objects.waiting().count()
            raise CommandError(
                f"Timeback sync is disabled (TIMEBACK_PROGRESS['SYNC_ENABLED'] / TIMEBACK_SYNC_ENABLED); "
                f"{waiting} rows are waiting and nothing was sent."
            )
        flushed = writing.flush_idle_time()
        backlog = Delivery.objects.due().count()
        self.stdout.write(f"{backlog} rows due" + (f" (with time of {flushed} idle open attempts)." if flushed else "."))
        tty = sys.stdout.isatty()

        def progress(summary):
            line = f"  {summary.handled}/{backlog} handled: {summary.sent} sent, {summary.retrying} retrying, {summary.dead} dead"
            self.stdout.write(("\r" + line) if tty else line, ending="" if tty else "\n")
            self.stdout.flush()

        try:
            summary = sending.deliver_due(limit=limit, progress=progress)
        except ImproperlyConfigured as exc:  # e.g. a mistyped timeout: its sentence, not a traceback
            raise CommandError(redact_configured(str(exc))) from None
        if tty and summary.handled:
            self.stdout.write("")
        self.stdout.write(
            f"Sent {summary.sent}, retrying {summary.retrying}, dead {summary.dead}, "
            f"waiting on line items {summary.deferred}, superseded {summary.superseded}, held {summary.held} "
            f"({summary.requests} requests)."
        )
        for error in summary.errors[:10]:
            self.stderr.write(f"  {redact_configured(error)}")
        held_total = Delivery.objects.filter(status=Delivery.State.HELD).count()
        if held_total:
            # Neither done nor dead: they go out once their data is complete, without a replay.
            self.stdout.write(self.style.WARNING(f"{held_total} rows are held until their data is complete:"))
            for reason, count in health.held_reasons():
                self.stdout.write(f"  {count} x {reason}")
        dead_total = Delivery.objects.filter(status=Delivery.State.DEAD).count()
        if summary.dead or dead_total:
            raise CommandError(f"{dead_total} outbox rows are dead; see the admin, fix, then `manage.py timeback_replay`.")
        if summary.stopped is not None:
            raise CommandError(
                f"Sending stopped: {redact_configured(str(summary.stopped))}. The rows retry with backoff; "
                f"check CLIENT_ID, CLIENT_SECRET and AUTH_URL."
            )
