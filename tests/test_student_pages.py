"""A student's pages: passive activities read as done, per-attempt time, times in a named zone,
the student's own page, and the styled 403 for everyone without access."""

import datetime as dt
import sys
from decimal import Decimal

import pytest
from django.contrib.auth import views as auth_views
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse
from django.utils import timezone

from timeback_progress.checks import check_settings
from timeback_progress.dashboards.student_queries import week_start
from timeback_progress.gradebook import attempts as attempt_ops
from timeback_progress.gradebook.progress import chart_day
from timeback_progress.models import Attempt, StudentProgress
from tests.plugins.dashboards import bulk_class, make_user
from tests.plugins.factories import complete, enroll, make_activity, make_course, make_student

pytestmark = pytest.mark.django_db
ME = "/progress/me/"
MAX_QUERIES = 6


def detail_url(course, student):
    return reverse("timeback_progress:student-detail", args=[course.pk, student.pk])


def row(html, marker):
    """The ``<tr ...>`` of ``html`` carrying ``marker`` (e.g. ``data-attempt="7"``), up to its ``</tr>``."""
    start = html.index(marker)
    return html[start: html.index("</tr>", start)]


def cell(row_html, col):
    """The text of the element marked ``data-col="col"`` (a cell, or a span in one)."""
    marker = f'data-col="{col}"'
    start = row_html.index(">", row_html.index(marker)) + 1
    tag = row_html[row_html.rindex("<", 0, row_html.index(marker)) + 1:].split(None, 1)[0]
    return row_html[start: row_html.index(f"</{tag}>", start)]


@pytest.fixture
def lesson(users):
    """Ada in the teacher's course: a quiz at 100%, a video watched (a passive activity), a reading with 0 questions."""
    course = users["course"]
    quiz = make_activity(course, name="Fractions quiz", expected_xp=Decimal(10), masterable_units=2)
    video = make_activity(course, name="Intro video", expected_xp=Decimal(5), masterable_units=0, is_graded=False)
    reading = make_activity(course, name="Reading", expected_xp=Decimal(5), masterable_units=0)
    ada = make_student(given_name="Ada", family_name="Lovelace")
    enroll(course, student=ada)
    runs = {
        "quiz": complete(ada, quiz, total=10, correct=10, active=600, inactive=60),
        "video": complete(ada, video, total=0, correct=0, active=240, inactive=30),
        "reading": complete(ada, reading, total=0, correct=0, active=125),
    }
    return {**users, "ada": ada, "quiz": quiz, "video": video, "reading": reading, "runs": runs}


# -- passive activities and per-attempt time (the teacher's drill-down) ----------------


def test_passive_attempts_read_as_done_with_their_time_never_as_zero_percent(client, lesson):
    client.force_login(lesson["teacher"])
    response = client.get(detail_url(lesson["course"], lesson["ada"]))
    html = response.content.decode()
    for name, active, inactive in (("video", "4 min", "30 s"), ("reading", "2 min", "0 s")):
        tr = row(html, f'data-attempt="{lesson["runs"][name].pk}"')
        assert "data-passive" in tr
        assert cell(tr, "correct") == "Done"
        assert cell(tr, "accuracy") == "" and cell(tr, "multiplier") == ""
        assert (cell(tr, "active"), cell(tr, "inactive")) == (active, f"+ {inactive} inactive")
        assert cell(tr, "xp") == "0"
        assert cell(tr, "reason").startswith("Done: an activity without questions")
        activity = row(html, f'data-activity="{lesson[name].pk}"')
        assert cell(activity, "accuracy") == "Done" and cell(activity, "best") == ""
        assert cell(activity, "active") == active
    assert ">0.0%" not in html and "0 / 0" not in html and "×0" not in html
    assert "No questions were answered" not in html
    quiz = row(html, f'data-attempt="{lesson["runs"]["quiz"].pk}"')  # a scored attempt is unchanged
    assert (cell(quiz, "correct"), cell(quiz, "accuracy"), cell(quiz, "multiplier")) == ("10 / 10", "100.0%", "×1.25")
    assert "data-passive" not in quiz


