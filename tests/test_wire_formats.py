"""Wire formats: the worked example of timeback-api.md, field by field, and the
vendor's own pydantic models (``timeback-caliper`` / ``timeback-oneroster``
0.4.0, Python >= 3.12) as the judge of what Timeback accepts.

The vendor tests skip when those packages are absent (the Python 3.11 leg).
"""

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests

from timeback_progress import services
from timeback_progress.models import Delivery, Result
from timeback_progress.sandbox import validation
from timeback_progress.timeback import caliper, gradebook
from tests.plugins.factories import make_activity, make_course, make_student

pytestmark = pytest.mark.django_db

API = "https://api.alpha-1edtech.ai"
WHEN = datetime(2025, 11, 18, 10, 15, tzinfo=UTC)
CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2"


@pytest.fixture
def example_settings(settings):
    settings.TIMEBACK_PROGRESS = {
        **(getattr(settings, "TIMEBACK_PROGRESS", None) or {}),
        "ENVIRONMENT": "production",
        "API_URL": API,
        "SENSOR": "https://your-app.com",
    }


@pytest.fixture
def example(example_settings):
    """The worked example: student-123 takes Fractions Quiz in Math Grade 5."""
    course = make_course(sourced_id="math-grade-5", title="Math Grade 5", subject="Math")
    activity = make_activity(
        course, activity_id="fractions-quiz", name="Fractions Quiz", subject="Math", app_name="Math App",
        expected_xp=Decimal(100), line_item_sourced_id="fractions-quiz-line-item",
        component_resource_sourced_id="fractions-quiz-resource",
    )
    student = make_student(sourced_id="student-123", email="student@example.com", given_name="", family_name="")
    return student, activity


def _complete(example, correct):
    student, activity = example
    attempt = services.record_attempt(
        student, activity, total_questions=10, correct_questions=correct, active_seconds=240, inactive_seconds=60,
        completed_at=WHEN,
    )
    attempt.refresh_from_db()
    return attempt


def _events(attempt):
    rows = Delivery.objects.filter(kind=Delivery.Kind.CALIPER_EVENT, attempt=attempt)
    return {row.payload["type"]: row.payload for row in rows}


ACTOR = {
    "id": f"{API}/ims/oneroster/rostering/v1p2/users/student-123",
    "type": "TimebackUser",
    "email": "student@example.com",
    "role": "student",
}
OBJECT = {
    "id": "fractions-quiz",
    "type": "TimebackActivityContext",
    "subject": "Math",
    "app": {"name": "Math App"},
    "course": {"id": f"{API}/ims/oneroster/rostering/v1p2/courses/math-grade-5", "name": "Math Grade 5"},
    "activity": {"id": "fractions-quiz", "name": "Fractions Quiz"},
}


def test_activity_event_matches_the_worked_example(example):
    attempt = _complete(example, 8)
    assert (attempt.xp_earned, attempt.accuracy, attempt.multiplier, attempt.mastered_units) == (
        Decimal("100.00"), Decimal("80.00"), Decimal("1.00"), 1)
    event = _events(attempt)["ActivityEvent"]
    event_uuid = attempt.derived_uuid("activity-event")
    assert event == {
        "@context": CONTEXT,
        "id": f"urn:uuid:{event_uuid}",
        "type": "ActivityEvent",
        "action": "Completed",
        "profile": "TimebackProfile",
        "eventTime": "2025-11-18T10:15:00.000Z",
        "actor": ACTOR,
        "object": OBJECT,
        "edApp": {"id": "https://your-app.com", "type": "SoftwareApplication"},
        "generated": {
            "id": event["generated"]["id"],
            "type": "TimebackActivityMetricsCollection",
            "attempt": 1,
            "items": [
                {"type": "totalQuestions", "value": 10},
                {"type": "correctQuestions", "value": 8},
                {"type": "xpEarned", "value": 100},
                {"type": "masteredUnits", "value": 1},
            ],
        },
    }
    assert validation.is_urn_uuid(event["generated"]["id"])
    # Deterministic: building it again gives the same ids.
    assert caliper.activity_event(attempt)["id"] == event["id"]
    assert caliper.activity_event(attempt)["generated"]["id"] == event["generated"]["id"]


