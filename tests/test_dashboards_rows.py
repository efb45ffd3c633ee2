"""Which students a teacher sees for a course, and in what order.

The course overview (page and CSV) and the API's course students list read the
same rows. A class whose every figure puts the students in a different order
shows which column each sort really uses: sorting "active time" by inactive
time, or "progress" by XP, changes the order the page shows. Course progress is
mastered / masterable units, so it orders as "mastered" does.
"""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from timeback_progress.models import Enrollment, StudentProgress
from tests.plugins.factories import enroll, make_student

pytestmark = pytest.mark.django_db

# family name -> figures; each column orders the four students differently, and
# inactive time runs against active time. "Evans" has not started (no progress row).
FIGURES = {
    "Able": {"xp_total": 40, "mastered_units": 1, "active_seconds": 300, "inactive_seconds": 200,
             "attempts_count": 2, "accuracy": 90, "days_ago": 1},
    "Baker": {"xp_total": 10, "mastered_units": 3, "active_seconds": 100, "inactive_seconds": 400,
              "attempts_count": 5, "accuracy": 70, "days_ago": 3},
    "Carter": {"xp_total": 30, "mastered_units": 4, "active_seconds": 200, "inactive_seconds": 300,
               "attempts_count": 1, "accuracy": 80, "days_ago": 0.5},
    "Dunn": {"xp_total": 20, "mastered_units": 2, "active_seconds": 400, "inactive_seconds": 100,
             "attempts_count": 3, "accuracy": 60, "days_ago": 2},
}
NEW = "Evans"  # zeros everywhere, no accuracy and no last activity

# Ascending order on the page; descending is its reverse, except that students
# without a value (Evans: no accuracy, no last activity) stay last both ways.
ASCENDING = {
    "name": ["Able", "Baker", "Carter", "Dunn", NEW],
    "xp": [NEW, "Baker", "Dunn", "Carter", "Able"],
    "progress": [NEW, "Able", "Dunn", "Baker", "Carter"],  # mastered units, not XP
    "mastered": [NEW, "Able", "Dunn", "Baker", "Carter"],
    "active": [NEW, "Baker", "Carter", "Able", "Dunn"],
    "completed": [NEW, "Carter", "Able", "Dunn", "Baker"],
    "accuracy": ["Dunn", "Baker", "Carter", "Able", NEW],
    "last_activity": ["Baker", "Dunn", "Able", "Carter", NEW],
}
NULLS_LAST = {"accuracy", "last_activity"}


def descending(key):
    order = ASCENDING[key]
    return [*reversed(order[:-1]), order[-1]] if key in NULLS_LAST else list(reversed(order))


@pytest.fixture
def klass(users):
    """The teacher's course with the five students of FIGURES, by family name."""
    course, now = users["course"], timezone.now()
    students = {}
    for name in [*FIGURES, NEW]:
        students[name] = make_student(given_name="Stu", family_name=name, sourced_id=f"s-{name.lower()}")
        enroll(course, student=students[name])
    for name, f in FIGURES.items():
        StudentProgress.objects.create(
            student=students[name], course=course, xp_total=Decimal(f["xp_total"]), mastered_units=f["mastered_units"],
            active_seconds=f["active_seconds"], inactive_seconds=f["inactive_seconds"],
            attempts_count=f["attempts_count"], completed_count=f["attempts_count"], total_questions=10,
            correct_questions=Decimal(f["accuracy"]) / 10, accuracy=Decimal(f["accuracy"]),
            last_activity_at=now - dt.timedelta(days=f["days_ago"]),
        )
    return {**users, "students": students}


def overview(client, course, **params):
    response = client.get(reverse("timeback_progress:course-overview", args=[course.pk]), params)
    assert response.status_code == 200
    shown = [row.family_name for row in response.context["rows"]]
    # The rendered table, in the order the teacher reads it.
    rendered = re.findall(r'<tr data-student="s-([a-z]+)"', response.content.decode())
    assert [name.lower() for name in shown] == rendered
    return shown


def api_rows(client, course, **params):
    response = client.get(reverse("timeback_progress_api:course-students", args=[course.sourced_id]), params)
    assert response.status_code == 200
    return [row["familyName"] for row in response.json()["results"]]


def export_rows(client, course, **params):
    response = client.get(reverse("timeback_progress:course-export", args=[course.pk]), params)
    text = b"".join(response.streaming_content).decode()
    return [line.split(",")[2] for line in text.splitlines()[1:]]


@pytest.mark.parametrize("key", list(ASCENDING))
def test_each_overview_sort_orders_by_its_own_column(client, klass, key):
    client.force_login(klass["teacher"])
    assert overview(client, klass["course"], sort=key) == ASCENDING[key]
    assert overview(client, klass["course"], sort="-" + key) == descending(key)


@pytest.mark.parametrize("key", ["mastered", "progress", "active", "last_activity"])
def test_the_csv_export_follows_the_same_sort(client, klass, key):
    client.force_login(klass["teacher"])
    assert export_rows(client, klass["course"], sort=key) == ASCENDING[key]
    assert export_rows(client, klass["course"], sort="-" + key) == descending(key)


# The API's orderings and the overview's sort keys for the same column.
API_ORDERINGS = {"name": "name", "xpTotal": "xp", "accuracy": "accuracy", "lastActivityAt": "last_activity"}


@pytest.mark.parametrize("ordering", list(API_ORDERINGS))
def test_each_api_ordering_orders_by_its_own_column(client_for, klass, ordering):
    client = client_for(klass["teacher"])
    key = API_ORDERINGS[ordering]
    assert api_rows(client, klass["course"], ordering=ordering) == ASCENDING[key]
    assert api_rows(client, klass["course"], ordering="-" + ordering) == descending(key)


# -- an enrollment that ended ------------------------------------------------------


def end_enrollment(klass, name):
    ended = Enrollment.objects.filter(course=klass["course"], student=klass["students"][name])
    assert ended.update(is_active=False) == 1


def test_a_student_whose_enrollment_ended_leaves_the_overview(client, klass):
    end_enrollment(klass, "Able")  # the class's top XP: hard to miss if still counted
    client.force_login(klass["teacher"])
    response = client.get(reverse("timeback_progress:course-overview", args=[klass["course"].pk]))
    assert "Able" not in [row.family_name for row in response.context["rows"]]
    assert 's-able"' not in response.content.decode()
    figures = response.context["figures"]
    assert figures["students"] == 4 and figures["xp"] == Decimal(60)
    assert "Able" not in export_rows(client, klass["course"])
    courses = client.get(reverse("timeback_progress:course-list")).context["courses"]
    assert {c.pk: c.students for c in courses}[klass["course"].pk] == 4


def test_a_student_whose_enrollment_ended_leaves_the_api_list(client_for, klass):
    end_enrollment(klass, "Able")
    client = client_for(klass["teacher"])
    path = reverse("timeback_progress_api:course-students", args=[klass["course"].sourced_id])
    body = client.get(path).json()
    assert body["count"] == 4 and "Able" not in [row["familyName"] for row in body["results"]]
    assert "Able" not in api_rows(client, klass["course"], ordering="-xpTotal")
    assert api_rows(client, klass["course"], search="able") == []
