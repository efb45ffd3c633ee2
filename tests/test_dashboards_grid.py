"""The student x activity grid and "where the class struggles": cells, sorting,
sections, pagination, the CSVs, access, 400s and fixed query counts (issue 18)."""

import csv
import io
import itertools
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from timeback_progress.dashboards import activities, grid
from timeback_progress.gradebook import attempts
from timeback_progress.models import ActivityProgress, Enrollment, RosterClass, Student
from tests.plugins.dashboards import make_user
from tests.plugins.factories import complete, enroll, make_activity, make_student

pytestmark = pytest.mark.django_db


def url(name, course, query=""):
    return reverse(f"timeback_progress:{name}", args=[course.pk]) + (f"?{query}" if query else "")


def csv_of(response):
    assert response.status_code == 200, response.status_code
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def page_cells(html):
    """``{student sourcedId: [cell title, ...]}`` in the page's row and column order."""
    rows = re.findall(r'<tr data-student="([^"]+)">(.*?)</tr>', html, re.S)
    return {sid: re.findall(r'<td class="tbp-cell[^"]*" title="([^"]*)"', body) for sid, body in rows}


def row_order(html):
    return re.findall(r'<tr data-student="([^"]+)">', html)


@pytest.fixture
def klass(users):
    """Four activities (one a video) and three students, made through the real services path.

    Ada masters the quiz and the drill and watches the video; Bob fails the
    quiz three times and has the drill open; Cy has done nothing.
    """
    course = users["course"]
    acts = {
        "quiz": make_activity(course, name="Fractions quiz", expected_xp=Decimal(10), masterable_units=2),
        "drill": make_activity(course, name="Decimals drill", expected_xp=Decimal(20)),
        "video": make_activity(course, name="Intro video", expected_xp=Decimal(5), masterable_units=0, is_graded=False),
        "ratios": make_activity(course, name="Ratios", expected_xp=Decimal(10)),
    }
    people = {name: make_student(given_name=name, family_name=family, sourced_id=f"s-{name.lower()}")
              for name, family in (("Ada", "Lovelace"), ("Bob", "Builder"), ("Cy", "Young"))}
    for s in people.values():
        enroll(course, student=s)
    complete(people["Ada"], acts["quiz"], total=10, correct=10, active=600)
    complete(people["Ada"], acts["drill"], total=10, correct=8, active=300)
    complete(people["Ada"], acts["video"], total=0, correct=0, active=420)
    for _ in range(3):
        complete(people["Bob"], acts["quiz"], total=10, correct=5, active=120)
    attempts.start_attempt(people["Bob"], acts["drill"])
    return {**users, **acts, **people}


# -- the cells --------------------------------------------------------------------


def test_cell_states_and_values(client, klass):
    client.force_login(klass["teacher"])
    response = client.get(url("course-grid", klass["course"]))
    assert response.status_code == 200
    cells = page_cells(response.content.decode())
    # Activities in the course's order: by name (Activity has no order field).
    assert cells == {
        "s-bob": ["In progress", "Completed 50.0%", "Not started", "Not started"],
        "s-ada": ["Mastered 80.0%", "Mastered 100.0%", "Done 7 min", "Not started"],
        "s-cy": ["Not started"] * 4,
    }
    html = response.content.decode()
    assert not re.search(r"(?<![\d.])0\.0%", html)  # a video is never a failure
    assert html.count("tbp-cell--mastered") == 2 + 1  # two cells and the legend


def test_each_cell_links_to_the_student_page(client, klass):
    client.force_login(klass["teacher"])
    html = client.get(url("course-grid", klass["course"])).content.decode()
    student_url = reverse("timeback_progress:student-detail", args=[klass["course"].pk, klass["Ada"].pk])
    assert html.count(f'href="{student_url}"') == 1 + 4  # the name and each cell


@pytest.mark.parametrize(
    "row, expected",
    [
        (None, grid.NOT_STARTED),
        ((1, 2, 1, 0, 0, 0, None, 10), grid.IN_PROGRESS),
        ((1, 2, 1, 1, 0, 0, None, 10), grid.DONE),
        ((1, 2, 1, 1, 10, 0, Decimal(50), 10), grid.COMPLETED),
        ((1, 2, 2, 2, 20, 1, Decimal(90), 10), grid.MASTERED),
    ],
)
def test_state_of_a_progress_row(row, expected):
    assert grid.Cells()(row, 1).state == expected