def test_time_spent_event_matches_the_worked_example(example):
    attempt = _complete(example, 8)
    event = _events(attempt)["TimeSpentEvent"]
    assert event["id"] == f"urn:uuid:{attempt.derived_uuid('time-spent/0')}"
    assert (event["type"], event["action"], event["profile"], event["@context"]) == (
        "TimeSpentEvent", "SpentTime", "TimebackProfile", CONTEXT)
    assert event["eventTime"] == "2025-11-18T10:15:00.000Z"
    assert event["actor"] == ACTOR
    assert event["object"] == OBJECT
    assert event["generated"]["type"] == "TimebackTimeSpentMetricsCollection"
    assert event["generated"]["items"] == [{"type": "active", "value": 240}, {"type": "inactive", "value": 60}]
    assert set(event["generated"]) == {"id", "type", "items"}


def test_envelope_matches_the_worked_example(example):
    attempt = _complete(example, 8)
    events = list(_events(attempt).values())
    env = caliper.envelope(events, send_time=WHEN)
    assert env == {"sensor": "https://your-app.com", "sendTime": "2025-11-18T10:15:00.000Z",
                   "dataVersion": CONTEXT, "data": events}


def test_line_item_and_result_match_the_worked_example(example):
    attempt = _complete(example, Decimal("8.5"))
    result = Result.objects.get(attempt=attempt)
    assert gradebook.line_item_body(attempt.activity) == {"assessmentLineItem": {
        "sourcedId": "fractions-quiz-line-item",
        "status": "active",
        "title": "Fractions Quiz",
        "description": "Math App: Fractions Quiz",
        "resultValueMin": 0,
        "resultValueMax": 100,
        "componentResource": {"sourcedId": "fractions-quiz-resource"},
        "metadata": {"activityId": "fractions-quiz", "subject": "Math", "expectedXp": 100, "masterableUnits": 1,
                     "courseSourcedId": "math-grade-5"},
    }}
    assert gradebook.result_body(result) == {"assessmentResult": {
        "sourcedId": result.sourced_id,
        "status": "active",
        "assessmentLineItem": {"sourcedId": "fractions-quiz-line-item"},
        "student": {"sourcedId": "student-123"},
        "score": 85,
        "scoreStatus": "fully graded",
        "scoreDate": "2025-11-18T10:15:00.000Z",
        "metadata": {"xp": 100, "accuracy": 85, "totalQuestions": 10, "correctQuestions": 8.5, "masteredUnits": 1,
                     "multiplier": 1, "attempt": 1},
    }}


def test_sandbox_accepts_and_stores_the_example_exactly(example, sandbox, timeback_client, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SENSOR": "https://your-app.com"}
    attempt = _complete(example, 8)
    events = list(_events(attempt).values())
    assert timeback_client.send_events(events)["accepted"] == 2
    timeback_client.put_line_item(gradebook.line_item_body(attempt.activity))
    body = gradebook.result_body(Result.objects.get(attempt=attempt))
    timeback_client.put_result(body)
    stored = requests.get(f"{sandbox.url}/_sandbox/events", timeout=5).json()["events"]
    assert stored == events
    assert timeback_client.get_result(body["assessmentResult"]["sourcedId"]) == body


# -- the vendor's models ---------------------------------------------------------


def _vendor_models():
    try:
        from timeback_caliper.types import timeback as caliper_types
        from timeback_oneroster.types import input as oneroster_input
    except ImportError:
        return None
    return {
        "ActivityEvent": caliper_types.ActivityCompletedEvent,
        "TimeSpentEvent": caliper_types.TimeSpentEvent,
        "assessmentLineItem": oneroster_input.AssessmentLineItemCreateInput,
        "assessmentResult": oneroster_input.AssessmentResultCreateInput,
    }


@pytest.fixture
def vendor():
    """The vendor's models, or None (Python 3.11): then only the sandbox half runs."""
    return _vendor_models()


def test_vendor_models_are_installed():
    """Skipped on the 3.11 leg, where the vendor halves of the tests below are skipped too."""
    pytest.importorskip("timeback_caliper.types.timeback")
    pytest.importorskip("timeback_oneroster.types.input")


def _vendor_accepts(vendor, kind, payload):
    """Whether the vendor model takes ``payload``; None when the models are absent."""
    if vendor is None:
        return None
    from pydantic import ValidationError

    try:
        vendor[kind].model_validate(payload)
    except ValidationError:
        return False
    return True


def test_every_payload_the_app_builds_passes_the_vendor_models(example, vendor, settings):
    """Events of every kind the app sends (completion, time, XP correction), line item, result."""
    student, activity = example
    attempt = _complete(example, 8)
    attempt.correct_questions = Decimal(10)
    attempt.save()  # re-derived: an XP-difference ActivityEvent joins the outbox
    services.add_time(services.start_attempt(student, activity), active_seconds=30, inactive_seconds=5)
    payloads = [row.payload for row in Delivery.objects.filter(kind=Delivery.Kind.CALIPER_EVENT)]
    assert {p["type"] for p in payloads} == {"ActivityEvent", "TimeSpentEvent"}
    assert len(payloads) >= 4
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "CALIPER_PROCESS": True, "SUBJECT_MAP": {"Math": "FastMath"}}
    payloads.append(caliper.activity_event(attempt))
    for event in payloads:
        assert _vendor_accepts(vendor, event["type"], event) in (True, None), event
        assert not validation.check_event(event), event
    assert not validation.check_envelope(caliper.envelope(payloads))
    line_item = gradebook.line_item_body(activity)["assessmentLineItem"]
    result = gradebook.result_body(Result.objects.get(attempt=attempt))["assessmentResult"]
    assert _vendor_accepts(vendor, "assessmentLineItem", line_item) in (True, None)
    assert _vendor_accepts(vendor, "assessmentResult", result) in (True, None)
    assert not validation.check_line_item(line_item)
    assert not validation.check_result(result)


