"""The browser kit's server side: ``{% timeback_activity %}``'s configuration, the demo quiz page and its link.

What the kit does in a browser: tests/js/ (isolated), tests/test_activity_kit_double_browser.py
(against a recording test double) and tests/test_activity_kit_browser.py (against the protocol).
"""

import json
import re
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.test import RequestFactory, override_settings
from django.urls import reverse

from timeback_progress.templatetags.timeback_activity import course_selector, kit_config
from tests.plugins.dashboards import make_user
from tests.plugins.factories import enroll, make_activity, make_course, make_student

pytestmark = pytest.mark.django_db
DOUBLE = "tests.kit_double_urls"
QUIZ = "/demo/fractions-quiz/"


def config_of(html):
    found = re.search(r'<script id="timeback-activity-config" type="application/json">(.*?)</script>', html, re.S)
    assert found, html
    return json.loads(found.group(1))


def render(activity, request=None, selector=""):
    template = Template("{% load timeback_activity %}{% timeback_activity activity " + selector + " %}")
    return template.render(Context({"activity": activity, "request": request}))


@pytest.fixture
def quiz():
    course = make_course(sourced_id="math-grade-5", title="Math Grade 5", subject="Math", grade="05")
    activity = make_activity(course, activity_id="fractions-quiz", name="Fractions Quiz", expected_xp=Decimal("12.5"))
    student = make_student(user=make_user("student1"))
    enroll(course, student=student)
    return activity


@pytest.mark.urls(DOUBLE)
def test_the_tag_renders_the_endpoints_by_url_name_the_activity_and_the_csrf_token(quiz, rf):
    request = rf.get("/")
    html = render(quiz, request)
    config = config_of(html)
    assert config["endpoints"] == {
        "heartbeat": reverse("timeback_activity:heartbeat"),
        "submit": reverse("timeback_activity:submit"),
        "me": reverse("timeback_activity:user-me"),
    }
    assert config["endpoints"]["heartbeat"] == "/double/timeback/activity/heartbeat"
    assert config["activity"] == {
        "id": "fractions-quiz", "name": "Fractions Quiz", "course": {"code": "math-grade-5"}, "expectedXp": 12.5,
    }
    assert config["csrfToken"] and config["csrfCookieName"] == "csrftoken"
    assert (config["heartbeatSeconds"], config["idleSeconds"]) == (15, 60)
    assert config["module"].endswith("timeback_progress/activity.js")
    assert '<link rel="modulepreload" href="' + config["module"] + '">' in html
    assert "error" not in config


@pytest.mark.urls(DOUBLE)
def test_the_timings_come_from_the_settings_dict(quiz, rf, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "ACTIVITY_HEARTBEAT_SECONDS": 30, "ACTIVITY_IDLE_SECONDS": 90}
    config = kit_config(None, quiz)
    assert (config["heartbeatSeconds"], config["idleSeconds"]) == (30, 90)
    assert "csrfToken" not in config  # no request, no token


@pytest.mark.urls(DOUBLE)
def test_the_tag_takes_an_activity_id_too(quiz, django_assert_num_queries):
    with django_assert_num_queries(1):
        html = render("fractions-quiz")
    assert config_of(html)["activity"]["id"] == "fractions-quiz"


def test_the_course_selector_by_code_or_by_subject_and_grade():
    course = make_course(sourced_id="m5", subject="Math", grade="05")
    assert course_selector(course) == {"code": "m5"}
    assert course_selector(course, "grade") == {"subject": "Math", "grade": 5}
    assert course_selector(make_course(sourced_id="k", subject="Reading", grade="KG"), "grade") == {"subject": "Reading", "grade": 0}
    # What the vendor's validator refuses falls back to the code.
    assert course_selector(make_course(sourced_id="x", subject="FastMath", grade="05"), "grade") == {"code": "x"}
    assert course_selector(make_course(sourced_id="y", subject="Math", grade="13"), "grade") == {"code": "y"}
    assert course_selector(make_course(sourced_id="z", subject="Math", grade=""), "grade") == {"code": "z"}


@pytest.mark.urls(DOUBLE)
def test_the_grade_selector_through_the_tag(quiz):
    assert config_of(render(quiz, selector='selector="grade"'))["activity"]["course"] == {"subject": "Math", "grade": 5}


@override_settings(CSRF_COOKIE_HTTPONLY=True)
@pytest.mark.urls(DOUBLE)
def test_an_unreadable_csrf_cookie_is_not_named(quiz, rf):
    config = kit_config(rf.get("/"), quiz)
    assert config["csrfToken"] and "csrfCookieName" not in config


@pytest.mark.urls("tests.test_activity_kit")
def test_without_the_protocol_urls_the_page_still_renders_and_the_config_says_why(quiz, caplog):
    config = config_of(render(quiz, RequestFactory().get("/")))
    assert config["endpoints"] is None
    assert "timeback_progress.activity.urls" in config["error"]
    assert "include timeback_progress.activity.urls" in caplog.text


urlpatterns = []  # the URLconf of the test above: nothing mounted


def test_the_demo_quiz_page_embeds_the_kit_for_the_demo_activity(client, quiz):
    client.force_login(quiz.course.enrollments.get().student.user)
    response = client.get(QUIZ)
    assert response.status_code == 200
    html = response.content.decode()
    config = config_of(html)
    assert config["activity"]["id"] == "fractions-quiz"
    assert html.count('class="quiz-q tbp-card"') == 5
    assert 'src="/static/demo/fractions_quiz.js"' in html
    assert 'data-testid="not-a-student"' not in html
    texts = json.loads(re.search(r'<script id="quiz-texts" type="application/json">(.*?)</script>', html, re.S).group(1))
    assert set(texts) >= {"running", "paused", "queued", "saving", "unanswered", "pause", "resume", "error"}


def test_the_quiz_page_wants_a_signed_in_user_and_says_when_the_account_is_no_student(client, quiz):
    assert client.get(QUIZ).status_code == 302
    client.force_login(make_user("teacher9"))
    html = client.get(QUIZ).content.decode()
    assert 'data-testid="not-a-student"' in html


def test_without_the_demo_activity_the_quiz_page_is_a_404(client):
    client.force_login(make_user("someone"))
    assert client.get(QUIZ).status_code == 404


def test_the_student_page_links_to_the_quiz(client, quiz):
    client.force_login(quiz.course.enrollments.get().student.user)
    html = client.get(reverse("timeback_progress:my-progress")).content.decode()
    assert f'href="{QUIZ}"' in html
    assert html.count("<h1>") == 1  # the app's page, extended, not replaced


def test_the_demo_loader_makes_the_quiz_activity():
    from project.demo import loader

    specs = {activity_id: name for activity_id, name, _slug in loader.activity_specs("math-grade-5", loader.COURSES[0][5])}
    assert specs["fractions-quiz"] == "Fractions Quiz"
