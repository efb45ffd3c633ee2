"""A student in a real browser: signs in, sees their own page, tries a teacher page, signs out.

Screenshots at desktop and phone widths go to /tmp/shots/student-*.png (or $SHOTS_DIR).
"""

import datetime as dt
import os
from decimal import Decimal

import pytest
from django.utils import timezone

from timeback_progress.models import Attempt, StudentProgress
from tests.plugins.dashboards import make_user
from tests.plugins.factories import complete, enroll, make_activity, make_course, make_student

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


@pytest.fixture
def shots():
    path = os.environ.get("SHOTS_DIR", "/tmp/shots")
    os.makedirs(path, exist_ok=True)
    return path


def snap(page, shots, name):
    for label, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=os.path.join(shots, f"student-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


@pytest.fixture
def ada(users):
    """Ada (who signs in as ``ada``) in two courses: quizzes, a watched video, an open run, earlier days."""
    course = users["course"]
    quiz = make_activity(course, name="Fractions quiz", expected_xp=Decimal(10), masterable_units=2)
    drill = make_activity(course, name="Decimals drill", expected_xp=Decimal(20), masterable_units=1)
    video = make_activity(course, name="Intro video", expected_xp=Decimal(5), masterable_units=0, is_graded=False)
    student = make_student(given_name="Ada", family_name="Lovelace", user=make_user("ada", first_name="Ada", last_name="Lovelace"))
    enroll(course, student=student)
    now = timezone.now()
    complete(student, drill, total=10, correct=9, active=420, inactive=40, completed_at=now - dt.timedelta(days=3))
    complete(student, video, total=0, correct=0, active=240, inactive=20)
    complete(student, quiz, total=10, correct=10, active=600, inactive=60)
    Attempt.objects.create(student=student, activity=drill, active_seconds=75, inactive_seconds=5)  # open
    science = make_course(title="Science", masterable_units=4)
    enroll(science, student=student)
    complete(student, make_activity(science, name="Cells", expected_xp=Decimal(8), masterable_units=2), total=5, correct=4, active=200)
    classmate = make_student(given_name="Bob", family_name="Builder")
    enroll(course, student=classmate)
    complete(classmate, quiz, total=10, correct=3)
    return {**users, "student": student, "classmate": classmate, "science": science}


def cell(row, col):
    return row.locator(f'[data-col="{col}"]').inner_text().strip()


def test_a_student_sees_their_page_is_refused_a_teacher_page_and_signs_out(browser_login, ada, shots):
    student, course = ada["student"], ada["course"]
    page = browser_login("ada")
    assert page.url.endswith("/progress/me/")  # the dashboards' front door takes a student to their page
    assert page.get_by_role("heading", level=1).inner_text() == "My progress"
    assert "Times in UTC." in page.get_by_test_id("zone").inner_text()

    # The figures agree with each other: XP today is the sum of today's attempts' XP shown below.
    today = timezone.localdate()
    todays_xp = sum(a.xp_earned for a in Attempt.objects.filter(student=student, completed_at__date=today))
    assert page.locator('[data-figure="xp-today"]').inner_text() == f"{todays_xp:,.1f}"
    sunday = today - dt.timedelta(days=today.isoweekday() % 7)
    weeks_xp = sum(a.xp_earned for a in Attempt.objects.filter(student=student, completed_at__date__gte=sunday))
    assert page.locator('[data-figure="xp-week"]').inner_text().splitlines()[0] == f"{weeks_xp:,.1f}"
    rows = page.locator("[data-testid=attempts] tbody tr")
    assert rows.count() == Attempt.objects.filter(student=student).count()
    shown_today = sum(
        Decimal(cell(rows.nth(i), "xp")) for i in range(rows.count())
        if cell(rows.nth(i), "when").startswith(f"{today:%m/%d/%Y}")
    )
    assert shown_today == todays_xp
    for progress in StudentProgress.objects.filter(student=student).select_related("course"):
        row = page.locator(f'tr[data-course="{progress.course.sourced_id}"]')
        assert cell(row, "xp") == f"{progress.xp_total:,.1f}"
        assert cell(row, "mastered") == f"{progress.mastered_units} / {progress.course.masterable_units}"
    video = page.locator("tr[data-passive]")
    assert (cell(video, "correct"), cell(video, "accuracy"), cell(video, "active")) == ("Done", "", "4 min")
    assert "in progress" in page.locator('[data-state="in_progress"]').inner_text()
    assert "Builder" not in page.content()
    snap(page, shots, "home")

    # A teacher page, even the teacher's view of herself: the styled 403, with a way back and out.
    page.goto(f"/progress/courses/{course.pk}/students/{student.pk}/")
    assert page.get_by_role("heading", level=1).inner_text() == "You cannot see this page"
    assert page.get_by_test_id("forbidden-reason").inner_text() == "You do not teach this course."
    assert "Ada Lovelace" in page.get_by_test_id("signed-in-as").inner_text()
    snap(page, shots, "forbidden")
    page.get_by_test_id("forbidden-links").get_by_role("link", name="My progress").click()
    page.wait_for_load_state()
    assert page.url.endswith("/progress/me/")

    page.goto(f"/progress/courses/{course.pk}/")
    page.get_by_test_id("forbidden-sign-out").get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert "/accounts/login/" in page.url
    page.goto("/progress/me/")
    assert "/accounts/login/" in page.url  # signed out: the page asks to sign in again


def test_the_teacher_sees_the_passive_activity_and_times(browser_login, ada, shots):
    page = browser_login("teacher")
    page.goto(f"/progress/courses/{ada['course'].pk}/students/{ada['student'].pk}/")
    assert "Times in UTC." in page.get_by_test_id("zone").inner_text()
    activity = page.locator("[data-testid=activities] tr[data-passive]")
    assert (cell(activity, "accuracy"), cell(activity, "best"), cell(activity, "active")) == ("Done", "", "4 min")
    assert ">0.0%<" not in page.content()
    snap(page, shots, "detail")