# Malformed payloads, each built from a valid one. Both the vendor and the
# sandbox must refuse every one of them.
def _drop(path):
    def mutate(payload):
        *parents, last = path.split(".")
        target = payload
        for key in parents:
            target = target[key]
        del target[last]
    return mutate


def _set(path, value):
    def mutate(payload):
        *parents, last = path.split(".")
        target = payload
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value
    return mutate


EVENT_REJECTED_BY_BOTH = [
    ("no id", _drop("id")),
    ("no eventTime", _drop("eventTime")),
    ("no actor", _drop("actor")),
    ("no object", _drop("object")),
    ("no generated", _drop("generated")),
    ("no actor.id", _drop("actor.id")),
    ("no actor.email", _drop("actor.email")),
    ("empty actor.email", _set("actor.email", "")),
    ("bad actor.type", _set("actor.type", "Person")),
    ("bad actor.role", _set("actor.role", "parent")),
    ("no object.subject", _drop("object.subject")),
    ("bad object.subject", _set("object.subject", "Maths")),
    ("no object.app", _drop("object.app")),
    ("empty app.name", _set("object.app.name", "")),
    ("empty course.name", _set("object.course.name", "")),
    ("bad object.type", _set("object.type", "Activity")),
    ("bad type", _set("type", "GradeEvent")),
    ("bad action", _set("action", "Started")),
    ("bad profile", _set("profile", "GeneralProfile")),
    ("bad generated.type", _set("generated.type", "Metrics")),
    ("attempt 0", _set("generated.attempt", 0)),
    ("attempt not a number", _set("generated.attempt", "first")),
    ("bad metric type", _set("generated.items.0.type", "score")),
    ("metric value not a number", _set("generated.items.0.value", "ten")),
    ("no generated.items", _drop("generated.items")),
    ("process not a bool", _set("object.process", "sometimes")),
]
# Refused by the sandbox although the vendor model lets it through: where the
# reference says more than the model checks.
EVENT_REJECTED_BY_SANDBOX_ONLY = [
    ("id not urn:uuid", _set("id", "event-1")),
    ("eventTime not ISO 8601", _set("eventTime", "18/11/2025 10:15")),
    ("eventTime without zone", _set("eventTime", "2025-11-18T10:15:00")),
    ("wrong @context", _set("@context", "http://purl.imsglobal.org/ctx/caliper/v1p1")),
    ("negative metric", _set("generated.items.0.value", -1)),
    ("unknown top-level field", _set("score", 5)),
    ("actor.email not an email", _set("actor.email", "student")),
    ("no @context", _drop("@context")),
    ("no profile", _drop("profile")),
]


def _valid_event(example):
    attempt = _complete(example, 8)
    return caliper.activity_event(attempt)


@pytest.mark.parametrize(("name", "mutate"), EVENT_REJECTED_BY_BOTH, ids=[n for n, _ in EVENT_REJECTED_BY_BOTH])
def test_sandbox_and_vendor_both_refuse_malformed_events(example, vendor, name, mutate):
    event = _valid_event(example)
    assert _vendor_accepts(vendor, "ActivityEvent", event) in (True, None) and not validation.check_event(event)
    mutate(event)
    assert _vendor_accepts(vendor, "ActivityEvent", event) in (False, None)
    assert validation.check_event(event)


