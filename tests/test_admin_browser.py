"""The student admin pages in a real browser (headless Chromium): they render,
the XP chart draws from the package's own Chart.js, and nothing is fetched
from another host. Screenshots go to ``artifacts_dir``."""

import os
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.plugins.admin import add_students
from tests.plugins.factories import complete, enroll, make_activity, make_course, make_student

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def roster(db):
    algebra = make_course(title="Algebra I", masterable_units=12)
    reading = make_course(title="Reading 5", subject="Reading", masterable_units=8)
    quizzes = [make_activity(algebra, name=f"Linear equations {n}", masterable_units=2) for n in range(1, 4)]
    story = make_activity(reading, name="Short story", subject="Reading")
    ada = make_student(given_name="Ada", family_name="Lovelace", email="ada@example.com", sourced_id="stu-ada")
    enroll(algebra, student=ada)
    enroll(reading, student=ada)
    now = timezone.now()
    scores = [(7, 10), (9, 10), (10, 10), (6, 10), (10, 10), (8, 10), (9, 10)]
    for day, (correct, total) in enumerate(scores):
        when = now - timedelta(days=12 - 2 * day)
        complete(ada, quizzes[day % 3], total=total, correct=correct, active=420 + 60 * day,
                 started_at=when - timedelta(minutes=15), completed_at=when)
    complete(ada, story, total=5, correct=5, active=600, started_at=now - timedelta(days=1, minutes=10),
             completed_at=now - timedelta(days=1))
    for n, name in enumerate(("Grace Hopper", "Alan Turing", "Katherine Johnson")):
        given, family = name.split()
        other = make_student(given_name=given, family_name=family, email=f"{given.lower()}@example.com")
        enroll(algebra, student=other)
        for k in range(n + 1):
            complete(other, quizzes[k], total=10, correct=10 - n, active=300)
    add_students(20, [algebra, reading], prefix="roster")
    return ada


def admin_login(page):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    page.goto("/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def test_student_changelist_and_page_screenshots(page, live_server, roster, artifacts_dir):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.set_viewport_size({"width": 1600, "height": 900})
    admin_login(page)

    page.goto("/admin/timeback_progress/student/?o=-3")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 24
    first = rows.first.inner_text()
    assert "Ada Lovelace" in first  # sorted by XP, most first
    page.screenshot(path=os.path.join(artifacts_dir, "admin_students.png"), full_page=True)

    page.goto(f"/admin/timeback_progress/student/{roster.pk}/change/")
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('tbp-xp-chart'))"
        " && Chart.getChart(document.getElementById('tbp-xp-chart')).data.labels.length > 0"
    )
    chart = page.evaluate("""() => {
        const c = Chart.getChart(document.getElementById('tbp-xp-chart'));
        const line = c.data.datasets[1];
        return {labels: c.data.labels, daily: c.data.datasets[0].data, total: line.data,
                stepped: line.stepped, tension: line.tension};
    }""")
    # Every day from the first with work to today, none missing: even spacing is time spacing.
    first = date.fromisoformat(chart["labels"][0])
    assert first <= timezone.localdate() - timedelta(days=12)
    assert chart["labels"] == [(first + timedelta(days=n)).isoformat() for n in range((timezone.localdate() - first).days + 1)]
    from timeback_progress.models import DailyProgress

    earned = {d.isoformat() for d in DailyProgress.objects.filter(student=roster, xp__gt=0).values_list("day", flat=True)}
    assert {day for day, xp in zip(chart["labels"], chart["daily"]) if xp} == earned and len(earned) >= 5
    # A step line that never curves: the total never appears to fall.
    assert (chart["stepped"], chart["tension"]) == ("after", 0)
    assert all(a <= b for a, b in zip(chart["total"], chart["total"][1:]))
    assert page.locator("#tbp-attempts tbody tr").count() == 8
    page.screenshot(path=os.path.join(artifacts_dir, "admin_student.png"), full_page=True)

    foreign = [url for url in requested if not url.startswith(live_server.url)]
    assert foreign == []


def test_correct_a_result_and_check_sync_health(page, live_server, roster, artifacts_dir, settings):
    from timeback_progress.models import Delivery, ResultCorrection

    page.set_viewport_size({"width": 1600, "height": 900})
    admin_login(page)
    result = roster.results.order_by("score_date").first()
    page.goto(f"/admin/timeback_progress/result/{result.pk}/change/")
    page.click("text=Correct result")
    page.fill("#id_correct_questions", "12")
    page.fill("#id_reason", "Re-marked: two answers were right.")
    page.click("input[type=submit]")
    assert "Correct answers cannot exceed the total." in page.inner_text(".field-correct_questions")
    assert ResultCorrection.objects.count() == 0
    page.fill("#id_correct_questions", "9")
    page.screenshot(path=os.path.join(artifacts_dir, "admin_correct.png"), full_page=True)
    page.click("input[type=submit]")
    page.wait_for_selector("#tbp-corrections")
    assert "Re-marked: two answers were right." in page.inner_text("#tbp-corrections")
    assert ResultCorrection.objects.get().after["correctQuestions"] == 9.0

    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True}  # off, the box says "disabled"
    Delivery.objects.filter(pk=Delivery.objects.order_by("id").first().pk).update(
        status=Delivery.State.DEAD, attempts=12, response_status=422, last_error="422 Unprocessable: lineItem missing"
    )
    page.goto("/admin/timeback_progress/delivery/")
    assert "1 dead row: Timeback refused it" in page.inner_text("#tbp-sync-health")
    page.screenshot(path=os.path.join(artifacts_dir, "admin_deliveries.png"), full_page=False)


