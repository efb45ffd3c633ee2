"""The vendor SDK's activity protocol served by this app (``timeback_progress.activity``).

Heartbeats are time reports on the run's attempt, counted once per window
(in the database: across connections, and under a race on PostgreSQL);
a submit is one completion with the rules' XP; ``user/me`` is the vendor's
profile shape. ``VALID_*`` and ``INVALID`` are the bodies the vendor's own
validators judge in ``tests/test_activity_vendor.py`` (Python >= 3.12).
"""

import copy
import datetime as dt
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from timeback_progress.models import (
    ActivityRun, Attempt, Delivery, HeartbeatWindow, Result, ResultCorrection,
)
from tests.plugins.api import make_user
from tests.plugins.factories import enroll, make_activity, make_course, make_student

pytestmark = pytest.mark.django_db

HEARTBEAT, SUBMIT, ME = "timeback_activity:heartbeat", "timeback_activity:submit", "timeback_activity:user-me"
RUN = "0b7f1c52-4a57-4f0e-9d53-2b8f6f3b9a10"
COURSE = {"subject": "Math", "grade": 3}


def iso(moment):
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def heartbeat_body(*, start=None, seconds=15, elapsed=None, paused=0, **fields):
    start = start or timezone.now() - dt.timedelta(seconds=seconds)
    body = {
        "id": "fractions-1", "name": "Fractions", "course": dict(COURSE), "runId": RUN,
        "startedAt": iso(start), "endedAt": iso(start + dt.timedelta(seconds=seconds)),
        "elapsedMs": seconds * 1000 - paused if elapsed is None else elapsed, "pausedMs": paused,
    }
    body.update(fields)
    return body


def submit_body(total=10, correct=9, xp=12, **fields):
    body = {
        "id": "fractions-1", "name": "Fractions", "course": dict(COURSE), "runId": RUN, "endedAt": iso(timezone.now()),
        "metrics": {"totalQuestions": total, "correctQuestions": correct, "xpEarned": xp},
    }
    body.update(fields)
    return body


def _without(body, key):
    body = copy.deepcopy(body)
    del body[key]
    return body


def _with(body, path, value):
    body = copy.deepcopy(body)
    target = body
    *parents, last = path.split(".")
    for name in parents:
        target = target[name]
    target[last] = value
    return body


# Every shape the tests send; the vendor's validators accept each (tests/test_activity_vendor.py).
VALID_HEARTBEATS = {
    "grade": lambda: heartbeat_body(),
    "code": lambda: heartbeat_body(course={"code": "math-3"}),
    "paused": lambda: heartbeat_body(paused=4000),
    "idle (this app's extra field)": lambda: heartbeat_body(paused=3000, elapsed=7000, idleMs=5000),
    "fraction and offset": lambda: _with(heartbeat_body(), "startedAt", iso(timezone.now() - dt.timedelta(seconds=15))[:-1] + "+00:00"),
    "padded id": lambda: heartbeat_body(id="  fractions-1 "),
}
VALID_SUBMITS = {
    "grade": lambda: submit_body(),
    "code": lambda: submit_body(course={"code": "math-3"}),
    "extras": lambda: submit_body(pctComplete=140, process=False, **{"metrics": {
        "totalQuestions": 4, "correctQuestions": 4, "xpEarned": -2.5, "masteredUnits": 1}}),
}

