"""The API's result corrections: ``POST/GET /api/v1/attempts/<pk>/corrections/``.

The API twin of the admin's correction form: the same service, the same
validation, an audit row, a re-queued result and an XP-difference event.
"""

import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse

from timeback_progress.gradebook import attempts
from timeback_progress.api.throttling import TimebackReadThrottle, TimebackWriteThrottle
from timeback_progress.models import (
    Attempt, DailyProgress, Delivery, IdempotencyRecord, Result, ResultCorrection, StudentProgress,
)
from tests.plugins.api import make_user
from tests.plugins.factories import complete

pytestmark = pytest.mark.django_db

TABLES = (Attempt, Result, ResultCorrection, StudentProgress, DailyProgress, Delivery, IdempotencyRecord)


def state():
    """Every row of every table a correction writes: a refused request must leave all of it as it was."""
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in TABLES}


def url(pk):
    return reverse("timeback_progress_api:attempt-corrections", args=[pk])


def post(client, pk, body, **headers):
    return client.post(url(pk), json.dumps(body), content_type="application/json", headers=headers)


def with_perms(username, *codenames, **kw):
    user = make_user(username, **kw)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=codenames, content_type__app_label="timeback_progress")
    )
    return user


@pytest.fixture
def corrector(api_world):
    return with_perms("corrector", "correct_result")


@pytest.fixture
def graded(api_world):
    """Ann's first quiz attempt, 8 of 10 (10 XP, 80 %), with everything it queued already sent."""
    attempt = complete(api_world.ann, api_world.quiz, total=10, correct=8)
    Delivery.objects.update(status=Delivery.State.SENT)
    return attempt


def activity_events(attempt):
    return [
        d for d in Delivery.objects.filter(attempt=attempt, kind=Delivery.Kind.CALIPER_EVENT).order_by("pk")
        if d.payload["type"] == "ActivityEvent"
    ]


def metrics(delivery_row):
    return {item["type"]: item["value"] for item in delivery_row.payload["generated"]["items"]}


# -- success -----------------------------------------------------------------------


def test_correction_rederives_audits_and_requeues(api_world, client_for, corrector, graded):
    w = api_world
    result = Result.objects.get(attempt=graded)
    assert (graded.xp_earned, graded.accuracy) == (Decimal("10.00"), Decimal("80.00"))

    response = post(client_for(corrector, token=True), graded.pk, {"reason": "  Miscounted question 7  ", "correctQuestions": 10})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["attemptId"] == graded.pk and body["resultSourcedId"] == result.sourced_id
    assert (body["reason"], body["correctedBy"]) == ("Miscounted question 7", "corrector")
    assert (body["before"]["xp"], body["after"]["xp"]) == (10.0, 12.5)
    assert (body["before"]["correctQuestions"], body["after"]["correctQuestions"]) == (8.0, 10.0)
    assert body["createdAt"] and body["id"] == ResultCorrection.objects.get().pk
    figures = body["attempt"]
    assert (figures["xpEarned"], figures["accuracy"], figures["masteredUnits"], figures["correctQuestions"]) == (12.5, 100.0, 1, 10.0)
    assert figures["id"] == graded.pk and figures["status"] == "completed"

    # The attempt, its result and the student's progress follow.
    graded.refresh_from_db()
    assert (graded.xp_earned, graded.accuracy, graded.xp_override) == (Decimal("12.50"), Decimal("100.00"), None)
    result.refresh_from_db()
    assert (result.metadata["xp"], result.score) == (12.5, Decimal("100.00"))
    assert StudentProgress.objects.get(student=w.ann, course=w.math).xp_total == Decimal("12.50")
    assert DailyProgress.objects.get(student=w.ann, course=w.math).xp == Decimal("12.50")

    # The audit row.
    correction = ResultCorrection.objects.get()
    assert (correction.result, correction.corrected_by, correction.reason) == (result, corrector, "Miscounted question 7")
    assert correction.before["xp"] == 10.0 and correction.after["xp"] == 12.5

    # The outbox: the result is PUT again, and an ActivityEvent carries only the difference.
    assert Delivery.objects.filter(
        kind=Delivery.Kind.RESULT, key=f"result:{result.sourced_id}", status=Delivery.State.PENDING
    ).count() == 1
    delta = activity_events(graded)[-1]
    assert delta.status == Delivery.State.PENDING
    assert delta.key == f"urn:uuid:{graded.derived_uuid('xp-correction/0')}"
    assert metrics(delta) == {"xpEarned": 12.5 - 10.0, "masteredUnits": 0}


