"""Fixtures for the accessibility and keyboard tests: one class that fills every dashboards page."""

import os

import pytest
from django.contrib.auth import get_user_model

from timeback_progress.models import Attempt, Result
from tests.plugins.dashboards import bulk_class, make_user
from tests.plugins.factories import complete, enroll, make_activity, make_student


@pytest.fixture
def shots():
    path = os.environ.get("SHOTS_DIR", "/tmp/shots")
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture
def walk(users):
    """A class of 55 (two pages of students), Ada with 25 attempts (two pages) who signs in, and a superuser."""
    course = users["course"]
    bulk_class(course, 55, attempts_per_student=1)
    quiz = make_activity(course, name="Fractions quiz", masterable_units=2)
    video = make_activity(course, name="Intro video", masterable_units=0, is_graded=False)
    ada = make_student(given_name="Ada", family_name="Lovelace", user=make_user("ada", first_name="Ada", last_name="Lovelace"))
    enroll(course, student=ada)
    for n in range(24):
        complete(ada, quiz, total=10, correct=4 + n % 7, active=120 + n)
    complete(ada, video, total=0, correct=0, active=240)
    get_user_model().objects.create_superuser("admin", password="pw")
    return {
        **users, "ada": ada, "attempt": Attempt.objects.filter(student=ada).first(),
        "result": Result.objects.filter(student=ada).first(),
    }
