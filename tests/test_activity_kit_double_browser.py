"""The browser kit in real Chromium on the demo quiz, against a RECORDING TEST DOUBLE of the protocol.

The double (tests/kit_double_urls.py) stands in for ``timeback_progress.activity``
to show what the kit sends, request by request; it has none of the protocol's
validation or effects. The same scenarios against the real protocol, with the
attempt's seconds and XP in the database: tests/test_activity_kit_browser.py.

Hidden and frozen pages: headless Chromium keeps every page visible and never
freezes a visible one (CDP ``Page.setWebLifecycleState`` "frozen" fires no
``freeze`` there: tried), so the tests set ``document.visibilityState`` and
fire ``visibilitychange``, ``freeze`` and ``resume`` themselves. Screenshots of the quiz
at 1366x900 and 390x844: /tmp/shots/kit-*.png (or $SHOTS_DIR).
"""

import os
import time
from decimal import Decimal

import pytest

from tests import kit_double_urls as double
from tests.plugins.dashboards import make_user
from tests.plugins.factories import enroll, make_activity, make_course, make_student

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.kit_double_urls")]
QUIZ = "/demo/fractions-quiz/"
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
STATE = "async () => (await import(JSON.parse(document.getElementById('timeback-activity-config').textContent).module)).getState()"
HIDE = "() => { Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true}); document.dispatchEvent(new Event('visibilitychange')); }"
SHOW = "() => { Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true}); document.dispatchEvent(new Event('visibilitychange')); }"


@pytest.fixture
def quiz(db, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "ACTIVITY_HEARTBEAT_SECONDS": 1, "ACTIVITY_IDLE_SECONDS": 60}
    course = make_course(sourced_id="math-grade-5", title="Math Grade 5", subject="Math", grade="05")
    activity = make_activity(course, activity_id="fractions-quiz", name="Fractions Quiz", expected_xp=Decimal(20))
    enroll(course, student=make_student(user=make_user("student1")))
    double.reset()
    return activity


@pytest.fixture
def playing(page, browser_login, quiz):
    browser_login("student1")
    page.goto(QUIZ)
    page.wait_for_function("document.getElementById('quiz-status').textContent.includes('0:')")
    return page


def beats():
    return [body for route, body, _h in double.RECORDED if route == "heartbeat"]


def submits():
    return [body for route, body, _h in double.RECORDED if route == "submit"]


def answer(page, right=5):
    """Answer the five questions, ``right`` of them correctly (the page's data-answer)."""
    sets = page.locator("fieldset.quiz-q")
    for i in range(5):
        fieldset = sets.nth(i)
        good = int(fieldset.get_attribute("data-answer"))
        fieldset.locator("input").nth(good if i < right else (good + 1) % 3).check()


def wait_for(condition, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_the_quiz_reports_each_window_and_one_completion(playing):
    page = playing
    page.mouse.move(10, 10)
    wait_for(lambda: len(beats()) >= 3)
    answer(page, right=5)
    page.click("#quiz-finish")
    page.wait_for_selector("[data-testid=quiz-result]:not([hidden])")
    assert page.locator('[data-result="xpEarned"]').inner_text() == "25"
    body = submits()[0]
    assert body["metrics"] == {"totalQuestions": 5, "correctQuestions": 5, "xpEarned": 25}  # the hint: 20 x 1.25
    assert {b["runId"] for b in beats()} == {body["runId"]}
    assert len({b["startedAt"] for b in beats()}) == len(beats())  # each window once
    assert all(b["course"] == {"code": "math-grade-5"} for b in beats())
    assert all(h["csrf"] and h["user"] == "student1" for _r, _b, h in double.RECORDED)


def test_hidden_and_frozen_time_is_not_counted_and_hiding_flushes_the_window(playing):
    page = playing
    wait_for(lambda: len(beats()) >= 1)
    page.evaluate(HIDE)
    hidden_at = len(beats())
    time.sleep(2.5)
    assert len(beats()) <= hidden_at + 1  # the flush on hiding; nothing while hidden
    counted = page.evaluate(STATE)
    page.evaluate(SHOW)
    page.evaluate("() => document.dispatchEvent(new Event('freeze'))")
    time.sleep(2.0)
    page.evaluate("() => document.dispatchEvent(new Event('resume'))")
    time.sleep(0.5)
    after = page.evaluate(STATE)
    # 4.5 s of wall clock went by; at most the 0.5 s after waking (and a heartbeat's rounding) counted.
    assert after["activeMs"] + after["inactiveMs"] - (counted["activeMs"] + counted["inactiveMs"]) < 1500


def test_offline_windows_and_the_submit_arrive_once_when_the_network_is_back(playing):
    page = playing
    wait_for(lambda: len(beats()) >= 1)
    page.context.set_offline(True)
    time.sleep(3.2)
    answer(page, right=4)
    page.click("#quiz-finish")
    wait_for(lambda: page.evaluate(STATE)["queued"] >= 3)
    assert "Offline" in page.locator("#quiz-status").inner_text() or page.locator("#quiz-status").inner_text()
    sent_before = len(double.RECORDED)
    page.context.set_offline(False)
    page.wait_for_selector("[data-testid=quiz-result]:not([hidden])")
    assert len(submits()) == 1
    assert len(double.RECORDED) > sent_before
    starts = [b["startedAt"] for b in beats()]
    assert len(starts) == len(set(starts))
    assert starts == sorted(starts)  # in order
    assert page.evaluate(STATE)["queued"] == 0


def test_a_reload_while_the_api_is_unreachable_keeps_the_queue_and_the_run(playing):
    page = playing
    wait_for(lambda: len(beats()) >= 1)
    run_id = beats()[0]["runId"]
    page.route("**/double/timeback/**", lambda route: route.abort("internetdisconnected"))
    time.sleep(2.5)
    page.reload()
    page.wait_for_function("document.getElementById('quiz-status').textContent.includes('0:')")
    state = page.evaluate(STATE)
    assert state["runId"] == run_id
    assert state["queued"] >= 2
    page.unroute("**/double/timeback/**")
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    wait_for(lambda: page.evaluate(STATE)["queued"] == 0)
    assert {b["runId"] for b in beats()} == {run_id}
    starts = [b["startedAt"] for b in beats()]
    assert len(starts) == len(set(starts)) or all(
        r == "heartbeat" for r, _b, _h in double.RECORDED
    )  # a window re-sent after the reload is answered {"duplicate": true}


def test_a_double_click_on_finish_gives_one_completion(playing):
    page = playing
    answer(page, right=3)
    page.dblclick("#quiz-finish")
    page.wait_for_selector("[data-testid=quiz-result]:not([hidden])")
    time.sleep(0.5)
    assert len(submits()) == 1
    assert page.locator('[data-result="xpEarned"]').inner_text() == "25"  # the double's fixed answer


def test_screenshots_of_the_quiz_and_axe_at_both_widths(playing, assert_accessible):
    page = playing
    shots = os.environ.get("SHOTS_DIR", "/tmp/shots")
    os.makedirs(shots, exist_ok=True)
    for label, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=os.path.join(shots, f"kit-quiz-{label}.png"), full_page=True)
        assert_accessible(page, context=f"demo quiz, {label}")
    answer(page, right=5)  # the double's fixed completion is 5/5's: 20 XP x 1.25
    page.click("#quiz-finish")
    page.wait_for_selector("[data-testid=quiz-result]:not([hidden])")
    for label, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=os.path.join(shots, f"kit-quiz-result-{label}.png"), full_page=True)
        assert_accessible(page, context=f"demo quiz result, {label}")