def test_xp_override_score_and_status(api_world, client_for, corrector, graded):
    client = client_for(corrector)
    response = post(client, graded.pk, {"reason": "Regraded by hand", "xp": 4, "score": 95.5, "scoreStatus": "partially graded"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["attempt"]["xpEarned"] == 4.0
    assert (body["after"]["score"], body["after"]["scoreStatus"], body["after"]["xp"]) == ("95.50", "partially graded", 4.0)
    graded.refresh_from_db()
    assert graded.xp_override == Decimal("4.00")
    result = Result.objects.get(attempt=graded)
    assert (result.score, result.score_status, result.is_corrected) == (Decimal("95.50"), "partially graded", True)
    assert metrics(activity_events(graded)[-1])["xpEarned"] == 4.0 - 10.0
    assert StudentProgress.objects.get(student=api_world.ann).xp_total == Decimal("4.00")


def test_score_only_correction_resends_the_result_without_an_xp_event(api_world, client_for, corrector, graded):
    events_before = len(activity_events(graded))
    response = post(client_for(corrector), graded.pk, {"reason": "Rubric", "score": 90})
    assert response.status_code == 201, response.json()
    assert response.json()["attempt"]["xpEarned"] == 10.0
    assert Delivery.objects.filter(kind=Delivery.Kind.RESULT, status=Delivery.State.PENDING).count() == 1
    assert len(activity_events(graded)) == events_before


def test_unchanged_values_are_not_pinned(api_world, client_for, corrector, graded):
    """As in the admin form: an XP or mastered units equal to the current one is no override."""
    response = post(client_for(corrector), graded.pk, {"reason": "Score only", "xp": 10, "masteredUnits": 1, "score": 85})
    assert response.status_code == 201, response.json()
    graded.refresh_from_db()
    assert (graded.xp_override, graded.mastered_units_override) == (None, None)
    assert Result.objects.get(attempt=graded).score == Decimal("85.00")


def test_mastered_units_and_question_counts(api_world, client_for, corrector, graded):
    response = post(client_for(corrector), graded.pk, {"reason": "Recount", "totalQuestions": 12, "correctQuestions": 6.5, "masteredUnits": 0})
    assert response.status_code == 201, response.json()
    figures = response.json()["attempt"]
    assert (figures["totalQuestions"], figures["correctQuestions"], figures["accuracy"], figures["masteredUnits"]) == (12, 6.5, 54.17, 0)
    progress = StudentProgress.objects.get(student=api_world.ann, course=api_world.math)
    assert (progress.mastered_units, progress.total_questions, progress.correct_questions) == (0, 12, Decimal("6.50"))


def test_list_is_newest_first(api_world, client_for, corrector, graded):
    client = client_for(corrector)
    assert client.get(url(graded.pk)).json() == {"count": 0, "results": []}
    assert post(client, graded.pk, {"reason": "first", "score": 90}).status_code == 201
    assert post(client, graded.pk, {"reason": "second", "xp": 7}).status_code == 201
    other = complete(api_world.bob, api_world.quiz)
    assert post(client, other.pk, {"reason": "someone else", "score": 1}).status_code == 201
    response = client.get(url(graded.pk))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [c["reason"] for c in body["results"]] == ["second", "first"]
    assert body["results"][0]["before"]["xp"] == 10.0 and body["results"][0]["after"]["xp"] == 7.0
    assert {c["attemptId"] for c in body["results"]} == {graded.pk}
    assert "attempt" not in body["results"][0]


# -- permissions ---------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "anonymous-token"])
def test_anonymous_gets_nothing(api_world, client_for, graded, who):
    client = client_for(None)
    if who == "anonymous-token":
        client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    before = state()
    assert post(client, graded.pk, {"reason": "x", "xp": 1}).status_code in (401, 403)
    assert client.get(url(graded.pk)).status_code in (401, 403)
    assert state() == before


@pytest.mark.parametrize("who, post_status, get_status", [
    ("ann", 403, 403),             # the student whose attempt it is
    ("bob", 403, 403),
    ("teacher", 403, 403),         # teaches the course
    ("staff", 403, 403),           # staff alone is not enough
    ("service", 403, 403),         # may write attempts, not correct results
    ("nobody", 403, 403),
    ("auditor", 403, 200),         # view_resultcorrection: reads the trail only
    ("corrector", 201, 200),
    ("staff_corrector", 201, 200),
    ("superuser", 201, 200),
])
def test_permission_matrix(api_world, client_for, graded, who, post_status, get_status):
    w = api_world
    users = {
        "ann": w.ann.user, "bob": w.bob.user, "teacher": w.teacher, "staff": w.staff, "service": w.service,
        "nobody": w.nobody,
    }
    if who == "auditor":
        users[who] = with_perms("auditor", "view_resultcorrection")
    elif who == "corrector":
        users[who] = with_perms("corrector", "correct_result")
    elif who == "staff_corrector":
        users[who] = with_perms("staff-corrector", "correct_result", is_staff=True)
    elif who == "superuser":
        users[who] = make_user("root", is_staff=True, is_superuser=True)
    client = client_for(users[who])
    before = state()
    response = post(client, graded.pk, {"reason": "x", "xp": 1})
    assert response.status_code == post_status, response.json()
    if post_status == 403:
        assert "timeback_progress.correct_result" in response.json()["detail"]
        assert state() == before
    else:
        assert ResultCorrection.objects.get().corrected_by == users[who]
    assert client.get(url(graded.pk)).status_code == get_status


def test_inactive_corrector_gets_nothing(api_world, client_for, corrector, graded):
    client = client_for(corrector, token=True)
    corrector.is_active = False
    corrector.save()
    assert post(client, graded.pk, {"reason": "x", "xp": 1}).status_code in (401, 403)
    assert ResultCorrection.objects.count() == 0


# -- 404 and 409 -----------------------------------------------------------------------


@pytest.mark.parametrize("pk", [999_999, 0, 2**63, 2**70])
def test_unknown_attempt_is_404(api_world, client_for, corrector, graded, pk):
    client = client_for(corrector)
    before = state()
    response = post(client, pk, {"reason": "x", "xp": 1})
    assert response.status_code == 404 and response.json()["detail"]
    assert client.get(url(pk)).status_code == 404
    assert state() == before


def test_open_attempt_is_409(api_world, client_for, corrector):
    attempt = attempts.start_attempt(api_world.ann, api_world.quiz)
    client = client_for(corrector)
    before = state()
    response = post(client, attempt.pk, {"reason": "x", "xp": 1}, **{"Idempotency-Key": "open-1"})
    assert response.status_code == 409
    assert "not completed" in response.json()["detail"]
    assert state() == before
    assert client.get(url(attempt.pk)).json() == {"count": 0, "results": []}


# -- validation ------------------------------------------------------------------------

OK = {"reason": "Regraded"}
BAD_BODIES = [
    # reason
    ({"xp": 5}, "reason"),
    ({"reason": "", "xp": 5}, "reason"),
    ({"reason": "   \n ", "xp": 5}, "reason"),
    ({"reason": None, "xp": 5}, "reason"),
    ({"reason": ["why"], "xp": 5}, "reason"),
    ({"reason": {"why": 1}, "xp": 5}, "reason"),
    ({"reason": "x" * 2001, "xp": 5}, "reason"),
    ({"reason": "a\x00b", "xp": 5}, "reason"),
    ({"reason": "\ud800", "xp": 5}, "reason"),
    # at least one change; unknown fields
    (OK, "non_field_errors"),
    ({**OK, "correctQuestions": 8}, "non_field_errors"),  # the current value: nothing changes
    ({**OK, "xp": 10, "scoreStatus": "fully graded"}, "non_field_errors"),
    ({**OK, "xpEarned": 5}, "xpEarned"),
    ({**OK, "xp": 5, "accuracy": 90}, "accuracy"),
    ({**OK, "xp": 5, "\ud800": 1}, "\\ud800"),  # echoed escaped: a lone surrogate cannot be sent as UTF-8
    # score and scoreStatus
    ({**OK, "score": -1}, "score"),
    ({**OK, "score": 100_000}, "score"),
    ({**OK, "score": "90"}, "score"),
    ({**OK, "score": 90.125}, "score"),
    ({**OK, "score": None}, "score"),
    ({**OK, "scoreStatus": "graded"}, "scoreStatus"),
    ({**OK, "scoreStatus": "Fully Graded"}, "scoreStatus"),
    ({**OK, "scoreStatus": 1}, "scoreStatus"),
    ({**OK, "scoreStatus": True}, "scoreStatus"),
    ({**OK, "scoreStatus": ["fully graded"]}, "scoreStatus"),
    ({**OK, "scoreStatus": None}, "scoreStatus"),
    ({**OK, "scoreStatus": ""}, "scoreStatus"),
    ({**OK, "scoreStatus": "\ud800"}, "scoreStatus"),
    # xp
    ({**OK, "xp": -0.01}, "xp"),
    ({**OK, "xp": "5"}, "xp"),
    ({**OK, "xp": True}, "xp"),
    ({**OK, "xp": [5]}, "xp"),
    ({**OK, "xp": 5.125}, "xp"),
    ({**OK, "xp": 10**30}, "xp"),
    ({**OK, "xp": 1e308}, "xp"),
    ({**OK, "xp": 2**63}, "xp"),
    # question counts (in the body, and against the attempt's stored 8 of 10)
    ({**OK, "totalQuestions": -1}, "totalQuestions"),
    ({**OK, "totalQuestions": 10.5}, "totalQuestions"),
    ({**OK, "totalQuestions": "10"}, "totalQuestions"),
    ({**OK, "totalQuestions": False}, "totalQuestions"),
    ({**OK, "totalQuestions": 10_001}, "totalQuestions"),
    ({**OK, "totalQuestions": 10**30}, "totalQuestions"),
    ({**OK, "totalQuestions": 4, "correctQuestions": 5}, "correctQuestions"),
    ({**OK, "totalQuestions": 5}, "correctQuestions"),   # 8 stored correct answers > 5
    ({**OK, "correctQuestions": 10.5}, "correctQuestions"),  # > the 10 stored questions
    ({**OK, "correctQuestions": -1}, "correctQuestions"),
    ({**OK, "correctQuestions": 5.555}, "correctQuestions"),
    ({**OK, "correctQuestions": "9"}, "correctQuestions"),
    # mastered units: at most the activity's masterable units (1)
    ({**OK, "masteredUnits": 2}, "masteredUnits"),
    ({**OK, "masteredUnits": 10**30}, "masteredUnits"),
    ({**OK, "masteredUnits": -1}, "masteredUnits"),
    ({**OK, "masteredUnits": 0.5}, "masteredUnits"),
    # not an object
    ([OK], "non_field_errors"),
    ("Regraded", "non_field_errors"),
]


@pytest.mark.parametrize("body, field", BAD_BODIES)
def test_bad_input_is_400_with_field_errors_and_writes_nothing(api_world, client_for, corrector, graded, body, field):
    client = client_for(corrector)
    before = state()
    response = post(client, graded.pk, body, **{"Idempotency-Key": "fix-and-retry"})
    assert response.status_code == 400, response.json()
    errors = response.json()
    assert field in errors, errors
    assert all(isinstance(messages, list) and messages for messages in errors.values()), errors
    assert state() == before


@pytest.mark.parametrize("raw", [
    '{"reason": "x", "xp": NaN}',
    '{"reason": "x", "xp": Infinity}',
    '{"reason": "x", "xp": -Infinity}',
    '{"reason": "x", "xp": 1e400}',
    '{"reason": "x", "totalQuestions": ' + "9" * 5000 + "}",
    '{"reason": "x", "xp": 5',
    b'{"reason": "\xff", "xp": 5}',
    "[" * 100_000,
    "",
    "null",
])
def test_malformed_or_non_finite_json_is_400(api_world, client_for, corrector, graded, raw):
    before = state()
    response = client_for(corrector).post(url(graded.pk), raw, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert state() == before


def test_form_bodies_are_refused(api_world, client_for, corrector, graded):
    before = state()
    assert client_for(corrector).post(url(graded.pk), {"reason": "x", "xp": "5"}).status_code == 415
    assert state() == before


def test_a_refused_request_can_be_fixed_and_resent_with_the_same_key(api_world, client_for, corrector, graded):
    client = client_for(corrector)
    assert post(client, graded.pk, {"reason": "typo", "masteredUnits": 3}, **{"Idempotency-Key": "k"}).status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert post(client, graded.pk, {"reason": "typo", "masteredUnits": 0}, **{"Idempotency-Key": "k"}).status_code == 201


# -- idempotency -------------------------------------------------------------------------


def test_same_key_replays_the_correction(api_world, client_for, corrector, graded):
    client = client_for(corrector)
    body = {"reason": "Miscounted", "correctQuestions": 10}
    first = post(client, graded.pk, body, **{"Idempotency-Key": "fix-42"})
    assert first.status_code == 201
    before = state()
    again = post(client, graded.pk, body, **{"Idempotency-Key": "fix-42"})
    assert (again.status_code, again.json()) == (201, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert state() == before
    assert ResultCorrection.objects.count() == 1
    keys = {e.key for e in activity_events(graded)}
    assert f"urn:uuid:{graded.derived_uuid('xp-correction/0')}" in keys
    assert f"urn:uuid:{graded.derived_uuid('xp-correction/1')}" not in keys

    # The same key for another request is a 422; another key is a new request, which changes nothing now.
    assert post(client, graded.pk, {**body, "reason": "other"}, **{"Idempotency-Key": "fix-42"}).status_code == 422
    repeated = post(client, graded.pk, body, **{"Idempotency-Key": "fix-43"})
    assert repeated.status_code == 400 and "Nothing changed" in repeated.json()["non_field_errors"][0]
    assert state() == before


def test_without_a_key_a_repeat_is_refused_not_doubled(api_world, client_for, corrector, graded):
    client = client_for(corrector)
    body = {"reason": "Override", "xp": 3}
    assert post(client, graded.pk, body).status_code == 201
    assert post(client, graded.pk, body).status_code == 400
    assert ResultCorrection.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_malformed_key_is_400(api_world, client_for, corrector, graded, key):
    before = state()
    response = post(client_for(corrector), graded.pk, {"reason": "x", "xp": 1}, **{"Idempotency-Key": key})
    assert response.status_code == 400 and "Idempotency-Key" in response.json()
    assert state() == before


# -- throttling and schema -----------------------------------------------------------------


def test_writes_and_reads_use_their_own_throttles(api_world, client_for, corrector, graded, monkeypatch):
    monkeypatch.setattr(TimebackWriteThrottle, "THROTTLE_RATES", {"timeback_write": "1/min"})
    monkeypatch.setattr(TimebackReadThrottle, "THROTTLE_RATES", {"timeback_read": "3/min"})
    client = client_for(corrector)
    assert post(client, graded.pk, {"reason": "x", "xp": 1}).status_code == 201
    assert post(client, graded.pk, {"reason": "x", "xp": 2}).status_code == 429
    assert [client.get(url(graded.pk)).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_schema_documents_the_endpoint(client_for, corrector):
    schema = json.loads(client_for(corrector).get("/api/schema/", {"format": "json"}).content)
    operations = schema["paths"]["/api/v1/attempts/{id}/corrections/"]
    assert {"200", "401", "403", "404"} <= set(operations["get"]["responses"])
    post_op = operations["post"]
    assert {"201", "400", "401", "403", "404", "409", "422"} <= set(post_op["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in post_op["parameters"])
    body = schema["components"]["schemas"]["CorrectionRequest"]
    assert body["required"] == ["reason"]
    assert set(body["properties"]) == {"reason", "score", "scoreStatus", "xp", "totalQuestions", "correctQuestions", "masteredUnits"}
    assert body["properties"]["xp"]["type"] == "number"


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