def test_mastery_needs_masterable_units():
    # An activity with nothing to master is never "mastered", however its row reads.
    assert grid.state(1, 1, 10, 0, 0) == grid.COMPLETED
    assert grid.state(1, 1, 10, 1, 2) == grid.COMPLETED  # one unit of two
    assert grid.state(1, 1, 10, 2, 2) == grid.MASTERED


def test_sql_rank_agrees_with_the_python_state(klass):
    """Every combination of a row's figures: the sort's SQL rank is the rank of the cell's state."""
    course, student, activity = klass["course"], klass["Cy"], klass["ratios"]
    row = ActivityProgress.objects.create(student=student, activity=activity, course=course)
    for attempted, completed, questions, mastered, masterable in itertools.product((0, 1), (0, 2), (0, 10), (0, 1, 2), (0, 1, 2)):
        if completed > attempted * 2:
            continue
        ActivityProgress.objects.filter(pk=row.pk).update(
            attempts_count=attempted * 2, completed_count=completed, total_questions=questions, mastered_units=mastered
        )
        activity.masterable_units = masterable
        ranked = grid.student_rows(course, sort="-a%d" % activity.pk, activity=activity).get(pk=student.pk)
        expected = grid.state(attempted * 2, completed, questions, mastered, masterable)
        assert ranked.cell_rank == grid.RANKS[expected], (attempted, completed, questions, mastered, masterable)


# -- sorting, sections, pages ---------------------------------------------------------


def test_sort_by_name_both_ways(client, klass):
    client.force_login(klass["teacher"])
    course = klass["course"]
    assert row_order(client.get(url("course-grid", course)).content.decode()) == ["s-bob", "s-ada", "s-cy"]
    html = client.get(url("course-grid", course, "sort=-name")).content.decode()
    assert row_order(html) == ["s-cy", "s-ada", "s-bob"]
    assert 'aria-sort="descending" data-sort-key="name"' in html


def test_sort_by_an_activity_both_ways(client, klass):
    client.force_login(klass["teacher"])
    course, quiz, drill = klass["course"], klass["quiz"], klass["drill"]
    html = client.get(url("course-grid", course, f"sort=-a{quiz.pk}")).content.decode()
    assert row_order(html) == ["s-ada", "s-bob", "s-cy"]  # mastered, completed, not started
    assert f'aria-sort="descending" data-sort-key="a{quiz.pk}"' in html
    assert row_order(client.get(url("course-grid", course, f"sort=a{quiz.pk}")).content.decode()) == ["s-cy", "s-bob", "s-ada"]
    # Bob's drill is in progress: after Ada's mastery, before Cy who never started.
    assert row_order(client.get(url("course-grid", course, f"sort=-a{drill.pk}")).content.decode()) == ["s-ada", "s-bob", "s-cy"]


def test_header_links_toggle(client, klass):
    client.force_login(klass["teacher"])
    quiz = klass["quiz"]
    html = client.get(url("course-grid", klass["course"], f"sort=-a{quiz.pk}")).content.decode()
    assert f'href="?sort=a{quiz.pk}"' in html  # the sorted column flips
    assert f'href="?sort=-a{klass["drill"].pk}"' in html  # another starts best first
    assert 'href="?sort=name"' in html


def test_section_filter(client, klass):
    course = klass["course"]
    RosterClass.objects.create(sourced_id="p1", course=course, title="Period 1")
    Enrollment.objects.filter(course=course, student__in=[klass["Ada"], klass["Cy"]]).update(class_sourced_id="p1")
    client.force_login(klass["teacher"])
    response = client.get(url("course-grid", course, "section=p1"))
    assert row_order(response.content.decode()) == ["s-ada", "s-cy"]
    assert 'name="section"' in response.content.decode()
    rows = csv_of(client.get(url("course-grid-export", course, "section=p1")))
    assert [r[0] for r in rows[1:]] == ["s-ada", "s-cy"]
    # The activities view counts the section's students only.
    by_id = {r[0]: r for r in csv_of(client.get(url("course-activities-export", course, "section=p1")))[1:]}
    assert by_id[klass["quiz"].activity_id][3] == "1"  # Ada attempted; Bob is not in Period 1


def test_pagination(client, klass, settings):
    settings.TIMEBACK_PROGRESS = {"DASHBOARD_PAGE_SIZE": 2}
    client.force_login(klass["teacher"])
    course = klass["course"]
    first = client.get(url("course-grid", course, "sort=-name")).content.decode()
    second = client.get(url("course-grid", course, "sort=-name&page=2")).content.decode()
    assert row_order(first) == ["s-cy", "s-ada"] and row_order(second) == ["s-bob"]
    assert "Page 2 of 2" in second
    assert row_order(client.get(url("course-grid", course, "page=99999999999999999999")).content.decode()) == ["s-cy"]


