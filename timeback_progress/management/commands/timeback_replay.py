"""Move dead outbox rows back to pending so they are delivered again."""

from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from timeback_progress.models import Delivery
from timeback_progress.outbox.replay import replay


def _when(value, *, end=False):
    try:
        parsed = parse_datetime(value)
        day = None if parsed else parse_date(value)
    except ValueError:  # well formed but impossible, e.g. 2025-02-30
        parsed = day = None
    if parsed is None:
        if day is None:
            raise CommandError(f"Not a valid ISO date or date-time: {value!r}.")
        parsed = datetime.combine(day, time.max if end else time.min)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = "Replay dead outbox rows (optionally filtered): they go back to pending with a fresh attempt count."

    def add_arguments(self, parser):
        parser.add_argument("--kind", choices=Delivery.Kind.values, help="Only rows of this kind.")
        parser.add_argument("--id", type=int, action="append", dest="ids", help="Only this row id (repeatable).")
        parser.add_argument("--since", help="Only rows created on or after this ISO date/date-time.")
        parser.add_argument("--until", help="Only rows created on or before this ISO date/date-time.")
        parser.add_argument(
            "--missing-email", action="store_true",
            help="Only Caliper events that went dead for want of the student's email (from before such events were "
                 "held): each goes out with the student's email if they have one now, else it is held.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")

    def handle(self, *args, kind=None, ids=None, since=None, until=None, missing_email=False, dry_run=False, **options):
        rows = Delivery.objects.filter(status=Delivery.State.DEAD)
        if missing_email:
            rows = rows.filter(kind=Delivery.Kind.CALIPER_EVENT).filter(
                Q(payload__actor__email="") | Q(payload__actor__email__isnull=True)
            )
        if kind:
            rows = rows.filter(kind=kind)
        if ids:
            rows = rows.filter(id__in=ids)
        if since:
            rows = rows.filter(created_at__gte=_when(since))
        if until:
            rows = rows.filter(created_at__lte=_when(until, end=True))
        if dry_run:
            self.stdout.write(f"{rows.count()} dead rows would be replayed.")
            return
        moved, skipped = replay(rows)
        self.stdout.write(self.style.SUCCESS(f"Replayed {moved} dead rows."))
        if skipped:
            self.stdout.write(f"{skipped} rows already have a newer waiting row for the same key and stay dead.")