@pytest.mark.parametrize(
    ("name", "mutate"), EVENT_REJECTED_BY_SANDBOX_ONLY, ids=[n for n, _ in EVENT_REJECTED_BY_SANDBOX_ONLY]
)
def test_sandbox_is_stricter_than_vendor_where_the_reference_says_so(example, vendor, name, mutate):
    event = _valid_event(example)
    mutate(event)
    assert validation.check_event(event)
    assert _vendor_accepts(vendor, "ActivityEvent", event) in (True, None)


def _valid_result():
    return {"sourcedId": "r-1", "status": "active", "assessmentLineItem": {"sourcedId": "li-1"},
            "student": {"sourcedId": "student-123"}, "score": 85, "scoreStatus": "fully graded",
            "scoreDate": "2025-11-18T10:15:00Z", "metadata": {"xp": 100}}


def _valid_line_item():
    return {"sourcedId": "li-1", "status": "active", "title": "Fractions Quiz",
            "componentResource": {"sourcedId": "fractions-quiz-resource"}, "resultValueMin": 0, "resultValueMax": 100}


GRADEBOOK_REJECTED_BY_BOTH = [
    ("assessmentResult", "no status", _drop("status")),
    ("assessmentResult", "bad status", _set("status", "deleted")),
    ("assessmentResult", "no scoreStatus", _drop("scoreStatus")),
    ("assessmentResult", "bad scoreStatus", _set("scoreStatus", "graded")),
    ("assessmentResult", "no scoreDate", _drop("scoreDate")),
    ("assessmentResult", "empty scoreDate", _set("scoreDate", " ")),
    ("assessmentResult", "no student", _drop("student")),
    ("assessmentResult", "no assessmentLineItem", _drop("assessmentLineItem")),
    ("assessmentResult", "ref without sourcedId", _set("student", {"id": "student-123"})),
    ("assessmentResult", "unknown field", _set("xp", 100)),
    ("assessmentResult", "score not a number", _set("score", "high")),
    ("assessmentResult", "metadata not an object", _set("metadata", [1])),
    ("assessmentLineItem", "no title", _drop("title")),
    ("assessmentLineItem", "empty title", _set("title", "")),
    ("assessmentLineItem", "no status", _drop("status")),
    ("assessmentLineItem", "unknown field", _set("expectedXp", 10)),
    ("assessmentLineItem", "ref with unknown key", _set("componentResource", {"sourcedId": "x", "name": "y"})),
]
GRADEBOOK_REJECTED_BY_SANDBOX_ONLY = [
    ("assessmentResult", "scoreDate not ISO 8601", _set("scoreDate", "yesterday")),
    ("assessmentResult", "score as a numeric string", _set("score", "85")),
    ("assessmentLineItem", "min above max", _set("resultValueMin", 200)),
]


def _check(kind, obj):
    return (validation.check_result if kind == "assessmentResult" else validation.check_line_item)(obj)


@pytest.mark.parametrize(("kind", "name", "mutate"), GRADEBOOK_REJECTED_BY_BOTH,
                         ids=[f"{k}-{n}" for k, n, _ in GRADEBOOK_REJECTED_BY_BOTH])
def test_sandbox_and_vendor_both_refuse_malformed_gradebook_bodies(vendor, kind, name, mutate):
    obj = _valid_result() if kind == "assessmentResult" else _valid_line_item()
    assert _vendor_accepts(vendor, kind, obj) in (True, None) and not _check(kind, obj)
    mutate(obj)
    assert _vendor_accepts(vendor, kind, obj) in (False, None)
    assert _check(kind, obj)


@pytest.mark.parametrize(("kind", "name", "mutate"), GRADEBOOK_REJECTED_BY_SANDBOX_ONLY,
                         ids=[f"{k}-{n}" for k, n, _ in GRADEBOOK_REJECTED_BY_SANDBOX_ONLY])
def test_sandbox_is_stricter_on_gradebook_where_the_reference_says_so(vendor, kind, name, mutate):
    obj = _valid_result() if kind == "assessmentResult" else _valid_line_item()
    mutate(obj)
    assert _check(kind, obj)
    assert _vendor_accepts(vendor, kind, obj) in (True, None)


def test_time_spent_malformed_both_refuse(example, vendor):
    attempt = _complete(example, 8)
    good = _events(attempt)["TimeSpentEvent"]
    for mutate in (_set("generated.items.0.type", "idle"), _set("action", "Completed"), _drop("generated.items"),
                   _set("generated.type", "TimebackActivityMetricsCollection")):
        event = copy.deepcopy(good)
        mutate(event)
        assert _vendor_accepts(vendor, "TimeSpentEvent", event) in (False, None)
        assert validation.check_event(event)
