"""Teacher dashboards: permissions, figures, sorting, filtering, CSV, query counts."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from timeback_progress import permissions
from timeback_progress.dashboards.export import csv_rows, escape_cell
from timeback_progress.models import Attempt, Enrollment, StudentProgress
from tests.plugins.dashboards import bulk_class
from tests.plugins.factories import complete, enroll, make_activity, make_course, make_student

pytestmark = pytest.mark.django_db
MAX_QUERIES = 12


def url(name, course, student=None):
    args = [course.pk] + ([student.pk] if student else [])
    return reverse(f"timeback_progress:{name}", args=args)


def csv_of(response):
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def klass(users):
    """Three students in the teacher's course, made through the real services path."""
    course = users["course"]
    quiz = make_activity(course, name="Fractions quiz", expected_xp=Decimal(10), masterable_units=2)
    drill = make_activity(course, name="Decimals drill", expected_xp=Decimal(20))
    ada = make_student(given_name="Ada", family_name="Lovelace")
    bob = make_student(given_name="Bob", family_name="Builder")
    cy = make_student(given_name="Cy", family_name="Young")
    for s in (ada, bob, cy):
        enroll(course, student=s)
    complete(ada, quiz, total=10, correct=10, active=600, inactive=60)  # 12.5 XP, 1.25x
    complete(ada, drill, total=10, correct=8, active=300)  # 20 XP
    for _ in range(3):  # three failures in a row: struggling
        complete(bob, quiz, total=10, correct=5, active=120)
    return {**users, "ada": ada, "bob": bob, "cy": cy, "quiz": quiz, "drill": drill}


# -- permissions ------------------------------------------------------------------

VIEWS = ["course-overview", "course-export", "student-detail"]


@pytest.mark.parametrize("name", VIEWS)
@pytest.mark.parametrize(
    "who,status", [("teacher", 200), ("staff", 200), ("other_teacher", 403), ("plain", 403)]
)
def test_course_views_permission_matrix(client, klass, name, who, status):
    client.force_login(klass[who])
    response = client.get(url(name, klass["course"], klass["ada"] if name == "student-detail" else None))
    assert response.status_code == status
    if status == 200 and name == "course-export":
        assert "Lovelace" in b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("name", VIEWS)
def test_anonymous_is_sent_to_login(client, klass, name):
    target = url(name, klass["course"], klass["ada"] if name == "student-detail" else None)
    response = client.get(target)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=" in response["Location"]


@pytest.mark.parametrize("who,status", [("teacher", 200), ("staff", 200), ("other_teacher", 200), ("plain", 403)])
def test_course_list_permission_matrix(client, users, who, status):
    client.force_login(users[who])
    response = client.get(reverse("timeback_progress:course-list"))
    assert response.status_code == status
    if status == 200:
        titles = {c.title for c in response.context["courses"]}
        expected = {
            "teacher": {"Algebra 1"},
            "other_teacher": {"Biology"},
            "staff": {"Algebra 1", "Biology"},
        }[who]
        assert expected <= titles
        if who != "staff":
            assert titles == expected