def test_attempts_show_their_time_state_and_timeback_number(client, lesson):
    ada, quiz = lesson["ada"], lesson["quiz"]
    left = attempt_ops.start_attempt(ada, quiz)  # abandoned once another run starts
    again = attempt_ops.start_attempt(ada, quiz)
    Attempt.objects.filter(pk=again.pk).update(active_seconds=90, inactive_seconds=15)
    client.force_login(lesson["teacher"])
    html = client.get(detail_url(lesson["course"], ada)).content.decode()
    first = row(html, f'data-attempt="{lesson["runs"]["quiz"].pk}"')
    assert cell(first, "attempt") == "#1"
    assert cell(first, "state") == "completed" and 'data-state="completed"' in first
    assert (cell(first, "active"), cell(first, "inactive")) == ("10 min", "+ 1 min inactive")
    open_run = row(html, f'data-attempt="{again.pk}"')
    assert cell(open_run, "state") == "in progress" and 'data-state="in_progress"' in open_run
    assert (cell(open_run, "active"), cell(open_run, "inactive")) == ("1 min", "+ 15 s inactive")
    assert cell(open_run, "attempt") == "–" and cell(open_run, "when").startswith("started ")
    assert cell(row(html, f'data-attempt="{left.pk}"'), "state") == "abandoned"


# -- times in a named zone, one format per locale -----------------------------------


def test_times_are_shown_in_the_dashboard_zone_and_the_zone_is_named(client, users, settings):
    course = users["course"]
    quiz = make_activity(course, name="Late quiz")
    ada = make_student()
    enroll(course, student=ada)
    late = dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.UTC)  # 00:30 on Jan 16 in Madrid
    run = complete(ada, quiz, total=10, correct=9, active=60, completed_at=late)
    client.force_login(users["teacher"])

    html = client.get(detail_url(course, ada)).content.decode()  # default: the host's TIME_ZONE (UTC here)
    assert "Times in UTC." in html
    assert cell(row(html, f'data-attempt="{run.pk}"'), "when") == "01/15/2026 11:30 p.m."
    assert ">01/15/2026</time>" in html  # the last activity: the locale's short date

    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "DASHBOARD_TIME_ZONE": "Europe/Madrid"}
    html = client.get(detail_url(course, ada)).content.decode()
    assert "Times in Europe/Madrid." in html
    assert "Days (XP per day, today, this week) run midnight to midnight in UTC." in html  # the chart's days differ
    assert cell(row(html, f'data-attempt="{run.pk}"'), "when") == "01/16/2026 12:30 a.m."
    assert ">01/16/2026</time>" in html
    assert timezone.get_current_timezone_name() == "UTC"  # the zone is the request's only


@pytest.mark.parametrize("value", ["Mars/Olympus", "", 5, "../etc/passwd"])
def test_an_unknown_dashboard_zone_is_a_clear_check_error(settings, value):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "DASHBOARD_TIME_ZONE": value}
    errors = [e for e in check_settings() if e.id == "timeback_progress.E012"]
    assert len(errors) == 1 and "DASHBOARD_TIME_ZONE" in errors[0].msg and repr(value) in errors[0].msg


@pytest.mark.parametrize("value", [None, "Europe/Madrid", "UTC"])
def test_known_dashboard_zones_pass_the_checks(settings, value):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "DASHBOARD_TIME_ZONE": value}
    assert not [e for e in check_settings() if e.id == "timeback_progress.E012"]


@pytest.mark.parametrize(
    "today,first,expected",
    [
        (dt.date(2026, 12, 2), 0, dt.date(2026, 11, 29)),  # a Wednesday; weeks from Sunday (en-us)
        (dt.date(2026, 12, 2), 1, dt.date(2026, 11, 30)),  # weeks from Monday (es, en-gb)
        (dt.date(2026, 11, 29), 0, dt.date(2026, 11, 29)),  # Sunday starts its own week
        (dt.date(2026, 11, 29), 1, dt.date(2026, 11, 23)),  # ...or ends the one from Monday
        (dt.date(2026, 11, 30), 1, dt.date(2026, 11, 30)),
        (dt.date(2026, 12, 5), 6, dt.date(2026, 12, 5)),  # Saturday-first locales
    ],
)
def test_week_start_follows_the_locale(today, first, expected):
    assert week_start(today, first) == expected


# -- the student's own page ------------------------------------------------------------


