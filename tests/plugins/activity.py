"""Fixtures for the activity protocol's tests: a student enrolled in a Math grade-3 course with one activity."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.plugins.factories import enroll, make_activity, make_course, make_student


@pytest.fixture
def activity_world(db):
    course = make_course(sourced_id="math-3", title="Math 3", subject="Math", grade="03")
    other = make_course(sourced_id="read-3", title="Reading 3", subject="Reading", grade="3")
    ann = make_student(user=get_user_model().objects.create_user("ann", password=None), given_name="Ann", family_name="Able", email="ann@example.com")
    enroll(course, student=ann)
    enroll(other, student=ann)
    activity = make_activity(course, activity_id="fractions-1", name="Fractions", expected_xp=10)
    make_activity(other, activity_id="story-1", name="Story")
    return type("World", (), {"course": course, "other": other, "ann": ann, "activity": activity})


@pytest.fixture
def ann_session(activity_world):
    client = APIClient()
    client.force_login(activity_world.ann.user)
    return client