def test_course_list_anonymous_redirects(client, users):
    response = client.get(reverse("timeback_progress:course-list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_inactive_teacher_enrollment_grants_nothing(client, users):
    Enrollment.objects.filter(user=users["teacher"]).update(is_active=False)
    client.force_login(users["teacher"])
    assert client.get(url("course-overview", users["course"])).status_code == 403
    assert client.get(reverse("timeback_progress:course-list")).status_code == 403


def test_missing_course_is_403_for_teachers_404_for_staff(client, users):
    missing = reverse("timeback_progress:course-overview", args=[999999])
    client.force_login(users["teacher"])
    assert client.get(missing).status_code == 403  # no hint whether it exists
    client.force_login(users["staff"])
    assert client.get(missing).status_code == 404


def test_student_outside_the_course_is_404(client, klass):
    outsider = make_student()
    enroll(klass["other_course"], student=outsider)
    client.force_login(klass["teacher"])
    assert client.get(url("student-detail", klass["course"], outsider)).status_code == 404
    client.force_login(klass["staff"])
    assert client.get(url("student-detail", klass["course"], outsider)).status_code == 404


def test_permission_helpers(klass):
    teacher, other, staff, plain = (klass[k] for k in ("teacher", "other_teacher", "staff", "plain"))
    course, other_course = klass["course"], klass["other_course"]
    assert list(permissions.courses_for(teacher)) == [course]
    assert set(permissions.courses_for(staff)) >= {course, other_course}
    assert not permissions.courses_for(plain).exists()
    assert permissions.can_view_course(teacher, course) and permissions.can_view_course(teacher, course.pk)
    assert not permissions.can_view_course(other, course)
    assert permissions.can_view_course(staff, other_course)
    assert set(permissions.students_for(teacher)) == {klass["ada"], klass["bob"], klass["cy"]}
    assert not permissions.students_for(other).exists()
    assert permissions.can_view_student(teacher, klass["ada"], course)
    assert not permissions.can_view_student(teacher, klass["ada"], other_course)
    assert not permissions.can_view_student(other, klass["ada"])
    staff.is_active = False
    assert not permissions.can_view_course(staff, course)


def test_anonymous_user_sees_nothing(klass):
    from django.contrib.auth.models import AnonymousUser

    anon = AnonymousUser()
    assert not permissions.courses_for(anon).exists()
    assert not permissions.can_view_course(anon, klass["course"])
    assert not permissions.students_for(anon).exists()


# -- overview figures -------------------------------------------------------------


def test_overview_rows_match_the_aggregates(client, klass):
    client.force_login(klass["teacher"])
    response = client.get(url("course-overview", klass["course"]))
    assert response.status_code == 200
    rows = {r.family_name: r for r in response.context["rows"]}
    assert list(rows) == ["Builder", "Lovelace", "Young"]  # sorted by name by default
    for name, student in (("Lovelace", klass["ada"]), ("Builder", klass["bob"])):
        progress = StudentProgress.objects.get(student=student, course=klass["course"])
        row = rows[name]
        assert row.xp_total == progress.xp_total
        assert row.accuracy == progress.accuracy
        assert row.mastered_units == progress.mastered_units
        assert row.attempts_count == progress.attempts_count
        assert row.active_seconds == progress.active_seconds
    assert rows["Lovelace"].xp_total == Decimal("32.50")
    assert rows["Lovelace"].progress_percent == 30  # 3 of 10 masterable units (XP stays XP: 32.5)
    assert rows["Lovelace"].progress_display == "30%"
    assert rows["Lovelace"].mastered_units == 3
    assert not rows["Lovelace"].is_struggling and not rows["Lovelace"].is_inactive
    assert rows["Builder"].is_struggling and not rows["Builder"].is_inactive
    assert rows["Builder"].struggling_reason == "last 3 attempts in a row under 80%"
    assert rows["Young"].xp_total == 0 and rows["Young"].last_activity_at is None
    html = response.content.decode()
    assert "3 / 10" in html  # mastered units of the course's masterable units
    figures = response.context["figures"]
    assert figures["students"] == 3
    assert figures["xp"] == Decimal("32.50")
    assert (figures["struggling"], figures["inactive_students"], figures["flagged"]) == (1, 0, 1)
    # 18 correct of 20 for Ada, 15 of 30 for Bob
    assert figures["accuracy"] == Decimal("66.0")
    assert figures["average_progress"] == 10  # 3 of the class's 3 x 10 masterable units


def test_course_progress_is_mastered_units_never_xp_over_100(client, users):
    """XP / course total XP read 125% here; the share of the course is mastered / masterable units."""
    course = make_course(title="Short course", total_xp=10, masterable_units=2)
    enroll(course, user=users["teacher"])
    quiz = make_activity(course, expected_xp=Decimal(10), masterable_units=2)
    extra = make_activity(course, expected_xp=Decimal(0), masterable_units=1)  # more units than the course declares
    ada, bo = make_student(family_name="Achiever"), make_student(family_name="Beginner")
    for student in (ada, bo):
        enroll(course, student=student)
    complete(ada, quiz, total=10, correct=10)  # 12.5 XP, both units
    complete(ada, quiz, total=10, correct=10)  # a re-attempt: 5 more XP, no more units
    complete(ada, extra, total=10, correct=10)  # 3 of 2 units: still 100%
    complete(bo, quiz, total=10, correct=5)  # nothing mastered
    client.force_login(users["teacher"])
    response = client.get(url("course-overview", course))
    rows = {r.family_name: r for r in response.context["rows"]}
    assert (rows["Achiever"].xp_display, rows["Achiever"].progress_display) == ("17.5", "100%")
    assert (rows["Beginner"].xp_display, rows["Beginner"].progress_display) == ("0.0", "0%")
    assert response.context["figures"]["average_progress"] == 50  # Achiever counts up to 100%, not 150%
    csv_row = csv_of(client.get(url("course-export", course), {"sort": "name"}))[0]
    assert (csv_row["xp"], csv_row["course_progress_percent"]) == ("17.50", "100")
    detail = client.get(url("student-detail", course, ada))
    assert detail.context["progress_percent"] == 100
    html = detail.content.decode()
    assert 'data-figure="course-completed"' in html and 'data-figure="xp">17.5<' in html

    # A course without masterable units has no share to show: "–", not 0% and not XP.
    course.masterable_units = 0
    course.save()
    response = client.get(url("course-overview", course))
    assert {r.progress_display for r in response.context["rows"]} == {"–"}
    assert response.context["figures"]["average_progress"] is None
    assert client.get(url("student-detail", course, bo)).context["progress_percent"] is None


def test_inactive_students_are_inactive_not_struggling(client, klass):
    old = timezone.now() - dt.timedelta(days=20)
    complete(klass["cy"], klass["quiz"], total=10, correct=9, completed_at=old)
    Enrollment.objects.filter(student=klass["ada"]).update(created_at=old)
    client.force_login(klass["teacher"])
    rows = {r.family_name: r for r in client.get(url("course-overview", klass["course"])).context["rows"]}
    assert rows["Young"].is_inactive and not rows["Young"].is_struggling
    assert rows["Young"].inactive_reason == "no activity for 20 days" and rows["Young"].struggling_reason is None
    assert not rows["Lovelace"].is_inactive  # enrolled long ago but active today


def test_never_active_student_is_inactive_once_enrolled_long_enough(client, klass):
    Enrollment.objects.filter(student=klass["cy"]).update(created_at=timezone.now() - dt.timedelta(days=8))
    client.force_login(klass["teacher"])
    rows = {r.family_name: r for r in client.get(url("course-overview", klass["course"])).context["rows"]}
    assert rows["Young"].is_inactive and rows["Young"].inactive_reason == "no activity since enrolling"


@pytest.mark.parametrize("key", ["STRUGGLING_ATTEMPTS", "STUCK_FAILED_ATTEMPTS"])
def test_struggling_threshold_comes_from_settings_old_name_too(client, klass, settings, key):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, key: 4}
    client.force_login(klass["teacher"])
    rows = {r.family_name: r for r in client.get(url("course-overview", klass["course"])).context["rows"]}
    assert not rows["Builder"].is_struggling


@pytest.mark.parametrize("key", ["INACTIVE_DAYS", "STUCK_INACTIVE_DAYS"])
def test_inactive_days_come_from_settings_old_name_too(client, klass, settings, key):
    Enrollment.objects.filter(student=klass["cy"]).update(created_at=timezone.now() - dt.timedelta(days=8))
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, key: 9}
    client.force_login(klass["teacher"])
    rows = {r.family_name: r for r in client.get(url("course-overview", klass["course"])).context["rows"]}
    assert not rows["Young"].is_inactive


