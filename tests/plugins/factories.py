"""Small factories for the domain models (plain functions, no extra library)."""

import itertools
from decimal import Decimal

import pytest

from timeback_progress.gradebook import attempts
from timeback_progress.models import Activity, Course, Enrollment, Student

_seq = itertools.count(1)


def make_course(**kw):
    n = next(_seq)
    defaults = {"sourced_id": f"course-{n}", "title": f"Course {n}", "subject": "Math", "total_xp": 1000, "masterable_units": 10}
    defaults.update(kw)
    return Course.objects.create(**defaults)


def make_student(**kw):
    n = next(_seq)
    defaults = {"sourced_id": f"student-{n}", "email": f"student{n}@example.com", "given_name": "Stu", "family_name": f"Dent{n}"}
    defaults.update(kw)
    student = Student.objects.create(**defaults)
    return student


def make_activity(course=None, **kw):
    n = next(_seq)
    course = course or make_course()
    defaults = {
        "activity_id": f"activity-{n}",
        "name": f"Activity {n}",
        "course": course,
        "subject": course.subject,
        "app_name": "Math App",
        "expected_xp": Decimal(10),
        "masterable_units": 1,
    }
    defaults.update(kw)
    return Activity.objects.create(**defaults)


def enroll(course, *, student=None, user=None, role=None, section=""):
    role = role or (Enrollment.Role.STUDENT if student else Enrollment.Role.TEACHER)
    return Enrollment.objects.create(course=course, student=student, user=user, role=role, class_sourced_id=section)


def complete(student, activity, total=10, correct=8, active=300, inactive=0, **kw):
    return attempts.record_attempt(
        student, activity, total_questions=total, correct_questions=correct, active_seconds=active, inactive_seconds=inactive, **kw
    )


@pytest.fixture
def course(db):
    return make_course()


@pytest.fixture
def student(db):
    return make_student()


@pytest.fixture
def activity(course):
    return make_activity(course)