# (kind, case, body, field): refused by the vendor's validators AND by this app, with 400 and nothing written.
INVALID = [
    ("heartbeat", "id missing", lambda: _without(heartbeat_body(), "id"), "id"),
    ("heartbeat", "id blank", lambda: heartbeat_body(id="  "), "id"),
    ("heartbeat", "id a number", lambda: heartbeat_body(id=7), "id"),
    ("heartbeat", "name missing", lambda: _without(heartbeat_body(), "name"), "name"),
    ("heartbeat", "course missing", lambda: _without(heartbeat_body(), "course"), "course"),
    ("heartbeat", "course empty", lambda: heartbeat_body(course={}), "course"),
    ("heartbeat", "course a string", lambda: heartbeat_body(course="Math 3"), "course"),
    ("heartbeat", "code not a string", lambda: heartbeat_body(course={"code": 12}), "course.code"),
    ("heartbeat", "code blank", lambda: heartbeat_body(course={"code": "  "}), "course.code"),
    ("heartbeat", "subject missing", lambda: heartbeat_body(course={"grade": 3}), "course.subject"),
    ("heartbeat", "subject unknown", lambda: heartbeat_body(course={"subject": "Maths", "grade": 3}), "course.subject"),
    ("heartbeat", "grade missing", lambda: heartbeat_body(course={"subject": "Math"}), "course"),
    ("heartbeat", "grade text", lambda: heartbeat_body(course={"subject": "Math", "grade": "3"}), "course.grade"),
    ("heartbeat", "grade bool", lambda: heartbeat_body(course={"subject": "Math", "grade": True}), "course.grade"),
    ("heartbeat", "grade 13", lambda: heartbeat_body(course={"subject": "Math", "grade": 13}), "course.grade"),
    ("heartbeat", "grade -1", lambda: heartbeat_body(course={"subject": "Math", "grade": -1}), "course.grade"),
    ("heartbeat", "runId missing", lambda: _without(heartbeat_body(), "runId"), "runId"),
    ("heartbeat", "runId not a uuid", lambda: heartbeat_body(runId="run-1"), "runId"),
    ("heartbeat", "runId braces", lambda: heartbeat_body(runId="{" + RUN + "}"), "runId"),
    ("heartbeat", "startedAt missing", lambda: _without(heartbeat_body(), "startedAt"), "startedAt"),
    ("heartbeat", "startedAt date only", lambda: heartbeat_body(startedAt="2026-01-05"), "startedAt"),
    ("heartbeat", "startedAt without zone", lambda: heartbeat_body(startedAt="2026-01-05T10:00:00"), "startedAt"),
    ("heartbeat", "endedAt epoch number", lambda: heartbeat_body(endedAt=1767607200000), "endedAt"),
    ("heartbeat", "elapsedMs missing", lambda: _without(heartbeat_body(), "elapsedMs"), "elapsedMs"),
    ("heartbeat", "elapsedMs negative", lambda: heartbeat_body(elapsed=-1), "elapsedMs"),
    ("heartbeat", "elapsedMs fraction", lambda: heartbeat_body(elapsed=1500.5), "elapsedMs"),
    ("heartbeat", "elapsedMs text", lambda: heartbeat_body(elapsed="15000"), "elapsedMs"),
    ("heartbeat", "pausedMs null", lambda: heartbeat_body(pausedMs=None), "pausedMs"),
    ("heartbeat", "pausedMs bool", lambda: heartbeat_body(pausedMs=False), "pausedMs"),
    ("submit", "endedAt missing", lambda: _without(submit_body(), "endedAt"), "endedAt"),
    ("submit", "process text", lambda: submit_body(process="yes"), "process"),
    ("submit", "pctComplete text", lambda: submit_body(pctComplete="50"), "pctComplete"),
    ("submit", "metrics missing", lambda: _without(submit_body(), "metrics"), "metrics"),
    ("submit", "metrics a list", lambda: submit_body(metrics=[1]), "metrics"),
    ("submit", "xpEarned missing", lambda: submit_body(metrics={"totalQuestions": 1, "correctQuestions": 1}), "metrics.xpEarned"),
    ("submit", "xpEarned text", lambda: submit_body(xp="10"), "metrics.xpEarned"),
    ("submit", "xpEarned bool", lambda: submit_body(xp=True), "metrics.xpEarned"),
    ("submit", "total without correct", lambda: submit_body(metrics={"totalQuestions": 3, "xpEarned": 1}), "metrics"),
    ("submit", "correct above total", lambda: submit_body(total=3, correct=4), "metrics.correctQuestions"),
    ("submit", "correct fraction", lambda: submit_body(total=3, correct=1.5), "metrics.correctQuestions"),
    ("submit", "masteredUnits negative", lambda: _with(submit_body(), "metrics.masteredUnits", -1), "metrics.masteredUnits"),
    ("submit", "runId missing", lambda: _without(submit_body(), "runId"), "runId"),
    ("submit", "course grade 13", lambda: submit_body(course={"subject": "Math", "grade": 13}), "course.grade"),
]
# Refused here only (this app's bounds; the vendor accepts them): 400, nothing written.
STRICTER = [
    ("heartbeat", "window ends before it starts", lambda: heartbeat_body(endedAt=iso(timezone.now() - dt.timedelta(minutes=5))), "endedAt"),
    ("heartbeat", "more time than the window", lambda: heartbeat_body(seconds=15, elapsed=30_000), "elapsedMs"),
    ("heartbeat", "a window in the future", lambda: heartbeat_body(start=timezone.now() + dt.timedelta(hours=1)), "startedAt"),
    ("heartbeat", "before 2000", lambda: heartbeat_body(start=dt.datetime(1999, 12, 31, tzinfo=dt.timezone.utc)), "startedAt"),
    ("heartbeat", "month 13", lambda: heartbeat_body(startedAt="2026-13-01T00:00:00Z"), "startedAt"),
    ("heartbeat", "a final newline", lambda: heartbeat_body(startedAt=iso(timezone.now() - dt.timedelta(seconds=15)) + "\n"), "startedAt"),
    ("heartbeat", "idleMs negative", lambda: heartbeat_body(idleMs=-5), "idleMs"),
    ("heartbeat", "id too long", lambda: heartbeat_body(id="x" * 256), "id"),
    ("submit", "no question counts", lambda: submit_body(metrics={"xpEarned": 3}), "metrics"),
    ("submit", "too many questions", lambda: submit_body(total=10_001, correct=1), "metrics.totalQuestions"),
    ("submit", "a body that is a list", lambda: [submit_body()], "body"),
]