# -- the CSVs ---------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "sort=-name", "sort=-a{quiz}", "sort=a{drill}"])
def test_grid_csv_equals_the_page(client, klass, query, settings):
    settings.TIMEBACK_PROGRESS = {"DASHBOARD_PAGE_SIZE": 2}
    client.force_login(klass["teacher"])
    course = klass["course"]
    query = query.format(quiz=klass["quiz"].pk, drill=klass["drill"].pk)
    shown = {}
    order = []
    for number in (1, 2):
        html = client.get(url("course-grid", course, f"{query}&page={number}")).content.decode()
        shown.update(page_cells(html))
        order += row_order(html)
    rows = csv_of(client.get(url("course-grid-export", course, query)))
    assert rows[0] == ["student_sourced_id", "given_name", "family_name", "Decimals drill", "Fractions quiz", "Intro video", "Ratios"]
    assert [r[0] for r in rows[1:]] == order
    assert {r[0]: r[3:] for r in rows[1:]} == shown


def test_activities_view_figures(client, klass):
    client.force_login(klass["teacher"])
    course = klass["course"]
    rows = {r["activity_id"]: r for r in csv.DictReader(io.StringIO(
        b"".join(client.get(url("course-activities-export", course)).streaming_content).decode()))}
    quiz = rows[klass["quiz"].activity_id]
    # Ada 10/10 once, Bob 5/10 three times: 25 of 40.
    assert quiz["students_attempted"] == "2" and quiz["students_completed"] == "2"
    assert quiz["class_accuracy_percent"] == "62.5"
    assert quiz["students_mastered"] == "1" and quiz["mastery_rate_percent"] == "50.0"
    assert quiz["average_attempts_to_master"] == "1.0"
    assert quiz["students_never_passed"] == "1" and quiz["most_students_fail"] == "no"  # 1 of 2 is not most
    assert quiz["active_seconds"] == str(600 + 3 * 120)
    drill = rows[klass["drill"].activity_id]
    assert drill["students_attempted"] == "2" and drill["students_completed"] == "1"  # Bob's is open
    assert drill["mastery_rate_percent"] == "50.0"
    video = rows[klass["video"].activity_id]
    assert video["passive"] == "yes" and video["class_accuracy_percent"] == "" and video["students_completed"] == "1"
    assert video["mastery_rate_percent"] == "" and video["active_seconds"] == "420"
    ratios = rows[klass["ratios"].activity_id]
    assert ratios["students_attempted"] == "0" and ratios["class_accuracy_percent"] == ""


