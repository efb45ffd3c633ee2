"""Fixtures for the REST API tests: a small roster with one user per role."""

from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.plugins.factories import enroll, make_activity, make_course, make_student


def make_user(username, **kw):
    # No password: hashing one costs ~0.5 s; the tests sign in with force_login or a token.
    return get_user_model().objects.create_user(username=username, password=None, **kw)


@pytest.fixture
def api_world(db):
    """Two courses, a student user (Ann) and another (Bob) in both, a teacher per course, staff, a service account."""
    math, art = make_course(title="Math"), make_course(title="Art")
    ann = make_student(user=make_user("ann"), given_name="Ann", family_name="Able")
    bob = make_student(user=make_user("bob"), given_name="Bob", family_name="Baker")
    teacher, other_teacher = make_user("teacher"), make_user("other-teacher")
    service = make_user("service")
    service.user_permissions.add(Permission.objects.get(codename="add_attempt", content_type__app_label="timeback_progress"))
    for course in (math, art):
        enroll(course, student=ann)
        enroll(course, student=bob)
    enroll(math, user=teacher)
    enroll(art, user=other_teacher)
    return SimpleNamespace(
        math=math, art=art, ann=ann, bob=bob, teacher=teacher, other_teacher=other_teacher, service=service,
        staff=make_user("staff", is_staff=True), nobody=make_user("nobody"),
        quiz=make_activity(math, expected_xp=10), drawing=make_activity(art, expected_xp=20),
    )


@pytest.fixture
def client_for(db):
    """``client_for(user)``: an APIClient signed in with a session (token=True: with a token)."""

    def build(user, token=False):
        client = APIClient()
        if user is None:
            return client
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
        else:
            client.force_login(user)
        return client

    return build
