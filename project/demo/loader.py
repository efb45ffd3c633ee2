"""What the demo makes: three courses, five users, students, activities and a
few thousand attempts over recent weeks, all through the real completion path.

Every user, course and student it makes is marked with a ``DemoRecord``; the
reset deletes by that mark (``reset.py``).
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from timeback_progress.gradebook import attempts
from timeback_progress.models import Activity, Course, Enrollment, Student

from .models import DemoRecord

COURSES = [
    # sourcedId, title, subject, grade, app, activities
    ("math-grade-5", "Math Grade 5", "Math", "05", "Math App", ["Fractions Quiz", "Decimals", "Long Division", "Area and Perimeter", "Ratios", "Order of Operations", "Volume", "Coordinate Plane", "Word Problems", "Mixed Numbers"]),
    ("reading-grade-5", "Reading Grade 5", "Reading", "05", "Reading Coach", ["Main Idea", "Inference", "Vocabulary in Context", "Poetry", "Compare Texts", "Summaries", "Character Traits", "Author's Purpose"]),
    ("science-grade-5", "Science Grade 5", "Science", "05", "Science Lab", ["Ecosystems", "Matter", "Earth's Systems", "Space", "Energy", "Forces", "Water Cycle"]),
]
GIVEN = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena", "Milo", "Nora", "Omar", "Pia", "Quinn", "Ravi", "Sara", "Theo", "Uma", "Vik", "Wren", "Xena", "Yusuf", "Zoe"]
FAMILY = ["Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jones", "Khan", "Lopez", "Moreau", "Nguyen", "Okafor", "Patel"]
PASSWORD = "demo-password"
USERNAMES = ("admin", "teacher1", "teacher2", "teacher3", "student1")


def student_id(n):
    """The sourcedId of the n-th demo student (the first is the docs' ``student-123``)."""
    return "student-123" if n == 1 else f"student-{n:04d}"


def activity_specs(course_id, names):
    """``(activity_id, name, slug)`` of a course's graded activities."""
    for name in names:
        slug = name.lower().replace(" ", "-").replace("'", "")
        yield (f"{course_id}-{slug}" if slug != "fractions-quiz" else "fractions-quiz"), name, slug


def conflicts(students_per_course):
    """What the demo would make that exists already (not the demo's, once a reset ran): one line each."""
    activity_ids = [a for spec in COURSES for a, _name, _slug in activity_specs(spec[0], spec[5])]
    activity_ids += [f"{spec[0]}-intro-video" for spec in COURSES]
    student_ids = [student_id(n) for n in range(1, students_per_course * len(COURSES) + 1)]
    found = [f"user {name!r}" for name in
             get_user_model().objects.filter(username__in=USERNAMES).values_list("username", flat=True)]
    found += [f"course {s!r}" for s in
              Course.objects.filter(sourced_id__in=[spec[0] for spec in COURSES]).values_list("sourced_id", flat=True)]
    found += [f"student {s!r}" for s in Student.objects.filter(sourced_id__in=student_ids).values_list("sourced_id", flat=True)]
    found += [f"activity {a!r}" for a in Activity.objects.filter(
        Q(activity_id__in=activity_ids) | Q(line_item_sourced_id__in=[f"{a}-line-item" for a in activity_ids])
    ).values_list("activity_id", flat=True)]
    return found


def load(*, students, days, seed):
    """Make the demo; returns the number of attempts. Run it in a transaction, after ``conflicts()``."""
    rng = random.Random(seed)
    users = _users()
    count = made = 0
    for index, spec in enumerate(COURSES):
        course, activities = _course(spec)
        Enrollment.objects.create(course=course, user=users[f"teacher{index + 1}"], role="teacher")
        roster = _students(course, range(made + 1, made + students + 1), rng, users)
        made += students
        count += _attempts(roster, activities, days, rng)
    return count


def _users():
    User = get_user_model()
    users = {"admin": User.objects.create_superuser("admin", "admin@example.com", PASSWORD)}
    for i in range(1, 4):
        users[f"teacher{i}"] = User.objects.create_user(f"teacher{i}", f"teacher{i}@example.com", PASSWORD, first_name=f"Teacher {i}")
    users["student1"] = User.objects.create_user("student1", "student1@example.com", PASSWORD)
    DemoRecord.objects.bulk_create(DemoRecord(user=user) for user in users.values())
    return users


def _course(spec):
    sourced_id, title, subject, grade, app, names = spec
    course = Course.objects.create(sourced_id=sourced_id, title=title, subject=subject, grade=grade)
    DemoRecord.objects.create(course=course)
    activities = [
        Activity(
            activity_id=activity_id, name=name, course=course, subject=subject, app_name=app,
            expected_xp=Decimal(random.Random(slug).choice([10, 15, 20, 25, 30])),
            masterable_units=1,
            component_resource_sourced_id=f"{slug}-resource",
        )
        for activity_id, name, slug in activity_specs(sourced_id, names)
    ]
    # One passive activity per course: earns no XP on its own.
    activities.append(Activity(activity_id=f"{sourced_id}-intro-video", name="Intro video", course=course, subject=subject, app_name=app, expected_xp=Decimal(5), masterable_units=0, is_graded=False))
    for activity in activities:
        activity.save()
    course.total_xp = int(sum(a.expected_xp for a in activities if a.is_graded))
    course.masterable_units = sum(a.masterable_units for a in activities)
    course.save()
    return course, activities


def _students(course, numbers, rng, users):
    roster = []
    for n in numbers:
        student = Student.objects.create(
            sourced_id=student_id(n),
            email="student@example.com" if n == 1 else f"student{n}@example.com",
            given_name=rng.choice(GIVEN), family_name=rng.choice(FAMILY),
            user=users["student1"] if n == 1 else None,
        )
        Enrollment.objects.create(course=course, student=student, role="student")
        roster.append(student)
    DemoRecord.objects.bulk_create(DemoRecord(student=student) for student in roster)
    return roster


def _attempts(roster, activities, days, rng):
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
                inactive = int(active * rng.uniform(0, 0.3))
                attempts.record_attempt(
                    student, activity, started_at=started,
                    total_questions=total, correct_questions=min(correct, total),
                    active_seconds=active, inactive_seconds=inactive,
                    completed_at=started + timedelta(seconds=active + inactive),  # the time fits the attempt
                )
                made += 1
    return made