def post(client, name, body):
    return client.post(reverse(name), body, format="json")


def attempt_of(student, run=RUN):
    return ActivityRun.objects.select_related("attempt").get(student=student, run_id=run).attempt


# -- heartbeats -------------------------------------------------------------------


def test_a_heartbeat_starts_the_run_and_adds_its_time(activity_world, ann_session):
    response = post(ann_session, HEARTBEAT, heartbeat_body(paused=4000))
    assert response.status_code == 204, response.content
    attempt = attempt_of(activity_world.ann)
    assert (attempt.active_seconds, attempt.inactive_seconds, attempt.completed_at) == (11, 4, None)
    assert attempt.activity == activity_world.activity and HeartbeatWindow.objects.count() == 1


def test_a_retried_heartbeat_is_a_duplicate_and_adds_nothing(activity_world, ann_session):
    body = heartbeat_body()
    assert post(ann_session, HEARTBEAT, body).status_code == 204
    again = post(ann_session, HEARTBEAT, body)
    assert (again.status_code, again.json()) == (200, {"duplicate": True})
    assert attempt_of(activity_world.ann).active_seconds == 15
    assert HeartbeatWindow.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_retry_on_a_new_connection_is_still_a_duplicate(activity_world, ann_session):
    """The key is in the database, not in a process: a restart (a new connection) changes nothing."""
    body = heartbeat_body()
    assert post(ann_session, HEARTBEAT, body).status_code == 204
    connection.close()
    assert post(ann_session, HEARTBEAT, body).json() == {"duplicate": True}
    assert attempt_of(activity_world.ann).active_seconds == 15


def test_milliseconds_carry_over_between_windows(activity_world, ann_session):
    start = timezone.now() - dt.timedelta(seconds=50)
    for n in range(3):
        body = heartbeat_body(start=start + dt.timedelta(seconds=15 * n), elapsed=14_600, paused=0)
        assert post(ann_session, HEARTBEAT, body).status_code == 204
    run = ActivityRun.objects.get()
    assert (run.active_ms, run.attempt.active_seconds) == (43_800, 43)  # 3 x 14.6 s: never 42 nor 45


def test_idle_ms_is_the_inactive_time_and_paused_is_not_counted(activity_world, ann_session):
    assert post(ann_session, HEARTBEAT, heartbeat_body(elapsed=7000, paused=3000, idleMs=5000)).status_code == 204
    attempt = attempt_of(activity_world.ann)
    assert (attempt.active_seconds, attempt.inactive_seconds) == (7, 5)


def test_heartbeat_time_goes_out_through_the_outbox(activity_world, ann_session, settings):
    settings.TIMEBACK_PROGRESS = {"TIME_FLUSH_SECONDS": 0}
    body = heartbeat_body()
    post(ann_session, HEARTBEAT, body)
    post(ann_session, HEARTBEAT, body)
    events = [d.payload for d in Delivery.objects.filter(kind=Delivery.Kind.CALIPER_EVENT)]
    assert [e["type"] for e in events] == ["TimeSpentEvent"]
    assert events[0]["generated"]["items"][0]["value"] == 15


def test_a_run_id_is_one_activitys(activity_world, ann_session):
    post(ann_session, HEARTBEAT, heartbeat_body())
    response = post(ann_session, HEARTBEAT, heartbeat_body(id="story-1", course={"subject": "Reading", "grade": 3}))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "RUN_MISMATCH")