def test_chart_is_class_xp_per_day(client, klass):
    client.force_login(klass["teacher"])
    chart = client.get(url("course-overview", klass["course"])).context["chart"]
    assert len(chart["labels"]) == 30
    assert chart["labels"][-1] == timezone.localdate().isoformat()
    assert chart["xp"][-1] == 32.5
    assert sum(chart["xp"]) == 32.5
    html = client.get(url("course-overview", klass["course"])).content.decode()
    assert 'id="tbp-class-chart-data"' in html and "vendor/chart.umd.min.js" in html


# -- sorting, filtering, search, pagination -------------------------------------


@pytest.mark.parametrize("key", ["name", "xp", "accuracy", "mastered", "progress", "active", "completed", "last_activity", "flags"])
@pytest.mark.parametrize("window", [{}, {"start": "2020-01-01"}])
def test_every_sort_key_works_both_ways(client, klass, key, window):
    client.force_login(klass["teacher"])
    up = client.get(url("course-overview", klass["course"]), {"sort": key, **window})
    down = client.get(url("course-overview", klass["course"]), {"sort": "-" + key, **window})
    assert up.status_code == down.status_code == 200
    assert len(up.context["rows"]) == 3
    header = next(c for c in up.context["columns"] if c["key"] == key)
    assert header["aria_sort"] == "ascending"
    assert 'aria-sort="descending"' in down.content.decode()


