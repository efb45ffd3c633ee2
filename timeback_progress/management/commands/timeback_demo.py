"""Fill the database with realistic demo data: courses, students, activities and
a few thousand attempts over recent weeks, all through the real signal path."""

import random
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from timeback_progress.gradebook import attempts
from timeback_progress.models import Activity, Attempt, Course, Enrollment, Student

COURSES = [
    # sourcedId, title, subject, grade, app, activities
    ("math-grade-5", "Math Grade 5", "Math", "05", "Math App", ["Fractions Quiz", "Decimals", "Long Division", "Area and Perimeter", "Ratios", "Order of Operations", "Volume", "Coordinate Plane", "Word Problems", "Mixed Numbers"]),
    ("reading-grade-5", "Reading Grade 5", "Reading", "05", "Reading Coach", ["Main Idea", "Inference", "Vocabulary in Context", "Poetry", "Compare Texts", "Summaries", "Character Traits", "Author's Purpose"]),
    ("science-grade-5", "Science Grade 5", "Science", "05", "Science Lab", ["Ecosystems", "Matter", "Earth's Systems", "Space", "Energy", "Forces", "Water Cycle"]),
]
GIVEN = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena", "Milo", "Nora", "Omar", "Pia", "Quinn", "Ravi", "Sara", "Theo", "Uma", "Vik", "Wren", "Xena", "Yusuf", "Zoe"]
FAMILY = ["Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jones", "Khan", "Lopez", "Moreau", "Nguyen", "Okafor", "Patel"]
PASSWORD = "demo-password"


class Command(BaseCommand):
    help = "Create demo courses, users, students, activities and attempts (through the real XP signal path)."

    def add_arguments(self, parser):
        parser.add_argument("--students", type=int, default=48, help="Students per course (default 48).")
        parser.add_argument("--days", type=int, default=42, help="Spread attempts over this many past days.")
        parser.add_argument("--seed", type=int, default=5)
        parser.add_argument("--reset", action="store_true", help="Delete existing demo data first.")

    def handle(self, *args, students, days, seed, reset, **options):
        if students < 1 or days < 1:
            raise CommandError("--students and --days must be at least 1.")
        if Course.objects.filter(sourced_id=COURSES[0][0]).exists() and not reset:
            raise CommandError("Demo data already exists; use --reset to recreate it.")
        call_command("createcachetable", verbosity=0)
        rng = random.Random(seed)
        with transaction.atomic():
            if reset:
                self._reset()
            users = self._users()
            count = 0
            for index, spec in enumerate(COURSES):
                course, activities = self._course(spec)
                Enrollment.objects.create(course=course, user=users[f"teacher{index + 1}"], role="teacher")
                roster = self._students(course, students, rng, users)
                count += self._attempts(roster, activities, days, rng)
        self.stdout.write(self.style.SUCCESS(f"Demo ready: {len(COURSES)} courses, {Student.objects.count()} students, {Activity.objects.count()} activities, {count} attempts."))
        self.stdout.write(f"Sign in as admin / teacher1 / teacher2 / teacher3 / student1 with password {PASSWORD!r}.")

    def _reset(self):
        from timeback_progress.models import DailyProgress, Delivery, Result, ResultCorrection, StudentProgress

        for model in (Delivery, ResultCorrection, Result, DailyProgress, StudentProgress, Attempt, Enrollment, Activity, Student, Course):
            model.objects.all()._raw_delete(model.objects.db)
        get_user_model().objects.filter(username__in=["admin", "student1"] + [f"teacher{i}" for i in range(1, 4)]).delete()

    def _users(self):
        User = get_user_model()
        users = {"admin": User.objects.create_superuser("admin", "admin@example.com", PASSWORD)}
        for i in range(1, 4):
            users[f"teacher{i}"] = User.objects.create_user(f"teacher{i}", f"teacher{i}@example.com", PASSWORD, first_name=f"Teacher {i}")
        users["student1"] = User.objects.create_user("student1", "student1@example.com", PASSWORD)
        return users

    def _course(self, spec):
        sourced_id, title, subject, grade, app, names = spec
        course = Course.objects.create(sourced_id=sourced_id, title=title, subject=subject, grade=grade)
        activities = []
        for name in names:
            slug = name.lower().replace(" ", "-").replace("'", "")
            activities.append(
                Activity(
                    activity_id=f"{sourced_id}-{slug}" if slug != "fractions-quiz" else "fractions-quiz",
                    name=name, course=course, subject=subject, app_name=app,
                    expected_xp=Decimal(random.Random(slug).choice([10, 15, 20, 25, 30])),
                    masterable_units=1,
                    component_resource_sourced_id=f"{slug}-resource",
                )
            )
        # One passive activity per course: earns no XP on its own.
        activities.append(Activity(activity_id=f"{sourced_id}-intro-video", name="Intro video", course=course, subject=subject, app_name=app, expected_xp=Decimal(5), masterable_units=0, is_graded=False))
        for activity in activities:
            activity.save()
        course.total_xp = int(sum(a.expected_xp for a in activities if a.is_graded))
        course.masterable_units = sum(a.masterable_units for a in activities)
        course.save()
        return course, activities

    def _students(self, course, count, rng, users):
        roster = []
        offset = Student.objects.count()
        for i in range(count):
            n = offset + i + 1
            sourced_id = "student-123" if n == 1 else f"student-{n:04d}"
            student = Student.objects.create(
                sourced_id=sourced_id,
                email="student@example.com" if n == 1 else f"student{n}@example.com",
                given_name=rng.choice(GIVEN), family_name=rng.choice(FAMILY),
                user=users["student1"] if n == 1 else None,
            )
            Enrollment.objects.create(course=course, student=student, role="student")
            roster.append(student)
        return roster

    def _attempts(self, roster, activities, days, rng):
        now = timezone.now()
        made = 0
        for student in roster:
            skill = rng.uniform(0.55, 0.98)  # how well this student does
            engagement = rng.uniform(0.7, 1.0)
            idle_days = rng.choice([0, 0, 0, 1, 2, 10])  # some students went quiet
            for activity in activities:
                if rng.random() > engagement:
                    continue
                tries = 1 + (rng.random() < 0.6) + (rng.random() < 0.4)
                # Attempt numbers follow time: re-attempts come after the first.
                starts = sorted(now - timedelta(days=rng.uniform(idle_days, days), minutes=rng.uniform(0, 600)) for _ in range(tries))
                for started in starts:
                    total = rng.choice([5, 10, 10, 12, 20]) if activity.is_graded else 0
                    share = min(1.0, max(0.0, rng.gauss(skill, 0.12)))
                    correct = Decimal(round(total * share * 2) / 2)  # half points happen
                    active = int(float(activity.expected_xp) * 60 * rng.uniform(0.6, 1.6))
                    attempts.record_attempt(
                        student, activity, started_at=started,
                        total_questions=total, correct_questions=min(correct, total),
                        active_seconds=active, inactive_seconds=int(active * rng.uniform(0, 0.3)),
                        completed_at=started + timedelta(seconds=active),
                    )
                    made += 1
        return made