def test_two_students_may_use_the_same_run_id(activity_world, ann_session):
    bob = make_student(user=make_user("bob"), email="bob@example.com")
    enroll(activity_world.course, student=bob)
    client = APIClient()
    client.force_login(bob.user)
    body = heartbeat_body()
    assert post(ann_session, HEARTBEAT, body).status_code == 204
    assert post(client, HEARTBEAT, body).status_code == 204
    assert attempt_of(bob).pk != attempt_of(activity_world.ann).pk


def test_a_heartbeat_after_the_submit_is_refused(activity_world, ann_session):
    post(ann_session, HEARTBEAT, heartbeat_body(start=timezone.now() - dt.timedelta(seconds=40)))
    post(ann_session, SUBMIT, submit_body())
    response = post(ann_session, HEARTBEAT, heartbeat_body())
    assert (response.status_code, response.json()["error"]["code"]) == (409, "RUN_COMPLETED")
    assert HeartbeatWindow.objects.count() == 1


def test_more_time_than_the_wall_clock_is_refused_by_the_gradebook(activity_world, ann_session, settings):
    """Each window fits, but the run's total passes the time since it started: the gradebook's rule, a 400."""
    settings.TIMEBACK_PROGRESS = {"TIME_TOLERANCE_SECONDS": 0}
    start = timezone.now() - dt.timedelta(seconds=15)
    assert post(ann_session, HEARTBEAT, heartbeat_body(start=start)).status_code == 204
    response = post(ann_session, HEARTBEAT, heartbeat_body(start=start - dt.timedelta(seconds=15)))
    assert response.status_code == 400, response.content
    assert HeartbeatWindow.objects.count() == 1 and attempt_of(activity_world.ann).active_seconds == 15


