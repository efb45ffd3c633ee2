"""The REST API: every endpoint, the permission matrix, validation, idempotency."""

import json
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from timeback_progress.api.throttling import TimebackWriteThrottle
from timeback_progress.models import (
    Attempt, DailyProgress, Delivery, Enrollment, IdempotencyRecord, Result, StudentProgress,
)
from tests.plugins.factories import complete, make_activity

pytestmark = pytest.mark.django_db

WRITTEN = (Attempt, Result, StudentProgress, DailyProgress, Delivery, IdempotencyRecord)


def counts():
    return {model.__name__: model.objects.count() for model in WRITTEN}


def url(name, *args):
    return reverse(f"timeback_progress_api:{name}", args=args)


def post(client, path, body, **headers):
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def start(client, student, activity, **headers):
    return post(client, url("attempt-start"), {"studentSourcedId": student.sourced_id, "activityId": activity.activity_id}, **headers)


# -- the learning-app flow ------------------------------------------------------


def test_token_walkthrough_start_time_complete(api_world, client_for):
    w = api_world
    client = client_for(w.ann.user, token=True)
    started = start(client, w.ann, w.quiz)
    assert started.status_code == 201, started.json()
    body = started.json()
    assert (body["number"], body["status"], body["studentSourcedId"], body["courseSourcedId"]) == (
        1, "open", w.ann.sourced_id, w.math.sourced_id,
    )
    pk = body["id"]
    for active, inactive in ((15, 0), (15, 5)):
        timed = post(client, url("attempt-time", pk), {"activeSeconds": active, "inactiveSeconds": inactive})
        assert timed.status_code == 200, timed.json()
    assert (timed.json()["activeSeconds"], timed.json()["inactiveSeconds"]) == (30, 5)

    done = post(client, url("attempt-complete", pk), {"totalQuestions": 10, "correctQuestions": 9, "activeSeconds": 10})
    assert done.status_code == 200, done.json()
    body = done.json()
    assert body["status"] == "completed"
    assert (body["accuracy"], body["multiplier"], body["xpEarned"], body["masteredUnits"]) == (90.0, 1.0, 10.0, 1)
    assert body["activeSeconds"] == 40
    # The signal path ran: result, progress and outbox rows exist.
    assert Result.objects.get(attempt_id=pk).metadata["xp"] == 10.0
    progress = StudentProgress.objects.get(student=w.ann, course=w.math)
    assert (progress.xp_total, progress.completed_count, progress.active_seconds) == (Decimal("10.00"), 1, 40)
    assert Delivery.objects.filter(attempt_id=pk, kind="result").exists()

    read = client.get(url("attempt-detail", pk))
    assert read.status_code == 200 and read.json() == body


def test_second_attempt_number_and_multiplier(api_world, client_for):
    w = api_world
    client = client_for(w.ann.user)
    complete(w.ann, w.quiz, total=10, correct=10)
    pk = start(client, w.ann, w.quiz).json()["id"]
    body = post(client, url("attempt-complete", pk), {"totalQuestions": 10, "correctQuestions": 10}).json()
    assert (body["number"], body["attempt"], body["multiplier"], body["xpEarned"], body["masteredUnits"]) == (
        2, 2, 0.5, 5.0, 0)


def test_an_abandoned_run_is_not_an_attempt(api_world, client_for):
    """Opened and left, then opened again and perfect: the run is 2, the attempt 1 (1.25x)."""
    w = api_world
    client = client_for(w.ann.user)
    start(client, w.ann, w.quiz)
    pk = start(client, w.ann, w.quiz).json()["id"]
    body = post(client, url("attempt-complete", pk), {"totalQuestions": 10, "correctQuestions": 10}).json()
    assert (body["number"], body["attempt"], body["multiplier"], body["xpEarned"]) == (2, 1, 1.25, 12.5)


