"""Fixtures for the teacher dashboards: the permission matrix's users and classes."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from timeback_progress.models import Attempt, DailyProgress, Enrollment, Student, StudentProgress

_bulk_seq = itertools.count(1)
PASSWORD = "pw"


def make_user(username, **kw):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **kw)


def bulk_class(course, n_students, *, attempts_per_student=0, activity=None, days=10, now=None):
    """Enroll ``n_students`` with aggregates and (optionally) attempts, in bulk.

    Fast and query-cheap for size tests; figures tests use the real services
    path (tests.plugins.factories.complete) instead.
    """
    from tests.plugins.factories import make_activity  # imported late: plugins load alphabetically

    now = now or timezone.now()
    tag = next(_bulk_seq)
    students = Student.objects.bulk_create(
        Student(sourced_id=f"bulk-{tag}-{i}", given_name=f"Bulk{i}", family_name=f"Student{tag}-{i:05d}")
        for i in range(n_students)
    )
    Enrollment.objects.bulk_create(Enrollment(course=course, student=s, role="student") for s in students)
    StudentProgress.objects.bulk_create(
        StudentProgress(
            student=s, course=course, xp_total=Decimal(i % 97), attempts_count=attempts_per_student,
            completed_count=attempts_per_student, total_questions=10, correct_questions=Decimal(8),
            accuracy=Decimal(80), mastered_units=i % 5, active_seconds=60 * i, failed_streak=i % 4,
            last_activity_at=now - dt.timedelta(days=i % 12),
        )
        for i, s in enumerate(students)
    )
    DailyProgress.objects.bulk_create(
        DailyProgress(student=s, course=course, day=(now - dt.timedelta(days=d)).date(), xp=Decimal(5), completed_count=1)
        for s in students
        for d in range(days)
    )
    if attempts_per_student:
        activity = activity or make_activity(course)
        Attempt.objects.bulk_create(
            Attempt(
                student=s, activity=activity, course=course, number=n + 1, started_at=now - dt.timedelta(minutes=n),
                completed_at=now - dt.timedelta(minutes=n), total_questions=10, correct_questions=Decimal(9),
                accuracy=Decimal(90), multiplier=Decimal(1) if n == 0 else Decimal(0), xp_earned=Decimal(10) if n == 0 else 0,
            )
            for s in students
            for n in range(attempts_per_student)
        )
    return students


@pytest.fixture
def users(db, settings):
    """The permission matrix: ``teacher`` teaches ``course``, ``other_teacher``
    teaches ``other_course``, ``staff`` is staff, ``plain`` is neither."""
    from tests.plugins.factories import enroll, make_course

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, test-only
    course = make_course(title="Algebra 1")
    other_course = make_course(title="Biology")
    teacher = make_user("teacher", first_name="Tina", last_name="Teacher")
    other = make_user("other_teacher")
    enroll(course, user=teacher)
    enroll(other_course, user=other)
    return {
        "course": course,
        "other_course": other_course,
        "teacher": teacher,
        "other_teacher": other,
        "staff": make_user("staff", is_staff=True),
        "plain": make_user("plain"),
    }
