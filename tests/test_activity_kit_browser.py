"""The browser kit against the real protocol (``timeback_progress.activity``), in Chromium, on the demo quiz.

A student plays; the attempt the run maps to must hold the time the page was
visible and used (within one heartbeat), no hidden time, idle time as inactive,
and the XP the rules give; offline and reloads lose nothing and count nothing
twice; a double finish completes once. Heartbeats every second here
(``ACTIVITY_HEARTBEAT_SECONDS``), so a test takes seconds, not minutes.

Skipped until the protocol's URLs exist (they are built beside the kit, issue 20).
Hidden pages are emulated as in tests/test_activity_kit_double_browser.py.
"""

import importlib.util
import time
from decimal import Decimal

import pytest

from timeback_progress.models import Attempt
from timeback_progress.xp import calculate_xp
from tests.plugins.dashboards import make_user
from tests.plugins.factories import enroll, make_activity, make_course, make_student

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        importlib.util.find_spec("timeback_progress.activity") is None,
        reason="the activity protocol (timeback_progress.activity) is not in this tree yet",
    ),
]
QUIZ = "/demo/fractions-quiz/"
STATE = "async () => (await import(JSON.parse(document.getElementById('timeback-activity-config').textContent).module)).getState()"
HIDE = "() => { Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true}); document.dispatchEvent(new Event('visibilitychange')); }"
SHOW = "() => { Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true}); document.dispatchEvent(new Event('visibilitychange')); }"
BEAT = 1  # seconds between heartbeats in these tests


@pytest.fixture
def quiz(db, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "ACTIVITY_HEARTBEAT_SECONDS": BEAT, "ACTIVITY_IDLE_SECONDS": 3}
    course = make_course(sourced_id="math-grade-5", title="Math Grade 5", subject="Math", grade="05")
    activity = make_activity(course, activity_id="fractions-quiz", name="Fractions Quiz", expected_xp=Decimal(20))
    student = make_student(user=make_user("student1"))
    enroll(course, student=student)
    return {"activity": activity, "student": student}


@pytest.fixture
def playing(page, browser_login, quiz):
    browser_login("student1")
    page.goto(QUIZ)
    page.wait_for_function("document.getElementById('quiz-status').textContent.includes('0:')")
    return page


def attempt(quiz):
    return Attempt.objects.filter(student=quiz["student"], activity=quiz["activity"]).get()


def answer(page, right=5):
    sets = page.locator("fieldset.quiz-q")
    for i in range(5):
        fieldset = sets.nth(i)
        good = int(fieldset.get_attribute("data-answer"))
        fieldset.locator("input").nth(good if i < right else (good + 1) % 3).check()


def keep_busy(page, seconds):
    """Input every half second for ``seconds``: all of it active."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        page.mouse.move(20 + int(time.monotonic() * 10) % 200, 20)
        time.sleep(0.5)


def finish(page, right=5):
    answer(page, right)
    page.click("#quiz-finish")
    page.wait_for_selector("[data-testid=quiz-result]:not([hidden])")
    return {key: page.locator(f'[data-result="{key}"]').inner_text() for key in ("xpEarned", "accuracy", "multiplier")}


def test_a_played_quiz_counts_visible_use_as_active_idle_as_inactive_hidden_not_at_all(playing, quiz):
    page = playing
    keep_busy(page, 4)  # ~4 s active
    page.evaluate(HIDE)
    time.sleep(4)  # hidden: not counted
    page.evaluate(SHOW)
    keep_busy(page, 1)
    time.sleep(5)  # visible, no input: active up to the 3 s idle limit, then ~2 s inactive
    shown = finish(page, right=5)
    row = attempt(quiz)
    assert row.completed_at is not None
    assert abs(row.active_seconds - (4 + 1 + 3)) <= 2 * BEAT
    assert abs(row.inactive_seconds - 2) <= 2 * BEAT
    assert row.active_seconds + row.inactive_seconds < 4 + 4 + 1 + 5  # the hidden seconds are not there
    rules = calculate_xp(Decimal(20), 5, 5, 1)
    assert row.xp_earned == rules.xp
    assert shown["xpEarned"] == "25"


def test_offline_heartbeats_and_the_submit_arrive_exactly_once(playing, quiz):
    page = playing
    keep_busy(page, 2)
    page.context.set_offline(True)
    keep_busy(page, 3)
    answer(page, 4)
    page.click("#quiz-finish")
    time.sleep(1)
    assert page.evaluate(STATE)["queued"] >= 3
    assert not Attempt.objects.filter(student=quiz["student"], completed_at__isnull=False).exists()
    page.context.set_offline(False)
    page.wait_for_selector("[data-testid=quiz-result]:not([hidden])")
    row = attempt(quiz)
    assert abs(row.active_seconds + row.inactive_seconds - 5) <= 2 * BEAT  # every second once
    assert row.xp_earned == calculate_xp(Decimal(20), 5, 4, 1).xp


def test_a_reload_mid_activity_resumes_the_run_and_a_reload_while_unreachable_loses_nothing(playing, quiz):
    page = playing
    keep_busy(page, 2)
    run_id = page.evaluate(STATE)["runId"]
    page.route("**/api/timeback/**", lambda route: route.abort("internetdisconnected"))
    keep_busy(page, 3)
    page.reload()
    page.wait_for_function("document.getElementById('quiz-status').textContent.includes('0:')")
    assert page.evaluate(STATE)["runId"] == run_id
    page.unroute("**/api/timeback/**")
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    keep_busy(page, 1)
    finish(page, 5)
    row = attempt(quiz)  # one attempt: the same run before and after the reload
    assert abs(row.active_seconds + row.inactive_seconds - 6) <= 2 * BEAT


def test_two_rapid_end_activity_calls_give_one_result(playing, quiz):
    page = playing
    keep_busy(page, 1)
    results = page.evaluate("""async () => {
        const kit = await import(JSON.parse(document.getElementById('timeback-activity-config').textContent).module);
        return Promise.all([
            kit.endActivity({totalQuestions: 5, correctQuestions: 5}),
            kit.endActivity({totalQuestions: 5, correctQuestions: 5}),
        ]);
    }""")
    assert results[0] == results[1]
    assert results[0]["xpEarned"] == 25 and results[0]["multiplier"] == 1.25 and results[0]["accuracy"] == 100
    assert Attempt.objects.filter(student=quiz["student"]).count() == 1
    assert attempt(quiz).attempt_number == 1