def test_completing_twice_is_409_and_changes_nothing(api_world, client_for):
    w = api_world
    client = client_for(w.ann.user)
    pk = start(client, w.ann, w.quiz).json()["id"]
    assert post(client, url("attempt-complete", pk), {"totalQuestions": 10, "correctQuestions": 8}).status_code == 200
    before = counts()
    again = post(client, url("attempt-complete", pk), {"totalQuestions": 10, "correctQuestions": 10})
    assert again.status_code == 409
    assert "already completed" in again.json()["detail"]
    assert counts() == before
    assert Attempt.objects.get(pk=pk).correct_questions == Decimal(8)
    late_time = post(client, url("attempt-time", pk), {"activeSeconds": 5})
    assert late_time.status_code == 409 and counts() == before


def test_record_and_backfill(api_world, client_for):
    w = api_world
    client = client_for(w.service, token=True)
    when = timezone.now() - timezone.timedelta(days=3)
    response = post(client, url("attempt-record"), {
        "studentSourcedId": w.bob.sourced_id, "activityId": w.drawing.activity_id,
        "totalQuestions": 4, "correctQuestions": 3.5, "activeSeconds": 600,
        "startedAt": (when - timezone.timedelta(minutes=10)).isoformat(), "completedAt": when.isoformat(),
    })
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["accuracy"], body["xpEarned"], body["correctQuestions"], body["status"]) == (87.5, 20.0, 3.5, "completed")
    attempt = Attempt.objects.get(pk=body["id"])
    assert attempt.completed_at == when
    assert DailyProgress.objects.get(student=w.bob).day == when.date()


@pytest.mark.parametrize("dates, field", [
    ({"completedAt": "2999-01-01T00:00:00Z"}, "completedAt"),
    ({"startedAt": "2024-01-02T00:00:00Z", "completedAt": "2024-01-01T00:00:00Z"}, "startedAt"),
    ({"completedAt": "yesterday"}, "completedAt"),
])
def test_record_refuses_bad_dates(api_world, client_for, dates, field):
    w = api_world
    before = counts()
    response = post(client_for(w.service), url("attempt-record"), {
        "studentSourcedId": w.ann.sourced_id, "activityId": w.quiz.activity_id,
        "totalQuestions": 4, "correctQuestions": 4, **dates,
    })
    assert response.status_code == 400 and field in response.json()
    assert counts() == before


def record_item(student, activity, correct=8):
    return {"studentSourcedId": student.sourced_id, "activityId": activity.activity_id, "totalQuestions": 10, "correctQuestions": correct}


def test_batch_records_all(api_world, client_for):
    w = api_world
    items = [record_item(w.ann, w.quiz), record_item(w.bob, w.quiz, 10), record_item(w.ann, w.quiz, 9)]
    response = post(client_for(w.service), url("attempt-record-batch"), {"items": items})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["count"] == 3
    assert [r["number"] for r in body["results"]] == [1, 1, 2]
    assert [r["xpEarned"] for r in body["results"]] == [10.0, 12.5, 5.0]


@pytest.mark.parametrize("bad, status", [
    ({"studentSourcedId": "nobody-here"}, 404),  # what attempt-record answers for each alone
    ({"activityId": "no-such-activity"}, 404),
    ({"correctQuestions": 11}, 400),
    ({"totalQuestions": "10"}, 400),
])
def test_batch_is_all_or_nothing(api_world, client_for, bad, status):
    w = api_world
    items = [record_item(w.ann, w.quiz), {**record_item(w.bob, w.quiz), **bad}]
    before = counts()
    alone = post(client_for(w.service), url("attempt-record"), items[1])
    assert alone.status_code == status and counts() == before
    response = post(client_for(w.service), url("attempt-record-batch"), {"items": items})
    assert response.status_code == status
    # Errors are keyed by the index of each refused item.
    errors = response.json()["items"]
    assert list(errors) == ["1"] and set(errors["1"]) == set(bad)
    assert counts() == before


