"""Fill the database with realistic demo data: courses, students, activities and
a few thousand attempts over recent weeks, all through the real completion path."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from timeback_progress.models import Activity, Student

from ... import loader
from ...models import DemoRecord
from ...reset import delete_demo_data


class Command(BaseCommand):
    help = "Create demo courses, users, students, activities and attempts (through the real XP path)."

    def add_arguments(self, parser):
        parser.add_argument("--students", type=int, default=48, help="Students per course (default 48).")
        parser.add_argument("--days", type=int, default=42, help="Spread attempts over this many past days.")
        parser.add_argument("--seed", type=int, default=5)
        parser.add_argument("--reset", action="store_true",
                            help="Delete what an earlier run made first (only with DEBUG on, or with --force).")
        parser.add_argument("--force", action="store_true", help="Allow --reset with DEBUG off.")

    def handle(self, *args, students, days, seed, reset, force, **options):
        if students < 1 or days < 1:
            raise CommandError("--students and --days must be at least 1.")
        if reset and not (settings.DEBUG or force):
            raise CommandError(
                "--reset deletes the demo's data, so it runs only with DEBUG on (DJANGO_DEBUG=true) "
                "or with --force. Nothing was changed."
            )
        call_command("createcachetable", verbosity=0)
        with transaction.atomic():
            if reset:
                delete_demo_data()
            elif DemoRecord.objects.exists():
                self.stdout.write("The demo data is loaded already; --reset recreates it.")
                return
            found = loader.conflicts(students)
            if found:
                raise CommandError(
                    "The demo would replace rows it did not make, so nothing was changed: "
                    + ", ".join(found[:10]) + (f" and {len(found) - 10} more" if len(found) > 10 else "")
                    + ". Load the demo into a fresh database."
                )
            count = loader.load(students=students, days=days, seed=seed)
        self.stdout.write(self.style.SUCCESS(
            f"Demo ready: {len(loader.COURSES)} courses, {Student.objects.count()} students, "
            f"{Activity.objects.count()} activities, {count} attempts."
        ))
        users = " / ".join(loader.USERNAMES)
        self.stdout.write(f"Sign in as {users} with password {loader.PASSWORD!r}.")