@pytest.mark.parametrize("old, new", [("attempts", "completed"), ("stuck", "flags")])
def test_saved_links_with_the_old_sort_keys_still_sort(client, klass, old, new):
    client.force_login(klass["teacher"])
    names = lambda sort: [r.family_name for r in client.get(url("course-overview", klass["course"]), {"sort": sort}).context["rows"]]  # noqa: E731
    assert names("-" + old) == names("-" + new)


def test_sort_orders_rows(client, klass):
    client.force_login(klass["teacher"])
    names = lambda r: [row.family_name for row in r.context["rows"]]  # noqa: E731
    assert names(client.get(url("course-overview", klass["course"]), {"sort": "-xp"})) == ["Lovelace", "Builder", "Young"]
    assert names(client.get(url("course-overview", klass["course"]), {"sort": "-attempts"}))[0] == "Builder"
    assert names(client.get(url("course-overview", klass["course"]), {"sort": "-flags"}))[0] == "Builder"
    # accuracy: students without any yet go last in both directions
    assert names(client.get(url("course-overview", klass["course"]), {"sort": "accuracy"})) == ["Builder", "Lovelace", "Young"]
    assert names(client.get(url("course-overview", klass["course"]), {"sort": "-accuracy"})) == ["Lovelace", "Builder", "Young"]


def test_api_lists_students_with_the_dashboards_search_and_order(client, client_for, klass):
    """One search and one order: the API's course students list reads them from the dashboards' queries."""
    twin = make_student(given_name="Ada", family_name="Lovelace")  # ties on the name break the same way
    enroll(klass["course"], student=twin)
    client.force_login(klass["teacher"])
    api = client_for(klass["teacher"])
    students = reverse("timeback_progress_api:course-students", args=[klass["course"].sourced_id])
    orderings = {
        "name": "name", "-name": "-name", "xpTotal": "xp", "-xpTotal": "-xp",
        "accuracy": "accuracy", "-accuracy": "-accuracy", "lastActivityAt": "last_activity",
        "-lastActivityAt": "-last_activity",
    }
    for ordering, sort in orderings.items():
        page = [r.sourced_id for r in client.get(url("course-overview", klass["course"]), {"sort": sort}).context["rows"]]
        listed = [r["studentSourcedId"] for r in api.get(students, {"ordering": ordering}).json()["results"]]
        assert listed == page, ordering
    # Every word must match somewhere (given name, family name, email, sourcedId), in both.
    for search, expected in (("ada love", {"Lovelace"}), ("ada builder", set()), ("BUILD", {"Builder"})):
        page = client.get(url("course-overview", klass["course"]), {"q": search}).context["rows"]
        listed = api.get(students, {"search": search}).json()["results"]
        assert {r.family_name for r in page} == {r["familyName"] for r in listed} == expected, search


def strict_policy(*args, **kwargs):
    """A host's XP policy with its own pass mark."""
    from timeback_progress.xp import calculate_xp

    return calculate_xp(*args, **kwargs)


strict_policy.pass_mark = Decimal("62.50")