def test_batch_limits(api_world, client_for, settings):
    w = api_world
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "API_BATCH_LIMIT": 2}
    client = client_for(w.service)
    assert post(client, url("attempt-record-batch"), {"items": [record_item(w.ann, w.quiz)] * 3}).status_code == 400
    assert post(client, url("attempt-record-batch"), {"items": []}).status_code == 400
    assert post(client, url("attempt-record-batch"), [record_item(w.ann, w.quiz)]).status_code == 400
    assert Attempt.objects.count() == 0


# -- permissions ---------------------------------------------------------------

ANONYMOUS_CALLS = [
    ("post", "attempt-start", ()), ("post", "attempt-record", ()), ("post", "attempt-record-batch", ()),
    ("post", "attempt-time", (1,)), ("post", "attempt-complete", (1,)), ("get", "attempt-detail", (1,)),
    ("get", "student-progress", ("x",)), ("get", "course-students", ("x",)),
]


@pytest.mark.parametrize("method, name, args", ANONYMOUS_CALLS)
def test_anonymous_gets_nothing(api_world, client_for, method, name, args):
    response = getattr(client_for(None), method)(url(name, *args), {}, format="json")
    assert response.status_code in (401, 403)


def test_inactive_user_gets_nothing(api_world, client_for):
    w = api_world
    client = client_for(w.ann.user, token=True)
    w.ann.user.is_active = False
    w.ann.user.save()
    assert start(client, w.ann, w.quiz).status_code in (401, 403)


@pytest.mark.parametrize("who, for_whom, expected", [
    ("ann", "ann", 201), ("ann", "bob", 404), ("teacher", "ann", 404), ("nobody", "ann", 404),
    ("staff", "ann", 404), ("service", "bob", 201),  # staff status alone grants no write
])
def test_write_matrix(api_world, client_for, who, for_whom, expected):
    w = api_world
    user = getattr(w, who) if not hasattr(getattr(w, who), "user") else getattr(w, who).user
    response = start(client_for(user), getattr(w, for_whom), w.quiz)
    assert response.status_code == expected
    assert Attempt.objects.count() == (1 if expected == 201 else 0)


@pytest.mark.parametrize("who, expected", [
    ("ann", 200), ("bob", 404), ("teacher", 200), ("other_teacher", 404), ("staff", 200), ("nobody", 404),
])
def test_read_attempt_matrix(api_world, client_for, who, expected):
    w = api_world
    attempt = complete(w.ann, w.quiz)  # a Math attempt
    user = getattr(w, who).user if who in ("ann", "bob") else getattr(w, who)
    assert client_for(user).get(url("attempt-detail", attempt.pk)).status_code == expected


def test_others_attempt_cannot_be_timed_or_completed(api_world, client_for):
    w = api_world
    pk = start(client_for(w.ann.user), w.ann, w.quiz).json()["id"]
    bob = client_for(w.bob.user)
    before = counts()
    assert post(bob, url("attempt-time", pk), {"activeSeconds": 5}).status_code == 404
    assert post(bob, url("attempt-complete", pk), {"totalQuestions": 1, "correctQuestions": 1}).status_code == 404
    assert post(client_for(w.teacher), url("attempt-complete", pk), {"totalQuestions": 1, "correctQuestions": 1}).status_code == 404
    assert counts() == before


def test_progress_totals_and_visibility(api_world, client_for):
    w = api_world
    complete(w.ann, w.quiz, total=10, correct=10, active=100)  # 12.5 XP in Math
    complete(w.ann, w.drawing, total=10, correct=8, active=50)  # 20 XP in Art
    own = client_for(w.ann.user).get(url("student-progress", w.ann.sourced_id))
    assert own.status_code == 200
    body = own.json()
    assert [c["courseSourcedId"] for c in body["courses"]] == [w.art.sourced_id, w.math.sourced_id]
    totals = body["totals"]
    assert (totals["xpTotal"], totals["masteredUnits"], totals["completedCount"], totals["activeSeconds"]) == (32.5, 2, 2, 150)
    assert totals["accuracy"] == 90.0
    # Course progress is mastered / masterable units (1 of 10 in each), next to XP.
    assert [(c["xpTotal"], c["courseProgress"], c["courseCompletedAt"]) for c in body["courses"]] == [
        (20.0, 10, None), (12.5, 10, None)]
    # A teacher sees only the course they teach.
    teacher = client_for(w.teacher).get(url("student-progress", w.ann.sourced_id)).json()
    assert [c["courseSourcedId"] for c in teacher["courses"]] == [w.math.sourced_id]
    assert teacher["totals"]["xpTotal"] == 12.5
    assert client_for(w.staff).get(url("student-progress", w.ann.sourced_id)).json()["totals"]["xpTotal"] == 32.5
    for user in (w.bob.user, w.nobody):
        assert client_for(user).get(url("student-progress", w.ann.sourced_id)).status_code == 404
    assert client_for(w.staff).get(url("student-progress", "no-such-student")).status_code == 404


