"""Fixtures for the admin tests: staff users with chosen permissions and a
roster of N students with progress, built in bulk so 500 students are cheap."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from timeback_progress.models import Attempt, DailyProgress, Enrollment, Student, StudentProgress

_batch = itertools.count(1)


@pytest.fixture
def make_staff(db):
    """``make_staff("view_student", ...)``: a staff user with those app permissions (log in with force_login)."""

    def make(*codenames, username=None):
        user = get_user_model().objects.create_user(
            username=username or f"staff{next(_batch)}", password=None, is_staff=True
        )
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="timeback_progress", codename__in=codenames)
        )
        assert user.user_permissions.count() == len(codenames), "unknown permission codename"
        return user

    return make


def add_students(n, courses, *, prefix=None):
    """``n`` students enrolled in every course, each with progress and a few days of XP.

    Figures vary with the index so sorting is meaningful: student i has
    (i % 97) XP per course, accuracy (50 + i % 50)% and i % 7 mastered units.
    """
    prefix = prefix or f"bulk{next(_batch)}"
    now = timezone.now()
    students = Student.objects.bulk_create(
        Student(sourced_id=f"{prefix}-{i}", email=f"{prefix}-{i}@example.com", given_name="Bulk", family_name=f"{prefix} {i:04d}")
        for i in range(n)
    )
    Enrollment.objects.bulk_create(
        Enrollment(course=c, student=s, role=Enrollment.Role.STUDENT) for s in students for c in courses
    )
    StudentProgress.objects.bulk_create(
        StudentProgress(
            student=s, course=c, xp_total=Decimal(i % 97), total_questions=100, correct_questions=Decimal(50 + i % 50),
            accuracy=Decimal(50 + i % 50), mastered_units=i % 7, active_seconds=60 * (i % 40), completed_count=3,
            attempts_count=3, last_activity_at=now - timedelta(hours=i),
        )
        for i, s in enumerate(students)
        for c in courses
    )
    today = timezone.localdate()
    DailyProgress.objects.bulk_create(
        DailyProgress(student=s, course=c, day=today - timedelta(days=d), xp=Decimal(3), completed_count=1)
        for s in students
        for c in courses
        for d in range(3)
    )
    return students


def add_attempts(student, activity, n):
    """``n`` completed attempts written in bulk (no signals: for page-size tests only)."""
    start = Attempt.objects.filter(student=student, activity=activity).count()
    now = timezone.now()
    return Attempt.objects.bulk_create(
        Attempt(
            student=student, activity=activity, course_id=activity.course_id, number=start + k + 1,
            started_at=now - timedelta(days=30, minutes=k), completed_at=now - timedelta(days=30, minutes=k - 5),
            total_questions=10, correct_questions=Decimal(9), accuracy=Decimal(90), multiplier=Decimal(0),
            xp_earned=Decimal(0), active_seconds=120,
        )
        for k in range(n)
    )