def test_struggling_wording_reads_the_pass_mark_from_the_xp_policy(client, klass, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "XP_POLICY": "tests.test_dashboards.strict_policy"}
    client.force_login(klass["teacher"])
    response = client.get(url("course-overview", klass["course"]))
    rows = {r.family_name: r for r in response.context["rows"]}
    assert rows["Builder"].struggling_reason == "last 3 attempts in a row under 62.5%"
    html = response.content.decode()
    assert "completed attempts with questions all scored under 62.5%, the pass mark" in html and "80%" not in html
    exported = csv_of(client.get(url("course-export", klass["course"]), {"q": "bob"}))
    assert exported[0]["flag_reasons"] == "last 3 attempts in a row under 62.5%"


def test_unknown_sort_is_a_clear_400(client, klass):
    client.force_login(klass["teacher"])
    response = client.get(url("course-overview", klass["course"]), {"sort": "password"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    response = client.get(url("course-export", klass["course"]), {"sort": "id; drop table"})
    assert response.status_code == 400 and b"Invalid filter" in response.content


def test_search_by_name(client, klass):
    client.force_login(klass["teacher"])
    rows = client.get(url("course-overview", klass["course"]), {"q": "ada love"}).context["rows"]
    assert [r.family_name for r in rows] == ["Lovelace"]
    rows = client.get(url("course-overview", klass["course"]), {"q": "nobody"}).context["rows"]
    assert list(rows) == []


def test_reversed_date_range_is_refused(client, klass):
    client.force_login(klass["teacher"])
    response = client.get(url("course-overview", klass["course"]), {"start": "2026-02-01", "end": "2026-01-01"})
    assert response.status_code == 400
    assert "start date must not be after the end date" in response.content.decode()
    response = client.get(url("course-overview", klass["course"]), {"start": "not-a-date"})
    assert response.status_code == 400 and "Enter a valid date" in response.content.decode()


def test_show_filter_keeps_the_flag_asked_for(client, klass):
    Enrollment.objects.filter(student=klass["cy"]).update(created_at=timezone.now() - dt.timedelta(days=30))
    client.force_login(klass["teacher"])
    shown = lambda **p: sorted(r.family_name for r in client.get(url("course-overview", klass["course"]), p).context["rows"])  # noqa: E731
    assert shown(show="struggling") == ["Builder"]
    assert shown(show="inactive") == ["Young"]
    assert shown(show="either") == shown(stuck="on") == ["Builder", "Young"]  # stuck=on: a saved link
    assert shown(show="all") == shown() == ["Builder", "Lovelace", "Young"]
    assert client.get(url("course-overview", klass["course"]), {"show": "lazy"}).status_code == 400
    exported = csv_of(client.get(url("course-export", klass["course"]), {"show": "inactive"}))
    assert [(r["family_name"], r["struggling"], r["inactive"]) for r in exported] == [("Young", "no", "yes")]


def test_pagination(client, klass, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "DASHBOARD_PAGE_SIZE": 2}
    client.force_login(klass["teacher"])
    first = client.get(url("course-overview", klass["course"]), {"sort": "-xp"})
    second = client.get(url("course-overview", klass["course"]), {"sort": "-xp", "page": 2})
    assert [r.family_name for r in first.context["rows"]] == ["Lovelace", "Builder"]
    assert [r.family_name for r in second.context["rows"]] == ["Young"]
    assert "page=2&amp;sort=-xp" in first.content.decode()
    assert first.context["figures"]["students"] == 3  # headline covers every page


def test_course_list_filters_by_subject_and_title(client, users):
    make_course(title="Reading Rockets", subject="Reading")
    client.force_login(users["staff"])
    titles = lambda r: {c.title for c in r.context["courses"]}  # noqa: E731
    assert titles(client.get(reverse("timeback_progress:course-list"), {"subject": "Reading"})) == {"Reading Rockets"}
    assert titles(client.get(reverse("timeback_progress:course-list"), {"q": "bio"})) == {"Biology"}
    assert client.get(reverse("timeback_progress:course-list"), {"subject": "Astrology"}).status_code == 400


# -- student drill-down ---------------------------------------------------------


def test_student_page_explains_each_attempt(client, klass):
    ada, course = klass["ada"], klass["course"]
    client.force_login(klass["teacher"])
    response = client.get(url("student-detail", course, ada))
    assert response.status_code == 200
    attempts = {a.activity.name: a for a in response.context["attempts"]}
    assert attempts["Fractions quiz"].reason == "100% on the first attempt: 1.25x bonus."
    assert attempts["Decimals drill"].reason == "First attempt at 80% or more: 1x."
    html = response.content.decode()
    assert "×1.25" in html and "12.5" in html
    activities = {a["activity__name"]: a for a in response.context["activities"]}
    assert activities["Fractions quiz"]["accuracy"] == Decimal("100.0")
    assert activities["Decimals drill"]["accuracy"] == Decimal("80.0")
    assert [a["activity__name"] for a in response.context["mastered_activities"]] == ["Decimals drill", "Fractions quiz"]
    assert response.context["chart"]["xp"] == [32.5]
    assert response.context["chart"]["cumulative"] == [32.5]
    assert response.context["time"]["active"] == "15 min" and response.context["time"]["inactive"] == "1 min"


def test_student_page_reasons_for_failures_reattempts_and_corrections(client, klass):
    bob, course = klass["bob"], klass["course"]
    open_attempt = Attempt.objects.create(student=bob, activity=klass["drill"])
    corrected = Attempt.objects.filter(student=bob, activity=klass["quiz"]).order_by("number").first()
    corrected.xp_override = Decimal(3)
    corrected.save()
    client.force_login(klass["teacher"])
    attempts = {a.pk: a for a in client.get(url("student-detail", course, bob)).context["attempts"]}
    assert attempts[open_attempt.pk].reason.startswith("In progress")
    assert attempts[corrected.pk].reason == "Set to 3.00 XP by an admin correction."
    assert sum("below 80%" in a.reason for a in attempts.values()) == 2


def test_student_attempts_paginate(client, klass, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "DASHBOARD_ATTEMPTS_PAGE_SIZE": 2}
    client.force_login(klass["teacher"])
    first = client.get(url("student-detail", klass["course"], klass["bob"]))
    second = client.get(url("student-detail", klass["course"], klass["bob"]), {"page": 2})
    assert [a.number for a in first.context["attempts"]] == [3, 2]
    assert [a.number for a in second.context["attempts"]] == [1]


def test_student_without_attempts_renders(client, klass):
    client.force_login(klass["teacher"])
    response = client.get(url("student-detail", klass["course"], klass["cy"]))
    assert response.status_code == 200
    assert "No attempts yet." in response.content.decode()


# -- CSV --------------------------------------------------------------------------


def test_csv_export_content(client, klass):
    client.force_login(klass["teacher"])
    response = client.get(url("course-export", klass["course"]), {"sort": "-xp"})
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="course-')
    rows = csv_of(response)
    assert [r["family_name"] for r in rows] == ["Lovelace", "Builder", "Young"]
    ada = rows[0]
    assert (ada["xp"], ada["accuracy_percent"], ada["mastered_units"], ada["masterable_units"]) == ("32.50", "90.00", "3", "10")
    assert ada["course_progress_percent"] == "30"  # 3 of 10 masterable units
    assert (ada["struggling"], ada["inactive"]) == ("no", "no") and rows[1]["struggling"] == "yes"
    assert rows[1]["flag_reasons"] == "last 3 attempts in a row under 80%"
    assert rows[2]["last_activity"] == ""
    assert (ada["window_start"], ada["window_end"]) == ("", "")  # all time


def test_csv_follows_filters(client, klass):
    client.force_login(klass["teacher"])
    rows = csv_of(client.get(url("course-export", klass["course"]), {"q": "bob"}))
    assert [r["given_name"] for r in rows] == ["Bob"]


def test_csv_escapes_formulas(client, klass):
    evil = make_student(given_name="=HYPERLINK(\"http://x\")", family_name="+SUM(A1)", email="@evil@example.com")
    enroll(klass["course"], student=evil)
    client.force_login(klass["teacher"])
    rows = csv_of(client.get(url("course-export", klass["course"]), {"q": "SUM"}))
    assert rows[0]["given_name"] == "'=HYPERLINK(\"http://x\")"
    assert rows[0]["family_name"] == "'+SUM(A1)"
    assert rows[0]["email"] == "'@evil@example.com"


@pytest.mark.parametrize(
    "value,expected",
    [
        ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\tx", "'\tx"), ("\rx", "'\rx"),
        ("plain", "plain"), ("a=b", "a=b"), (None, ""), (-5, "-5"), (Decimal("-1.50"), "-1.50"), (True, "yes"),
    ],
)
def test_escape_cell(value, expected):
    assert escape_cell(value) == expected


def test_csv_rows_is_lazy_and_quotes():
    def rows():
        yield ["a,b", 'say "hi"']
        raise AssertionError("read too far")

    lines = csv_rows(["h1", "h2"], rows())
    assert next(lines) == "h1,h2\r\n"
    assert next(lines) == '"a,b","say ""hi"""\r\n'


# -- query counts ---------------------------------------------------------------


def count_queries(client, path, params=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, params or {})
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(ctx)


@pytest.mark.parametrize("who", ["teacher", "staff"])
def test_query_counts_do_not_grow(client, users, who, django_assert_max_num_queries):
    """10 vs 250 students (and 2 vs 60 attempts each): same query count, at most 12."""
    small, large = users["course"], make_course(title="Large")
    enroll(large, user=users["teacher"])
    small_students = bulk_class(small, 10, attempts_per_student=2)
    large_students = bulk_class(large, 250, attempts_per_student=60)
    client.force_login(users[who])
    for name in ("course-overview", "course-export"):
        for params in ({}, {"sort": "-xp", "q": "bulk", "start": "2020-01-01", "show": "either", "page": 2},
                       {"sort": "-accuracy", "start": "2020-01-01", "end": "2099-01-01", "show": "struggling"}):
            counts = [count_queries(client, url(name, c), params) for c in (small, large)]
            assert counts[0] == counts[1] <= MAX_QUERIES, (name, params, counts)
    counts = [
        count_queries(client, url("student-detail", c, s[0]), {"page": 2}) for c, s in ((small, small_students), (large, large_students))
    ]
    assert counts[0] == counts[1] <= MAX_QUERIES
    with django_assert_max_num_queries(MAX_QUERIES):
        client.get(url("course-overview", large))
    with django_assert_max_num_queries(MAX_QUERIES):
        client.get(reverse("timeback_progress:course-list"))


def test_student_chart_fills_days_between_activity(client, klass):
    old = timezone.now() - dt.timedelta(days=3)
    complete(klass["cy"], klass["quiz"], total=10, correct=10, completed_at=old)  # 12.5 XP
    complete(klass["cy"], klass["drill"], total=10, correct=8)  # 20 XP today
    client.force_login(klass["teacher"])
    chart = client.get(url("student-detail", klass["course"], klass["cy"])).context["chart"]
    assert chart["labels"][0] == timezone.localtime(old).date().isoformat()
    assert chart["labels"][-1] == timezone.localdate().isoformat()
    assert chart["xp"] == [12.5, 0, 0, 20.0]
    assert chart["cumulative"] == [12.5, 12.5, 12.5, 32.5]


def test_abandoned_runs_read_as_abandoned_and_attempts_as_timeback_counts_them(client, klass, admin_client):
    """A run left open while the student started another: 'abandoned' on the student page and in the admin."""
    from timeback_progress.gradebook import attempts

    attempts.start_attempt(klass["ada"], klass["quiz"])  # left
    run = attempts.start_attempt(klass["ada"], klass["quiz"])
    attempts.complete_attempt(run, total_questions=10, correct_questions=10)
    client.force_login(klass["teacher"])
    page = client.get(url("student-detail", klass["course"], klass["ada"]))
    rows = {a.pk: a for a in page.context["attempts"]}
    left = next(a for a in rows.values() if not a.is_completed and a.number == run.number - 1)
    assert left.state == "abandoned" and 'data-state="abandoned">abandoned<' in page.content.decode()
    assert rows[run.pk].attempt_number == Attempt.objects.filter(student=klass["ada"], activity=klass["quiz"], completed_at__isnull=False).count()
    admin_page = admin_client.get("/admin/timeback_progress/attempt/").content.decode()
    assert "abandoned" in admin_page