def test_teacher_cannot_see_student_outside_their_courses(api_world, client_for):
    w = api_world
    loner = make_activity()  # another course, nobody teaches it
    from tests.plugins.factories import make_student
    outsider = make_student()
    complete(outsider, loner)
    assert client_for(w.teacher).get(url("student-progress", outsider.sourced_id)).status_code == 404


def test_course_students_list(api_world, client_for):
    w = api_world
    complete(w.ann, w.quiz, total=10, correct=10)
    for _ in range(3):
        complete(w.bob, w.quiz, total=10, correct=1)
    client = client_for(w.teacher)
    path = url("course-students", w.math.sourced_id)
    body = client.get(path).json()
    assert body["count"] == 2
    assert [(r["givenName"], r["xpTotal"], r["completedCount"]) for r in body["results"]] == [("Ann", 12.5, 1), ("Bob", 0.0, 3)]
    assert [r["courseProgress"] for r in body["results"]] == [10, 0]  # mastered / masterable units
    page = client.get(path, {"pageSize": 1, "ordering": "-xpTotal"}).json()
    assert [r["givenName"] for r in page["results"]] == ["Ann"] and page["next"]
    assert [r["givenName"] for r in client.get(path, {"search": "bak"}).json()["results"]] == ["Bob"]
    assert [r["givenName"] for r in client.get(path, {"minXp": "1"}).json()["results"]] == ["Ann"]
    assert [r["givenName"] for r in client.get(path, {"stuck": "true"}).json()["results"]] == ["Bob"]
    assert [r["givenName"] for r in client.get(path, {"ordering": "accuracy"}).json()["results"]] == ["Bob", "Ann"]
    # No attempts yet: zeros, not nulls.
    art = client_for(w.other_teacher).get(url("course-students", w.art.sourced_id)).json()["results"]
    assert {(r["xpTotal"], r["attemptsCount"], r["accuracy"]) for r in art} == {(0.0, 0, None)}
    for params in ({"ordering": "password"}, {"minXp": "-1"}, {"pageSize": "0"}, {"stuck": "maybe"}):
        assert client.get(path, params).status_code == 400, params


def test_course_progress_is_never_xp_and_never_over_100(api_world, client_for):
    """XP over the course's total XP would read 175% here; mastered units read 100%, and when."""
    w = api_world
    w.math.total_xp, w.math.masterable_units = 10, 1
    w.math.save()
    complete(w.ann, w.quiz, total=10, correct=10)  # 12.5 XP, the course's one unit
    complete(w.ann, w.quiz, total=10, correct=10)  # 5 XP more, nothing more mastered
    progress = StudentProgress.objects.get(student=w.ann, course=w.math)
    course = client_for(w.teacher).get(url("student-progress", w.ann.sourced_id)).json()["courses"][0]
    assert (course["xpTotal"], course["courseProgress"]) == (17.5, 100)
    assert course["courseCompletedAt"] == progress.course_completed_at.isoformat().replace("+00:00", "Z")
    students = client_for(w.teacher).get(url("course-students", w.math.sourced_id)).json()["results"]
    assert {r["givenName"]: r["courseProgress"] for r in students} == {"Ann": 100, "Bob": 0}
    w.math.masterable_units = 0  # no share to show
    w.math.save()
    course = client_for(w.teacher).get(url("student-progress", w.ann.sourced_id)).json()["courses"][0]
    assert course["courseProgress"] is None
    students = client_for(w.teacher).get(url("course-students", w.math.sourced_id)).json()["results"]
    assert {r["courseProgress"] for r in students} == {None}