LISTS = {
    "attempts": "/admin/timeback_progress/attempt/",
    "results": "/admin/timeback_progress/result/",
    "deliveries": "/admin/timeback_progress/delivery/",
    "students": "/admin/timeback_progress/student/",
}


def test_the_lists_fit_1366_pixels(page, live_server, roster, artifacts_dir, settings):
    """No horizontal scrolling in a changelist on a 1,366 px laptop screen (the issue saw columns cut at 1,400)."""
    from timeback_progress.models import Delivery

    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True}
    Delivery.objects.filter(pk=Delivery.objects.order_by("id").first().pk).update(  # the longest row there is
        status=Delivery.State.RETRYING, attempts=3, response_status=503,
        last_error="503 Service Unavailable: the gradebook is being deployed, try again in a minute or two please",
    )
    page.set_viewport_size({"width": 1366, "height": 900})
    admin_login(page)
    widths = {}
    for name, url in LISTS.items():
        page.goto(url)
        widths[name] = page.evaluate("""() => {
            const box = document.querySelector('#changelist .results');
            return [box.scrollWidth, box.clientWidth, document.documentElement.scrollWidth, window.innerWidth];
        }""")
        page.screenshot(path=os.path.join(artifacts_dir, f"admin-{name}-1366.png"), full_page=False)
    print(widths)
    too_wide = {name: w for name, w in widths.items() if w[0] > w[1] or w[2] > w[3]}
    assert too_wide == {}, too_wide


@pytest.mark.parametrize("width, height", [(1366, 900), (1920, 1080)])
def test_screenshots_of_the_truthful_admin(page, live_server, roster, artifacts_dir, settings, width, height):
    """The admin home's sync box, a student, a corrected result and an outbox row; their figures checked."""
    from timeback_progress.gradebook import corrections
    from timeback_progress.models import Delivery, Result
    from timeback_progress.outbox import health

    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True}
    # Most rows went out a minute ago; the worker (sync on) recorded it; a few wait, one retries.
    ids = list(Delivery.objects.order_by("id").values_list("id", flat=True))
    Delivery.objects.filter(id__in=ids[:-4]).update(status=Delivery.State.SENT, sent_at=timezone.now() - timedelta(minutes=1))
    Delivery.objects.filter(id=ids[-1]).update(status=Delivery.State.RETRYING, attempts=2, response_status=503,
                                               last_error="503 Service Unavailable")
    health.record_worker("run", {"sent": len(ids) - 4})
    result = Result.objects.filter(student=roster).order_by("score_date").first()
    corrections.correct_result(result, user=None, reason="Re-marked: question 4 was right.", xp=15)
    waiting = Delivery.objects.filter(status__in=["pending", "retrying"]).count()

    page.set_viewport_size({"width": width, "height": height})
    admin_login(page)
    page.goto("/admin/")
    box = page.locator("#tbp-sync-health")
    assert box.get_attribute("data-state") == "attention"  # one row retrying
    assert int(box.locator('[data-status="pending"]').inner_text()) + 1 == waiting
    assert box.locator('[data-status="retrying"]').inner_text() == "1"
    assert "sync on" in box.inner_text() and "1 row failed and will be retried." in box.inner_text()
    page.screenshot(path=os.path.join(artifacts_dir, f"admin-home-{width}.png"), full_page=False)

    page.goto(f"/admin/timeback_progress/student/{roster.pk}/change/")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('tbp-xp-chart'))")
    page.screenshot(path=os.path.join(artifacts_dir, f"admin-student-{width}.png"), full_page=True)

    page.goto(f"/admin/timeback_progress/result/{result.pk}/change/")
    assert page.locator(".field-corrected img").get_attribute("alt") == "True"
    assert page.locator("#tbp-corrections").inner_text().count("Re-marked") == 1
    assert page.inner_text("#content h2") == str(result) and str(result) in page.title()
    page.screenshot(path=os.path.join(artifacts_dir, f"admin-result-{width}.png"), full_page=True)

    row = Delivery.objects.filter(kind="result", result=result, status="pending").get()
    page.goto(f"/admin/timeback_progress/delivery/{row.pk}/change/")
    assert f"Result: {result}" in page.inner_text("#content")
    assert '"xp": 15.0' in page.inner_text(".field-body_pretty")
    page.screenshot(path=os.path.join(artifacts_dir, f"admin-outbox-row-{width}.png"), full_page=True)