@pytest.mark.django_db(transaction=True)
def test_two_identical_heartbeats_at_once_count_once(activity_world):
    """Two requests racing on two connections: the student's lock orders them, the unique window backs it."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs row locks (run with DATABASE_URL=postgres://...)")
    body, answers, barrier = heartbeat_body(), [], threading.Barrier(2)

    def send():
        client = APIClient()
        client.force_login(activity_world.ann.user)
        try:
            barrier.wait()
            answers.append(post(client, HEARTBEAT, body).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 204]
    assert Attempt.objects.get().active_seconds == 15 and HeartbeatWindow.objects.count() == 1


def test_heartbeat_queries_do_not_grow_with_history(activity_world, ann_session):
    start = timezone.now() - dt.timedelta(minutes=30)
    counts = []
    for n in range(40):
        with CaptureQueriesContext(connection) as queries:
            assert post(ann_session, HEARTBEAT, heartbeat_body(start=start + dt.timedelta(seconds=15 * n))).status_code == 204
        counts.append(len(queries))
    # Every 4th heartbeat also writes the minute's TimeSpentEvent (TIME_FLUSH_SECONDS 60): a cycle of 4.
    assert sorted(set(counts[1:9])) == sorted(set(counts[-8:])) and max(counts[1:]) <= 21, str(counts)  # 21 on PostgreSQL (the attempt lock re-locks the student)


# -- submit -----------------------------------------------------------------------


def test_submit_completes_the_run_with_the_rules_xp(activity_world, ann_session):
    post(ann_session, HEARTBEAT, heartbeat_body(start=timezone.now() - dt.timedelta(seconds=40)))
    response = post(ann_session, SUBMIT, submit_body(total=10, correct=9, xp=999))
    assert response.status_code == 200, response.content
    body = response.json()
    attempt = attempt_of(activity_world.ann)
    assert attempt.completed_at is not None and attempt.active_seconds == 15
    assert body["xpEarned"] == 10 and body["xpSource"] == "rules"  # 90% of a 10-minute activity: 10 XP, not 999
    assert (body["accuracy"], body["multiplier"], body["masteredUnits"]) == (90, 1, 1)
    assert (body["attempt"], body["duplicate"], body["runId"]) == (1, False, RUN)


def test_a_double_submit_gives_one_completion(activity_world, ann_session):
    post(ann_session, HEARTBEAT, heartbeat_body(start=timezone.now() - dt.timedelta(seconds=40)))
    body = submit_body()
    first, second = post(ann_session, SUBMIT, body).json(), post(ann_session, SUBMIT, body).json()
    assert second == {**first, "duplicate": True}
    assert Attempt.objects.filter(completed_at__isnull=False).count() == 1 and Result.objects.count() == 1
    events = Delivery.objects.filter(kind=Delivery.Kind.CALIPER_EVENT, payload__type="ActivityEvent")
    assert events.count() == 1


def test_a_second_submit_with_other_counts_is_refused(activity_world, ann_session):
    post(ann_session, SUBMIT, submit_body(total=10, correct=9))
    response = post(ann_session, SUBMIT, submit_body(total=10, correct=3))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "RUN_COMPLETED")
    assert attempt_of(activity_world.ann).correct_questions == 9


def test_a_submit_without_heartbeats_records_the_run(activity_world, ann_session):
    response = post(ann_session, SUBMIT, submit_body(total=4, correct=4))
    assert response.status_code == 200, response.content
    attempt = attempt_of(activity_world.ann)
    assert (attempt.total_questions, attempt.active_seconds, attempt.started_at) == (4, 0, attempt.completed_at)


def test_client_xp_is_used_only_when_trusted_and_then_audited(activity_world, ann_session, settings):
    settings.TIMEBACK_PROGRESS = {"ACTIVITY_TRUST_CLIENT_XP": True}
    response = post(ann_session, SUBMIT, submit_body(total=10, correct=9, xp=12.5))
    assert response.status_code == 200, response.content
    assert (response.json()["xpEarned"], response.json()["xpSource"]) == (12.5, "correction")
    correction = ResultCorrection.objects.get()
    assert correction.corrected_by == activity_world.ann.user and "rules gave 10" in correction.reason
    assert attempt_of(activity_world.ann).xp_earned == Decimal("12.5")
    events = Delivery.objects.filter(kind=Delivery.Kind.CALIPER_EVENT, payload__type="ActivityEvent")
    assert events.count() == 2  # the rules' completion, then the correction carrying +2.5


def test_a_trusted_negative_xp_refuses_the_submit(activity_world, ann_session, settings):
    settings.TIMEBACK_PROGRESS = {"ACTIVITY_TRUST_CLIENT_XP": True}
    response = post(ann_session, SUBMIT, submit_body(xp=-3))
    assert (response.status_code, response.json()["error"]["details"]["field"]) == (400, "metrics.xpEarned")
    assert not Attempt.objects.exists() and not ActivityRun.objects.exists()


# -- who and what -----------------------------------------------------------------


@pytest.mark.parametrize("course, code, status", [
    ({"code": "math-3"}, None, 204),
    ({"subject": "Math", "grade": 3}, None, 204),  # the course's grade is "03"
    ({"code": "nope"}, "UNKNOWN_COURSE", 400),
    ({"subject": "Math", "grade": 4}, "UNKNOWN_COURSE", 400),
    ({"subject": "Reading", "grade": 3}, "COURSE_MISMATCH", 400),
    ({"code": "read-3"}, "COURSE_MISMATCH", 400),
])
def test_the_course_selector_must_describe_the_activitys_course(activity_world, ann_session, course, code, status):
    response = post(ann_session, HEARTBEAT, heartbeat_body(course=course))
    assert response.status_code == status
    if code:
        assert response.json()["error"]["code"] == code and not Attempt.objects.exists()


def test_an_unknown_activity_is_refused_never_created(activity_world, ann_session):
    response = post(ann_session, HEARTBEAT, heartbeat_body(id="new-quiz"))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "UNKNOWN_ACTIVITY")
    assert not Attempt.objects.exists()


def test_a_student_not_enrolled_is_refused(activity_world, ann_session):
    activity_world.ann.enrollments.filter(course=activity_world.course).update(is_active=False)
    response = post(ann_session, HEARTBEAT, heartbeat_body())
    assert (response.status_code, response.json()["error"]["code"]) == (403, "FORBIDDEN")


def test_a_student_without_email_cannot_start_a_run(activity_world, ann_session):
    type(activity_world.ann).objects.filter(pk=activity_world.ann.pk).update(email="")
    response = post(ann_session, HEARTBEAT, heartbeat_body())
    assert (response.status_code, response.json()["error"]["code"]) == (400, "MISSING_EMAIL")
    assert not Attempt.objects.exists()


def test_anonymous_is_401_in_the_vendors_shape(activity_world):
    response = post(APIClient(), HEARTBEAT, heartbeat_body())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_user_who_is_no_student_is_refused(activity_world):
    client = APIClient()
    client.force_login(make_user("teacher"))
    response = post(client, HEARTBEAT, heartbeat_body())
    assert (response.status_code, response.json()["error"]["code"]) == (404, "USER_NOT_FOUND")


def test_session_auth_needs_the_csrf_token(activity_world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(activity_world.ann.user)
    response = post(client, HEARTBEAT, heartbeat_body())
    assert (response.status_code, response.json()["error"]["code"]) == (403, "FORBIDDEN")
    assert "CSRF" in response.json()["error"]["message"] and not Attempt.objects.exists()


def test_a_token_works_without_csrf(activity_world, client_for):
    client = client_for(activity_world.ann.user, token=True)
    client.handler.enforce_csrf_checks = True
    assert post(client, HEARTBEAT, heartbeat_body()).status_code == 204


def test_malformed_json_is_the_vendors_400(activity_world, ann_session):
    response = ann_session.post(reverse(HEARTBEAT), "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "INVALID_PAYLOAD", "message": "Malformed JSON in request body"}}


# -- validation tables ------------------------------------------------------------


@pytest.mark.parametrize("kind, case, make, field", INVALID + STRICTER, ids=[f"{k}: {c}" for k, c, _, _ in INVALID + STRICTER])
def test_invalid_requests_are_refused_and_write_nothing(activity_world, ann_session, kind, case, make, field):
    response = post(ann_session, HEARTBEAT if kind == "heartbeat" else SUBMIT, make())
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("INVALID_PAYLOAD", field)
    assert not Attempt.objects.exists() and not ActivityRun.objects.exists() and not Delivery.objects.exists()


@pytest.mark.parametrize("case", VALID_HEARTBEATS)
def test_valid_heartbeats_are_counted(activity_world, ann_session, case):
    assert post(ann_session, HEARTBEAT, VALID_HEARTBEATS[case]()).status_code == 204


@pytest.mark.parametrize("case", VALID_SUBMITS)
def test_valid_submits_complete(activity_world, ann_session, case):
    assert post(ann_session, SUBMIT, VALID_SUBMITS[case]()).status_code == 200


# -- user/me ----------------------------------------------------------------------


def test_user_me_is_the_vendors_profile_with_xp_today_and_in_total(activity_world, ann_session):
    yesterday = timezone.now() - dt.timedelta(days=1)
    from timeback_progress.gradebook import attempts

    attempts.record_attempt(activity_world.ann, activity_world.activity, total_questions=10, correct_questions=10,
                            completed_at=yesterday, started_at=yesterday - dt.timedelta(minutes=5))
    post(ann_session, SUBMIT, submit_body(total=10, correct=9))
    body = ann_session.get(reverse(ME)).json()
    today_xp, all_xp = (Attempt.objects.get(completed_at__date=d).xp_earned for d in (timezone.localdate(), yesterday.date()))
    assert body == {
        "id": activity_world.ann.sourced_id, "email": "ann@example.com", "name": "Ann Able",
        "courses": [{"id": "math-3", "code": "math-3", "name": "Math 3"}, {"id": "read-3", "code": "read-3", "name": "Reading 3"}],
        "xp": {"today": float(today_xp), "all": float(today_xp + all_xp)},
    }
    assert 0 < body["xp"]["today"] < body["xp"]["all"]


def test_user_me_queries_are_flat(activity_world, ann_session):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert ann_session.get(reverse(ME)).status_code == 200
        return len(queries)

    small = count()
    for n in range(5):
        course = make_course()
        enroll(course, student=activity_world.ann)
        activity = make_activity(course)
        from timeback_progress.gradebook import attempts

        attempts.record_attempt(activity_world.ann, activity, total_questions=5, correct_questions=5,
                                completed_at=timezone.now() - dt.timedelta(days=n, minutes=1))
    assert count() == small <= 6


def test_user_me_anonymous_is_401(activity_world):
    response = APIClient().get(reverse(ME))
    assert (response.status_code, response.json()["error"]["code"]) == (401, "UNAUTHORIZED")


def test_the_routes_are_the_vendors():
    assert reverse(HEARTBEAT) == "/api/timeback/activity/heartbeat"
    assert reverse(SUBMIT) == "/api/timeback/activity/submit"
    assert reverse(ME) == "/api/timeback/user/me"


def test_run_ids_are_uuids(activity_world, ann_session):
    post(ann_session, HEARTBEAT, heartbeat_body(runId=RUN.upper()))
    assert ActivityRun.objects.get().run_id == uuid.UUID(RUN)