@pytest.mark.parametrize("who, expected", [
    ("teacher", 200), ("other_teacher", 404), ("staff", 200), ("ann", 404), ("nobody", 404),
])
def test_course_students_matrix(api_world, client_for, who, expected):
    w = api_world
    user = w.ann.user if who == "ann" else getattr(w, who)
    assert client_for(user).get(url("course-students", w.math.sourced_id)).status_code == expected


def test_course_students_query_count_is_flat(api_world, client_for, django_assert_max_num_queries):
    from tests.plugins.factories import enroll, make_student
    w = api_world
    for _ in range(20):
        student = make_student()
        enroll(w.math, student=student)
        complete(student, w.quiz)
    client = client_for(w.teacher, token=True)
    client.get(url("course-students", w.math.sourced_id))  # warm the throttle row
    with django_assert_max_num_queries(12):
        assert len(client.get(url("course-students", w.math.sourced_id)).json()["results"]) == 22


# -- validation ----------------------------------------------------------------

BAD_COMPLETIONS = [
    ({"totalQuestions": 10, "correctQuestions": 11}, "correctQuestions"),
    ({"totalQuestions": 10, "correctQuestions": -1}, "correctQuestions"),
    ({"totalQuestions": -1, "correctQuestions": 0}, "totalQuestions"),
    ({"totalQuestions": "10", "correctQuestions": 5}, "totalQuestions"),
    ({"totalQuestions": True, "correctQuestions": 1}, "totalQuestions"),
    ({"totalQuestions": 10, "correctQuestions": "5"}, "correctQuestions"),
    ({"totalQuestions": 10.5, "correctQuestions": 5}, "totalQuestions"),
    ({"totalQuestions": 10, "correctQuestions": 5.125}, "correctQuestions"),
    ({"totalQuestions": 10**30, "correctQuestions": 5}, "totalQuestions"),
    ({"totalQuestions": 10, "correctQuestions": 5, "activeSeconds": 86_401}, "activeSeconds"),
    ({"totalQuestions": 10, "correctQuestions": 5, "inactiveSeconds": -5}, "inactiveSeconds"),
    ({"totalQuestions": 10, "correctQuestions": [5]}, "correctQuestions"),
    ({"totalQuestions": None, "correctQuestions": 5}, "totalQuestions"),
    ({"correctQuestions": 5}, "totalQuestions"),
]


@pytest.mark.parametrize("body, field", BAD_COMPLETIONS)
def test_bad_completion_is_400_with_field_errors(api_world, client_for, body, field):
    w = api_world
    client = client_for(w.ann.user)
    pk = start(client, w.ann, w.quiz).json()["id"]
    before = counts()
    response = post(client, url("attempt-complete", pk), body)
    assert response.status_code == 400
    assert field in response.json()
    assert counts() == before
    assert not Attempt.objects.get(pk=pk).is_completed


