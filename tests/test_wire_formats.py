"""Wire formats: the worked example of timeback-api.md, field by field.

What the vendor's own pydantic models (``timeback-caliper`` /
``timeback-oneroster`` 0.4.0) and the sandbox say about every payload the app
builds, and about malformed ones, is in tests/test_vendor_contract.py.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from timeback_progress.gradebook import attempts
from timeback_progress.models import Delivery, Result
from timeback_progress.contrib.sandbox import validation
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
        # The seed's example links its line item to a component resource: its form, kept as a setting.
        "LINK_COMPONENT_RESOURCE": True,
        # The example's one TimeSpentEvent (240 s active, 60 s inactive) covers the five minutes before it.
        "TIME_WINDOW_SECONDS": 300,
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


STARTED = WHEN - timedelta(minutes=5)


def _complete(example, correct):
    student, activity = example
    attempt = attempts.record_attempt(
        student, activity, total_questions=10, correct_questions=correct, active_seconds=240, inactive_seconds=60,
        started_at=STARTED, completed_at=WHEN,
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
        "session": f"urn:uuid:{attempt.derived_uuid('session')}",
        "extensions": {"courseId": "math-grade-5"},
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
            # 1 of the course's 10 masterable units: the share the vendor's SDK sends.
            "extensions": {"pctCompleteApp": 10},
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
    window = {"start_date": "2025-11-18T10:10:00.000Z", "end_date": "2025-11-18T10:15:00.000Z"}
    assert event["generated"]["items"] == [
        {"type": "active", "value": 240, **window}, {"type": "inactive", "value": 60, **window}]
    assert set(event["generated"]) == {"id", "type", "items"}
    assert event["session"] == f"urn:uuid:{attempt.derived_uuid('session')}"
    assert event["extensions"] == {"courseId": "math-grade-5"}


def test_time_spent_events_cover_windows_of_15_seconds_by_default(example, settings):
    """With the default window (the vendor's heartbeat), the example's five minutes are twenty dated events."""
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TIME_WINDOW_SECONDS": 15}
    attempt = _complete(example, 8)
    rows = Delivery.objects.filter(kind=Delivery.Kind.CALIPER_EVENT, attempt=attempt, payload__type="TimeSpentEvent")
    events = [row.payload for row in rows.order_by("pk")]
    assert [e["id"] for e in events] == [f"urn:uuid:{attempt.derived_uuid(f'time-spent/{n}')}" for n in range(20)]
    edges = [caliper.isoformat(STARTED + timedelta(seconds=15 * n)) for n in range(21)]
    metrics = [{i["type"]: (i["value"], i["start_date"], i["end_date"]) for i in e["generated"]["items"]} for e in events]
    # Active time fills the latest windows, inactive the earliest: 4 x 15 s inactive, then 16 x 15 s active.
    assert metrics == [
        {"active": (15 if n >= 4 else 0, edges[n], edges[n + 1]), "inactive": (0 if n >= 4 else 15, edges[n], edges[n + 1])}
        for n in range(20)
    ]
    assert [e["eventTime"] for e in events] == edges[1:]


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


def test_by_default_the_line_item_is_not_linked_to_its_component_resource(example, settings):
    """The vendor's choice: only the course's completion line item carries a componentResource."""
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "LINK_COMPONENT_RESOURCE": False}
    attempt = _complete(example, 8)
    item = gradebook.line_item_body(attempt.activity)["assessmentLineItem"]
    assert "componentResource" not in item
    assert item["metadata"]["courseSourcedId"] == "math-grade-5"


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
