"""Recount attempt numbers as Timeback does and send the XP and mastery differences as corrections."""

from django.core.management.base import BaseCommand, CommandError

from timeback_progress.gradebook.renumbering import renumber
from timeback_progress.models import Attempt, Course


class Command(BaseCommand):
    help = (
        "Recount each student's attempts at each activity from their completed attempts (abandoned starts "
        "no longer count), re-derive XP and mastery where the numbers move, and queue every change for "
        "Timeback as a correction. Run once after upgrading to 0.4; safe to run again (it finds nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--course", help="Only this course (its sourcedId).")
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; change nothing.")
        parser.add_argument("--list", action="store_true", dest="show_list", help="Also list every attempt whose number moves.")

    def handle(self, *args, course=None, dry_run=False, show_list=False, **options):
        attempts = Attempt.objects.all()
        if course:
            found = Course.objects.filter(sourced_id=course).first()
            if found is None:
                raise CommandError(f"No course with sourcedId {course!r}.")
            attempts = attempts.filter(course=found)
        summary = renumber(attempts, dry_run=dry_run)
        verb = "would be" if dry_run else "were"
        self.stdout.write(
            f"Checked {summary.chains_checked} student-activity chains: "
            f"{summary.chains_renumbered} {verb} renumbered ({summary.attempts_renumbered} attempts)."
        )
        self.stdout.write(
            f"XP change: {summary.xp_change:+}; mastered units change: {summary.mastered_change:+}; "
            f"{summary.corrections} correction events {verb} queued for Timeback."
        )
        if show_list:
            for student, activity, run, old, new in summary.changed:
                self.stdout.write(f"  {student} / {activity} run {run}: attempt {old} -> {new}")
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