@pytest.mark.parametrize("raw", [
    '{"totalQuestions": 10, "correctQuestions": NaN}',
    '{"totalQuestions": 10, "correctQuestions": Infinity}',
    '{"totalQuestions": 10, "correctQuestions": 1e400}',
    '{"totalQuestions": 1e400, "correctQuestions": 1}',
    '{"totalQuestions": 10, "correctQuestions": 5',
    "[" * 100_000,
    '{"totalQuestions": ' + "9" * 5000 + ', "correctQuestions": 1}',
    b'{"totalQuestions": 10, "correctQuestions": "\xff"}',
    "",
])
def test_malformed_or_non_finite_json_is_400(api_world, client_for, raw):
    w = api_world
    client = client_for(w.ann.user)
    pk = start(client, w.ann, w.quiz).json()["id"]
    before = counts()
    response = client.post(url("attempt-complete", pk), raw, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert counts() == before


def test_form_bodies_are_refused(api_world, client_for):
    w = api_world
    response = client_for(w.ann.user).post(url("attempt-start"), {"studentSourcedId": w.ann.sourced_id, "activityId": w.quiz.activity_id})
    assert response.status_code == 415 and Attempt.objects.count() == 0


@pytest.mark.parametrize("body", [{}, {"activeSeconds": 86_401}, {"activeSeconds": 1.5}, {"inactiveSeconds": "5"}])
def test_bad_time_is_400(api_world, client_for, body):
    w = api_world
    client = client_for(w.ann.user)
    pk = start(client, w.ann, w.quiz).json()["id"]
    before = counts()
    assert post(client, url("attempt-time", pk), body).status_code == 400
    assert counts() == before


def test_unknown_or_inactive_ids_are_404(api_world, client_for):
    w = api_world
    client = client_for(w.service)
    assert post(client, url("attempt-start"), {"studentSourcedId": "ghost", "activityId": w.quiz.activity_id}).status_code == 404
    assert post(client, url("attempt-start"), {"studentSourcedId": w.ann.sourced_id, "activityId": "ghost"}).status_code == 404
    w.quiz.is_active = False
    w.quiz.save()
    assert start(client, w.ann, w.quiz).status_code == 404
    w.ann.is_active = False
    w.ann.save()
    assert start(client, w.ann, w.drawing).status_code == 404
    assert post(client, url("attempt-time", 2**64), {"activeSeconds": 1}).status_code == 404
    assert client.get(url("attempt-detail", 999_999)).status_code == 404
    assert client.get(url("student-progress", "a\x00b")).status_code == 404
    assert Attempt.objects.count() == 0


# -- idempotency ---------------------------------------------------------------


def test_same_key_replays_the_first_response(api_world, client_for):
    w = api_world
    client = client_for(w.ann.user)
    first = start(client, w.ann, w.quiz, **{"Idempotency-Key": "k-1"})
    before = counts()
    again = start(client, w.ann, w.quiz, **{"Idempotency-Key": "k-1"})
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert counts() == before
    assert Attempt.objects.count() == 1


def test_retried_completion_replays_instead_of_409(api_world, client_for):
    w = api_world
    client = client_for(w.ann.user)
    pk = start(client, w.ann, w.quiz).json()["id"]
    body = {"totalQuestions": 10, "correctQuestions": 10}
    first = post(client, url("attempt-complete", pk), body, **{"Idempotency-Key": "done-1"})
    before = counts()
    again = post(client, url("attempt-complete", pk), body, **{"Idempotency-Key": "done-1"})
    assert again.status_code == 200 and again.json() == first.json() and counts() == before
    assert post(client, url("attempt-complete", pk), body, **{"Idempotency-Key": "done-2"}).status_code == 409


def test_retries_send_no_signals(api_world, client_for):
    """No phantom pre_save/post_save for host receivers: retries write nothing, not even rolled back."""
    from django.db.models.signals import post_save, pre_save

    w = api_world
    client = client_for(w.ann.user)
    first = start(client, w.ann, w.quiz, **{"Idempotency-Key": "s-1"})
    pk = first.json()["id"]
    body = {"totalQuestions": 10, "correctQuestions": 7}
    post(client, url("attempt-complete", pk), body, **{"Idempotency-Key": "c-1"})
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append((sender.__name__, instance.pk))

    for signal in (pre_save, post_save):
        signal.connect(receiver, weak=False)
    try:
        assert start(client, w.ann, w.quiz, **{"Idempotency-Key": "s-1"}).json() == first.json()
        assert post(client, url("attempt-complete", pk), body, **{"Idempotency-Key": "c-1"})["Idempotent-Replayed"] == "true"
    finally:
        for signal in (pre_save, post_save):
            signal.disconnect(receiver)
    assert seen == []


def test_retried_time_report_adds_nothing(api_world, client_for):
    """Time is additive: the retry's seconds are rolled back and the first answer replayed."""
    w = api_world
    client = client_for(w.ann.user)
    pk = start(client, w.ann, w.quiz).json()["id"]
    first = post(client, url("attempt-time", pk), {"activeSeconds": 30}, **{"Idempotency-Key": "t-1"})
    before = counts()
    again = post(client, url("attempt-time", pk), {"activeSeconds": 30}, **{"Idempotency-Key": "t-1"})
    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (200, first.json(), "true")
    assert Attempt.objects.get(pk=pk).active_seconds == 30 and counts() == before
    fresh = post(client, url("attempt-time", pk), {"activeSeconds": 5}, **{"Idempotency-Key": "t-2"})
    assert fresh.status_code == 200 and "Idempotent-Replayed" not in fresh
    assert Attempt.objects.get(pk=pk).active_seconds == 35


def test_same_key_other_request_is_422(api_world, client_for):
    w = api_world
    client = client_for(w.ann.user)
    pk = start(client, w.ann, w.quiz, **{"Idempotency-Key": "k"}).json()["id"]
    before = counts()
    other_body = start(client, w.ann, w.drawing, **{"Idempotency-Key": "k"})
    assert other_body.status_code == 422 and "different request" in other_body.json()["detail"]
    other_path = post(client, url("attempt-time", pk), {"activeSeconds": 1}, **{"Idempotency-Key": "k"})
    assert other_path.status_code == 422
    assert counts() == before


def test_keys_are_per_user_and_failures_are_not_stored(api_world, client_for):
    w = api_world
    ann, bob = client_for(w.ann.user), client_for(w.bob.user)
    assert start(ann, w.ann, w.quiz, **{"Idempotency-Key": "shared"}).status_code == 201
    assert start(bob, w.bob, w.quiz, **{"Idempotency-Key": "shared"}).status_code == 201
    assert Attempt.objects.count() == 2
    refused = post(ann, url("attempt-start"), {"studentSourcedId": w.ann.sourced_id, "activityId": "typo"}, **{"Idempotency-Key": "fix-me"})
    assert refused.status_code == 404 and not IdempotencyRecord.objects.filter(key="fix-me").exists()
    assert start(ann, w.ann, w.quiz, **{"Idempotency-Key": "fix-me"}).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_malformed_key_is_400(api_world, client_for, key):
    w = api_world
    response = start(client_for(w.ann.user), w.ann, w.quiz, **{"Idempotency-Key": key})
    assert response.status_code == 400 and "Idempotency-Key" in response.json()
    assert Attempt.objects.count() == 0


def test_a_student_acts_only_in_courses_they_are_enrolled_in(api_world, client_for):
    w = api_world
    Enrollment.objects.filter(student=w.ann, course=w.math).update(is_active=False)
    response = start(client_for(w.ann.user), w.ann, w.quiz)
    assert response.status_code == 403 and "not actively enrolled" in response.json()["detail"]
    assert start(client_for(w.ann.user), w.ann, w.drawing).status_code == 201  # still enrolled in Art
    assert start(client_for(w.service), w.ann, w.quiz).status_code == 201  # a service account may
    assert Attempt.objects.count() == 2


def test_recording_is_for_service_accounts_unless_allowed(api_world, client_for, settings):
    w = api_world
    item = record_item(w.ann, w.quiz, 10)
    response = post(client_for(w.ann.user), url("attempt-record"), item)
    assert response.status_code == 403 and "service accounts" in response.json()["detail"]
    batch = post(client_for(w.ann.user), url("attempt-record-batch"), {"items": [item]})
    assert batch.status_code == 403 and Attempt.objects.count() == 0
    assert "service accounts" in batch.json()["items"]["0"]["studentSourcedId"][0]
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "API_STUDENTS_MAY_RECORD": True}
    assert post(client_for(w.ann.user), url("attempt-record"), item).status_code == 201
    Enrollment.objects.filter(student=w.ann, course=w.math).update(is_active=False)
    assert post(client_for(w.ann.user), url("attempt-record"), item).status_code == 403  # and only where enrolled
    assert Attempt.objects.count() == 1