@pytest.fixture
def pupil(lesson):
    """Ada signs in as ``ada``; she also has attempts on earlier days and in a second course."""
    ada = lesson["ada"]
    ada.user = make_user("ada", first_name="Ada", last_name="Lovelace")
    ada.save()
    now = timezone.now()
    drill = make_activity(lesson["course"], name="Decimals drill", expected_xp=Decimal(20))
    earlier = {  # each a first attempt, so each day has XP of its own
        days: complete(
            ada, make_activity(lesson["course"], name=f"Review {days}", expected_xp=Decimal(days * 2)),
            total=10, correct=9, active=100, completed_at=now - dt.timedelta(days=days),
        )
        for days in (1, 2, 5, 9)
    }
    science = make_course(title="Science", masterable_units=4)
    enroll(science, student=ada)
    cells = make_activity(science, name="Cells", expected_xp=Decimal(8), masterable_units=2)
    complete(ada, cells, total=5, correct=5, active=200)
    bob = make_student(given_name="Bob", family_name="Builder")
    enroll(lesson["course"], student=bob)
    complete(bob, drill, total=10, correct=10)
    return {**lesson, "bob": bob, "science": science, "drill": drill, "earlier": earlier}


def test_student_sees_their_own_figures(client, pupil):
    ada = pupil["ada"]
    client.force_login(ada.user)
    response = client.get(ME)
    assert response.status_code == 200
    # Expected figures straight from the attempts: days in the chart's zone, weeks from Sunday (en-us).
    today = timezone.localdate(timezone.now(), timezone.get_default_timezone())
    sunday = today - dt.timedelta(days=today.isoweekday() % 7)
    done = Attempt.objects.filter(student=ada, completed_at__isnull=False)
    days = [(chart_day(a.completed_at)[0], a.xp_earned) for a in done]
    xp_today = sum((xp for day, xp in days if day == today), Decimal(0))
    xp_week = sum((xp for day, xp in days if sunday <= day <= today), Decimal(0))
    assert xp_today == Decimal("12.50") + Decimal(10)  # the quiz (1.25x) and Cells (1.25x) today; the rest earlier
    assert all(run.xp_earned for run in pupil["earlier"].values())
    html = response.content.decode()
    assert f'data-figure="xp-today" title="{today:%m/%d/%Y}">{xp_today:,.1f}<' in html
    assert f'data-figure="xp-week">{xp_week:,.1f}<br>' in html and f"since {sunday:%m/%d/%Y}" in html
    courses = {c.title: c for c in response.context["courses"]}
    assert set(courses) == {"Algebra 1", "Science"}
    for course in courses.values():
        progress = StudentProgress.objects.get(student=ada, course=course)
        tr = row(html, f'data-course="{course.sourced_id}"')
        assert cell(tr, "xp") == f"{progress.xp_total:,.1f}"
        assert cell(tr, "mastered") == f"{progress.mastered_units} / {course.masterable_units}"
    science = row(html, f'data-course="{pupil["science"].sourced_id}"')
    assert cell(science, "mastered") == "2 / 4" and cell(science, "progress").endswith("50%")
    # Her attempts, with why and the passive ones as done; never Bob's.
    shown = {a.pk for a in response.context["attempts"]}
    assert shown == set(done.values_list("pk", flat=True))
    assert response.context["page"].paginator.count == len(shown)
    assert "100% on the first attempt: 1.25x bonus." in html
    assert cell(row(html, f'data-attempt="{pupil["runs"]["video"].pk}"'), "correct") == "Done"
    assert "Builder" not in html and "Times in UTC." in html


def test_the_course_list_takes_a_student_to_their_own_page(client, pupil):
    client.force_login(pupil["ada"].user)
    response = client.get(reverse("timeback_progress:course-list"))
    assert response.status_code == 302 and response["Location"] == ME


def test_a_teacher_who_is_also_a_student_keeps_the_course_list(client, pupil):
    pupil["bob"].user = pupil["teacher"]
    pupil["bob"].save()
    client.force_login(pupil["teacher"])
    assert client.get(reverse("timeback_progress:course-list")).status_code == 200
    assert client.get(ME).context["student"] == pupil["bob"]


# -- the styled 403 ----------------------------------------------------------------


def assert_styled_403(response, reason, signed_in_as):
    assert response.status_code == 403
    assert [t.name for t in response.templates][0] == "timeback_progress/forbidden.html"
    html = response.content.decode()
    assert reason in html
    assert f"You are signed in as <strong>{signed_in_as}</strong>." in html
    assert 'class="tbp-header"' in html  # the dashboards' own base, styled
    return html


def sign_out_form(html):
    start = html.index('data-testid="forbidden-sign-out"') - len('<form method="post" action="/accounts/logout/" ')
    return html[start: html.index("</form>", start)]


