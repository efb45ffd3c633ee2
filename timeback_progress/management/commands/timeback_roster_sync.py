"""Import students, teachers, courses and enrollments from Timeback's OneRoster rostering."""

import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from ...roster.importer import RosterImport
from ...roster.records import RosterError, parse_since
from ...timeback.formats import isoformat
from ...timeback.errors import TimebackError

SHOWN_SKIPS = 50
BAR = 30


class Command(BaseCommand):
    help = ("Import the roster from Timeback (OneRoster 1.2 rostering): incremental from the last run's "
            "high-water mark, or everything with --full.")

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Read records modified at or after this ISO 8601 date-time (naive = UTC).")
        parser.add_argument("--full", action="store_true", help="Read everything, ignoring the high-water mark.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; write nothing.")
        parser.add_argument("--page-size", type=int, default=None, help="OneRoster limit per page (default ROSTER_PAGE_SIZE).")

    def handle(self, *args, since, full, dry_run, page_size, verbosity, **options):
        if page_size is not None and page_size < 1:
            raise CommandError("--page-size must be at least 1.")
        # The token is cached; a database cache needs its table (as the example project's demo loader does).
        call_command("createcachetable", verbosity=0)
        self.verbosity = verbosity
        self.tty = self.stdout.isatty()
        started = time.monotonic()
        try:
            importer = RosterImport(since=parse_since(since) if since else None, full=full, dry_run=dry_run,
                                    page_size=page_size, progress=self.progress if verbosity else None)
            summary = importer.run()
        except RosterError as exc:
            raise CommandError(str(exc)) from None
        except TimebackError as exc:
            raise CommandError(f"Cannot read the roster from Timeback: {exc}") from None
        if self.tty and verbosity:
            self.stdout.write("")
        self.report(summary, time.monotonic() - started)

    def progress(self, kind, done, total):
        if total:
            filled = min(BAR, BAR * done // max(total, 1))
            line = f"{kind:<12} [{'#' * filled}{'.' * (BAR - filled)}] {done:,}/{total:,}"
        else:
            line = f"{kind:<12} {done:,} read"
        if self.tty:
            self.stdout.write(f"\r{line}", ending="")
            self.stdout.flush()
            if total and done >= total:
                self.stdout.write("")
        elif self.verbosity > 1 or (total and done >= total):
            self.stdout.write(line)

    def report(self, summary, seconds):
        data = summary.as_dict()
        head = f"Roster import ({summary.mode}{', since ' + data['since'] if data['since'] else ''})"
        if summary.dry_run:
            head += " -- DRY RUN, nothing was written"
        self.stdout.write(self.style.MIGRATE_HEADING(f"{head}, {seconds:.1f} s"))
        for kind, counts in data["counts"].items():
            self.stdout.write(f"  {kind:<12} " + "  ".join(f"{o} {n}" for o, n in counts.items()))
        totals = data["totals"]
        self.stdout.write("  total        " + "  ".join(f"{o} {n}" for o, n in totals.items()))
        if summary.teachers_seen or summary.unmatched_teachers:
            self.stdout.write(f"  teachers     {summary.teachers_seen} read, "
                              f"{len(summary.unmatched_teachers)} not matched to a host user")
            for sourced_id, reason in list(summary.unmatched_teachers.items())[:SHOWN_SKIPS]:
                self.stdout.write(f"    {sourced_id}: {reason}")
        for label, ignored in (("users", summary.users_ignored), ("enrollments", summary.enrollments_ignored)):
            if ignored:
                self.stdout.write(f"  ignored {label} by role: " + ", ".join(f"{r} {n}" for r, n in ignored.items()))
        if summary.warnings.get("no_email"):
            self.stdout.write(self.style.WARNING(
                f"{summary.warnings['no_email']} active students have no email: Timeback refuses their events, "
                f"which are held until an email is added (see the admin's sync health):"))
            shown = [w for w in summary.warned if w["warning"] == "no_email"][:SHOWN_SKIPS]
            self.stdout.write("  " + ", ".join(w["sourcedId"] for w in shown)
                              + (" ..." if summary.warnings["no_email"] > len(shown) else ""))
        if summary.skipped:
            self.stdout.write(self.style.WARNING(f"Skipped {len(summary.skipped)} records:"))
            for item in summary.skipped[:SHOWN_SKIPS]:
                self.stdout.write(f"  {item['kind']} {item['sourcedId']}: {item['reason']}")
            if len(summary.skipped) > SHOWN_SKIPS:
                self.stdout.write(f"  ... and {len(summary.skipped) - SHOWN_SKIPS} more")
        mark = isoformat(summary.high_water_mark) if summary.high_water_mark else "none (no records read)"
        if summary.dry_run:
            self.stdout.write(f"Newest dateLastModified read: {mark}; the high-water mark was left as it was.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Done. Newest dateLastModified read: {mark}."))