def test_batch_replay(api_world, client_for):
    w = api_world
    client = client_for(w.service)
    body = {"items": [record_item(w.ann, w.quiz), record_item(w.bob, w.quiz)]}
    first = post(client, url("attempt-record-batch"), body, **{"Idempotency-Key": "backfill-2024-01"})
    again = post(client, url("attempt-record-batch"), body, **{"Idempotency-Key": "backfill-2024-01"})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert Attempt.objects.count() == 2


# -- throttling and schema -------------------------------------------------------


def test_writes_are_throttled(api_world, client_for, monkeypatch):
    w = api_world
    monkeypatch.setattr(TimebackWriteThrottle, "THROTTLE_RATES", {"timeback_write": "2/min"})
    client = client_for(w.ann.user)
    codes = [start(client, w.ann, w.quiz).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert client.get(url("student-progress", w.ann.sourced_id)).status_code == 200  # reads have their own scope


def test_a_scope_set_to_none_is_not_throttled(api_world, client_for, monkeypatch):
    """None turns a scope off; a scope left out gets the app's default rate (tests/test_throttles.py)."""
    w = api_world
    monkeypatch.setattr(TimebackWriteThrottle, "THROTTLE_RATES", {"timeback_write": None})
    client = client_for(w.ann.user)
    assert {start(client, w.ann, w.quiz).status_code for _ in range(3)} == {201}


def test_schema_lists_every_endpoint(api_world, client_for):
    response = client_for(api_world.ann.user).get("/api/schema/", {"format": "json"})  # private by default
    assert response.status_code == 200
    schema = json.loads(response.content)
    paths = set(schema["paths"])
    assert {
        "/api/v1/attempts/", "/api/v1/attempts/{id}/", "/api/v1/attempts/{id}/time/", "/api/v1/attempts/{id}/complete/",
        "/api/v1/attempts/record/", "/api/v1/attempts/record/batch/", "/api/v1/attempts/{id}/corrections/",
        "/api/v1/students/{sourced_id}/progress/", "/api/v1/courses/{sourced_id}/students/",
    } <= paths
    complete_op = schema["paths"]["/api/v1/attempts/{id}/complete/"]["post"]
    assert {"200", "400", "404", "409", "422"} <= set(complete_op["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in complete_op["parameters"])


def test_stuck_filter_uses_the_dashboards_rule(api_world, client_for):
    """No activity for STUCK_INACTIVE_DAYS also counts as stuck, as on the dashboards."""
    from datetime import timedelta

    from django.utils import timezone

    from timeback_progress.models import StudentProgress

    w = api_world
    complete(w.ann, w.quiz, total=10, correct=10)
    complete(w.bob, w.quiz, total=10, correct=10)
    StudentProgress.objects.filter(student=w.bob).update(last_activity_at=timezone.now() - timedelta(days=30))
    path = url("course-students", w.math.sourced_id)
    client = client_for(w.teacher)
    assert [r["givenName"] for r in client.get(path, {"stuck": "true"}).json()["results"]] == ["Bob"]
    assert [r["givenName"] for r in client.get(path, {"stuck": "false"}).json()["results"]] == ["Ann"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_do_it_once(api_world, client_for):
    """Both racers send the same key at once: one writes, the other replays its answer."""
    import threading

    from django.db import connection, connections

    if not connection.features.has_select_for_update:
        pytest.skip("SQLite serialises the two writers; the race needs PostgreSQL")
    w = api_world
    barrier, answers = threading.Barrier(2), []

    def race():
        try:
            client = client_for(w.ann.user, token=True)
            barrier.wait()
            answers.append(start(client, w.ann, w.quiz, **{"Idempotency-Key": "race"}))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert Attempt.objects.filter(student=w.ann).count() == 1
    assert sorted(a.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