@pytest.mark.parametrize("page", ["overview", "export", "own-detail", "other-detail"])
def test_a_student_on_a_teacher_page_gets_the_styled_403(client, pupil, page):
    course, ada, bob = pupil["course"], pupil["ada"], pupil["bob"]
    target = {
        "overview": reverse("timeback_progress:course-overview", args=[course.pk]),
        "export": reverse("timeback_progress:course-export", args=[course.pk]),
        "own-detail": detail_url(course, ada),
        "other-detail": detail_url(course, bob),
    }[page]
    client.force_login(ada.user)
    html = assert_styled_403(client.get(target), "You do not teach this course.", "Ada Lovelace")
    assert "Builder" not in html and "Lovelace</h1>" not in html
    assert f'<a href="{ME}">My progress</a>' in html
    assert reverse("timeback_progress:course-list") + '">Courses</a></li>' not in html
    form = sign_out_form(html)
    assert form.startswith('<form method="post" action="/accounts/logout/"') and "csrfmiddlewaretoken" in form


def test_a_teacher_of_another_course_gets_the_styled_403(client, pupil):
    client.force_login(pupil["other_teacher"])
    for target in (
        reverse("timeback_progress:course-overview", args=[pupil["course"].pk]),
        detail_url(pupil["course"], pupil["ada"]),
    ):
        html = assert_styled_403(client.get(target), "You do not teach this course.", "other_teacher")
        assert '<a href="/progress/">Courses</a>' in html and ME not in html
        assert "Lovelace" not in html
    html = assert_styled_403(client.get(ME), "this account is not a student’s", "other_teacher")


def test_a_user_with_no_role_gets_the_styled_403_everywhere(client, pupil):
    client.force_login(pupil["plain"])
    for target, reason in (
        (reverse("timeback_progress:course-list"), "Only teachers and staff can see the dashboards."),
        (ME, "this account is not a student’s"),
    ):
        html = assert_styled_403(client.get(target), reason, "plain")
        assert "neither a teacher of a course nor a student" in html
        assert "My progress</a>" not in html and "Courses</a>" not in html
        assert 'action="/accounts/logout/"' in sign_out_form(html)


def test_anonymous_users_are_sent_to_sign_in_not_refused(client, pupil):
    response = client.get(ME)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


urlpatterns = [  # the example project without a logout URL (ROOT_URLCONF of the test below)
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("progress/", include("timeback_progress.urls")),
]


def test_without_a_logout_url_the_page_offers_no_sign_out(client, pupil, settings):
    settings.ROOT_URLCONF = sys.modules[__name__].__name__
    client.force_login(pupil["ada"].user)
    response = client.get(reverse("timeback_progress:course-overview", args=[pupil["course"].pk]))
    html = assert_styled_403(response, "You do not teach this course.", "Ada Lovelace")
    assert "forbidden-sign-out" not in html and "Sign out" not in html


# -- query counts ------------------------------------------------------------------


def count_queries(client, target, params=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(target, params or {})
    assert response.status_code == 200, response.status_code
    return len(ctx)


def test_the_own_page_costs_the_same_queries_whatever_the_history(client, users):
    """A student with 2 attempts in one course against one with 400 in three courses (pages 1 and 2)."""
    small_course = users["course"]
    light = bulk_class(small_course, 1, attempts_per_student=2)[0]
    heavy_courses = [make_course(title=f"Heavy {n}") for n in range(3)]
    heavy = make_student(given_name="Heavy")
    for course in heavy_courses:
        enroll(course, student=heavy)
        StudentProgress.objects.create(student=heavy, course=course, attempts_count=400 // 3, xp_total=Decimal(50))
        activity = make_activity(course)
        Attempt.objects.bulk_create(
            Attempt(student=heavy, activity=activity, course=course, number=n + 1,
                    started_at=timezone.now() - dt.timedelta(hours=n), completed_at=timezone.now() - dt.timedelta(hours=n),
                    total_questions=0 if n % 5 == 0 else 10, correct_questions=Decimal(0 if n % 5 == 0 else 9),
                    accuracy=None if n % 5 == 0 else Decimal(90), multiplier=Decimal(0), attempt_number=n + 1)
            for n in range(400 // 3)
        )
    light.user, heavy.user = make_user("light"), make_user("heavy")
    light.save()
    heavy.save()
    for params in ({}, {"page": 2}):
        counts = []
        for student in (light, heavy):
            client.force_login(student.user)
            counts.append(count_queries(client, ME, params))
        assert counts[0] == counts[1] <= MAX_QUERIES, (params, counts)