def test_activities_page_shows_the_same_figures(client, klass):
    client.force_login(klass["teacher"])
    html = client.get(url("course-activities", klass["course"])).content.decode()
    quiz = re.search(rf'<tr data-activity="{klass["quiz"].activity_id}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert '<td class="tbp-num" data-col="accuracy">62.5%</td>' in quiz
    assert '<td class="tbp-num" data-col="mastery">50.0%</td>' in quiz
    video = re.search(rf'<tr data-activity="{klass["video"].activity_id}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "1 done" in video and "no questions" in video and "%" not in video
    assert '<td class="tbp-num" data-col="time">7 min</td>' in video


def test_an_activity_most_students_fail_is_flagged(client, klass):
    course = klass["course"]
    cy = klass["Cy"]
    complete(cy, klass["quiz"], total=10, correct=3)  # now 2 of 3 never passed the quiz
    client.force_login(klass["teacher"])
    html = client.get(url("course-activities", course)).content.decode()
    quiz = re.search(rf'<tr data-activity="{klass["quiz"].activity_id}"([^>]*)>(.*?)</tr>', html, re.S)
    assert "tbp-row--stuck" in quiz.group(1) and "most fail" in quiz.group(2)
    assert "1 activity flagged" in html
    rows = activities.activity_rows(course)
    assert [r["activity"].name for r in rows if r["flagged"]] == ["Fractions quiz"]


def test_the_flag_threshold_is_a_setting(klass, settings):
    settings.TIMEBACK_PROGRESS = {"DASHBOARD_STRUGGLING_ACTIVITY_PERCENT": 40}
    assert [r["activity"].name for r in activities.activity_rows(klass["course"]) if r["flagged"]] == ["Fractions quiz"]


@pytest.mark.parametrize("key", activities.SORTS)
def test_activities_sort_both_ways(client, klass, key):
    client.force_login(klass["teacher"])
    for sort in (key, f"-{key}"):
        response = client.get(url("course-activities", klass["course"], f"sort={sort}"))
        assert response.status_code == 200
        order = re.findall(r'<tr data-activity="([^"]+)"', response.content.decode())
        assert len(order) == 4
    # Missing values (no accuracy) last both ways; ties in the course's order.
    html = client.get(url("course-activities", klass["course"], "sort=-accuracy")).content.decode()
    order = re.findall(r'<tr data-activity="([^"]+)"', html)
    assert order == [klass["drill"].activity_id, klass["quiz"].activity_id, klass["video"].activity_id, klass["ratios"].activity_id]
    html = client.get(url("course-activities", klass["course"], "sort=accuracy")).content.decode()
    assert re.findall(r'<tr data-activity="([^"]+)"', html)[:2] == [klass["quiz"].activity_id, klass["drill"].activity_id]


# -- access and bad input ---------------------------------------------------------

VIEWS = ["course-grid", "course-grid-export", "course-activities", "course-activities-export"]


@pytest.mark.parametrize("name", VIEWS)
@pytest.mark.parametrize("who, status", [("teacher", 200), ("staff", 200), ("other_teacher", 403), ("plain", 403), ("student", 403)])
def test_access(client, klass, name, who, status):
    if who == "student":
        user = make_user("ada-user")
        Student.objects.filter(pk=klass["Ada"].pk).update(user=user)
    else:
        user = klass[who]
    client.force_login(user)
    assert client.get(url(name, klass["course"])).status_code == status


@pytest.mark.parametrize("name", VIEWS)
def test_anonymous_is_sent_to_login(client, klass, name):
    response = client.get(url(name, klass["course"]))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize("name", VIEWS)
@pytest.mark.parametrize(
    "query", ["sort=garbage", "sort=-", "sort=a999999", "sort=a" + "9" * 40, "section=unknown", "page=-1", "page=0", "page=abc"]
)
def test_bad_query_strings_are_400(client, klass, name, query):
    if name.startswith("course-activities") and query.startswith("sort=a"):
        query = "sort=-" + "x" * 30
    client.force_login(klass["teacher"])
    response = client.get(url(name, klass["course"], query))
    assert response.status_code == 400
    if not name.endswith("export"):
        assert 'role="alert"' in response.content.decode()


def test_another_courses_activity_cannot_sort_the_grid(client, klass):
    other = make_activity(klass["other_course"])
    client.force_login(klass["teacher"])
    response = client.get(url("course-grid", klass["course"], f"sort=a{other.pk}"))
    assert response.status_code == 400 and "activities" in response.content.decode()


# -- queries ------------------------------------------------------------------------


def bulk(course, acts, n):
    """``n`` students with a progress row at every activity, in bulk."""
    start = Student.objects.count()
    students = Student.objects.bulk_create(
        Student(sourced_id=f"bulk-{start + i}", given_name="B", family_name=f"S{start + i:05d}") for i in range(n)
    )
    Enrollment.objects.bulk_create(Enrollment(course=course, student=s, role="student") for s in students)
    ActivityProgress.objects.bulk_create(
        ActivityProgress(student=s, activity=a, course=course, attempts_count=i % 3, completed_count=i % 2,
                         total_questions=10 * (i % 2), correct_questions=Decimal(7 * (i % 2)),
                         best_accuracy=Decimal(70) if i % 2 else None, mastered_units=0, active_seconds=60)
        for i, s in enumerate(students) for a in acts
    )


@pytest.mark.parametrize("name, query", [
    ("course-grid", ""), ("course-grid", "sort=-a{quiz}&page=2"), ("course-activities", "sort=-accuracy"),
])
def test_query_count_is_fixed(client, klass, name, query):
    course = klass["course"]
    acts = [klass[k] for k in ("quiz", "drill", "video", "ratios")]
    query = query.format(quiz=klass["quiz"].pk)
    client.force_login(klass["teacher"])
    counts = []
    for size in (10, 200):
        bulk(course, acts, size)
        client.get(url(name, course, query))  # warm the session
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url(name, course, query)).status_code == 200
        counts.append(len(ctx))
    assert counts[0] == counts[1] <= 10, counts


@pytest.mark.parametrize("value", ["50", -1, None])
def test_a_bad_flag_threshold_is_e010(settings, value):
    from timeback_progress.checks import check_settings

    settings.TIMEBACK_PROGRESS = {"DASHBOARD_STRUGGLING_ACTIVITY_PERCENT": value}
    errors = [e for e in check_settings() if e.id == "timeback_progress.E010"]
    assert errors and "DASHBOARD_STRUGGLING_ACTIVITY_PERCENT" in errors[0].msg
