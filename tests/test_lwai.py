"""The LearnWith.AI form of the app's Caliper envelopes (``timeback.lwai``).

Two halves:

- without the vendor (any Python): the shape of a transformed event, its
  date-times, the session auto-attach, ids kept and derived ids stable, the
  Timeback form left untouched, and the sandbox's rules for that platform
  (the transformed form accepted there, the Timeback form refused, and the
  other way round on the default platform);
- with the vendor's ``timeback-caliper`` 0.4.0 (the 3.12 leg; skipped where it
  cannot be installed): for envelopes the app builds, plus the variants other
  parts of issue 16 add (session, window start/end, extensions, a passive
  xpEarned-only event), ``transform_envelope`` equals the vendor's
  ``transform_for_lwai`` exactly, and equals what the vendor's own
  ``CaliperClient(platform="LEARNWITH_AI")`` posts. The vendor draws its metric
  ids with ``uuid4``; the comparison hands it ours, in the order it draws them.
"""

import asyncio
import copy
import sys
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model

from timeback_progress.contrib.sandbox.caliper import metric_sums, platform_rules
from timeback_progress.gradebook import attempts, corrections
from timeback_progress.models import Delivery, Result, Student
from timeback_progress.timeback import caliper, lwai
from tests.plugins.factories import complete, make_activity, make_course, make_student

CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2"


def _load_vendor():
    try:
        from timeback_caliper import CaliperClient
        from timeback_caliper.resources.event_transformers import lwai as vendor_lwai
        from timeback_caliper.types import timeback as models
        from timeback_caliper.types.api import CaliperEnvelope
    except (ImportError, SyntaxError):  # SyntaxError: installed anyway under Python < 3.12
        return None
    return SimpleNamespace(client=CaliperClient, lwai=vendor_lwai, models=models, envelope=CaliperEnvelope)


VENDOR = _load_vendor()
needs_vendor = pytest.mark.skipif(VENDOR is None, reason=(
    f"timeback-caliper 0.4.0 needs Python >= 3.12 (runs on the 3.12 leg); this is {sys.version.split()[0]}"
    if sys.version_info < (3, 12) else "timeback-caliper 0.4.0 is not installed: pip install -e '.[test]'"))


# -- envelopes the app builds --------------------------------------------------------


def app_events():
    """The Caliper payloads the outbox holds after a completion, a correction down and time.

    A first completion (10/10: 12.5 XP, one unit mastered), its correction to
    3 XP (xpEarned -9.5), and an attempt that reported time before completing
    (TimeSpentEvents with active and inactive seconds).
    """
    course = make_course(subject="Math")
    student = make_student()
    first = complete(student, make_activity(course, expected_xp=Decimal(10)), total=10, correct=10, active=240, inactive=20)
    corrector = get_user_model().objects.create_user(f"corrector-{uuid.uuid4().hex[:8]}")
    corrections.correct_result(Result.objects.get(attempt=first), user=corrector, reason="override", xp=3)
    timed = attempts.start_attempt(student, make_activity(course))
    attempts.add_time(timed, active_seconds=45, inactive_seconds=15)
    attempts.complete_attempt(timed, total_questions=5, correct_questions=4, active_seconds=30, inactive_seconds=5)
    return [row.payload for row in Delivery.objects.filter(kind=Delivery.Kind.CALIPER_EVENT).order_by("pk")]


def variants(events):
    """The app's events plus the forms other parts of issue 16 add, built directly.

    A session (string and object), a time window on the metrics (the vendor
    model's ``start_date``/``end_date``, and ``startDate``/``endDate``),
    ``extensions.courseId`` on the event and ``pctCompleteApp`` on the
    collection, a passive activity with only ``xpEarned``, a TimeSpentEvent
    with only inactive time and an empty session, and a correction marked as
    one (``extensions.isCorrection``) taking back XP and a mastered unit.
    """
    activity = next(e for e in events if e["type"] == "ActivityEvent")
    time_spent = next(e for e in events if e["type"] == "TimeSpentEvent")
    session = f"urn:uuid:{uuid.uuid4()}"

    def variant(event, **changes):
        out = copy.deepcopy(event)
        out["id"] = f"urn:uuid:{uuid.uuid4()}"
        out["generated"]["id"] = f"urn:uuid:{uuid.uuid4()}"
        out.update(changes)
        return out

    windowed = variant(time_spent, session=session, extensions={"courseId": "course-1"})
    windowed["generated"]["items"] = [
        {"type": "active", "value": 50, "start_date": "2025-08-01T12:00:00.000Z", "end_date": "2025-08-01T12:01:00.000Z"},
        {"type": "inactive", "value": 10, "startDate": "2025-08-01T12:00:00Z", "endDate": "2025-08-01T12:01:00Z"},
    ]
    completed = variant(activity, session={"id": session, "type": "Session"}, extensions={"courseId": "course-1"})
    completed["generated"]["extensions"] = {"pctCompleteApp": 40}
    passive = variant(activity, session=session)
    passive["generated"]["items"] = [{"type": "xpEarned", "value": 5}]
    idle = variant(time_spent, session="")  # an empty session is none: auto-attached
    idle["generated"]["items"] = [{"type": "inactive", "value": 7.5}]
    taken_back = variant(activity, session=session, extensions={"isCorrection": True, "correctionOf": activity["id"]})
    taken_back["generated"]["items"] = [{"type": "xpEarned", "value": -2.5}, {"type": "masteredUnits", "value": -1}]
    return [windowed, completed, passive, idle, taken_back]


def envelopes(events):
    """One envelope per event, and one with them all (the outbox sends batches)."""
    return [caliper.envelope([e]) for e in events] + [caliper.envelope(events)]


# -- the transform, without the vendor ----------------------------------------------------


@pytest.mark.django_db
def test_an_app_event_in_the_platforms_form():
    event = next(e for e in app_events() if e["type"] == "ActivityEvent")
    out = lwai.transform_event(event)
    assert out["id"] == event["id"] and out["profile"] == "AggregationProfile" and out["@context"] == CONTEXT
    assert out["actor"] == {"type": "Person", "id": event["actor"]["id"]}  # no email, name, role
    assert out["object"] == {
        "type": "AssignableDigitalResource", "id": event["object"]["id"],
        "isPartOf": {"type": "CourseOffering", "id": event["object"]["course"]["id"], "name": event["object"]["course"]["name"]},
        "extensions": {"app": {"name": "Math App", "type": "SoftwareApplication"}},
    }
    generated = out["generated"]
    assert generated["type"] == "ActivityMetricsCollection" and generated["id"] == event["generated"]["id"]
    assert generated["attempt"] == 1
    assert [(i["type"], i["metricType"], i["metricValue"]) for i in generated["items"]] == [
        ("ActivityMetric", "TotalQuestions", 10), ("ActivityMetric", "CorrectQuestions", 10),
        ("ActivityMetric", "XpEarned", 12.5), ("ActivityMetric", "MasteredUnits", 1)]
    assert out["session"] == event["session"]  # the run's session, kept (auto-attached only when absent)
    assert out["edApp"] == event["edApp"] and out["action"] == "Completed"


@pytest.mark.django_db
def test_time_metrics_and_a_correction():
    events = app_events()
    correction = [e for e in events if e["type"] == "ActivityEvent"][1]
    items = lwai.transform_event(correction)["generated"]["items"]
    assert {i["metricType"]: i["metricValue"] for i in items}["XpEarned"] == -9.5
    spent = lwai.transform_event(next(e for e in events if e["type"] == "TimeSpentEvent"))
    assert spent["generated"]["type"] == "TimeSpentMetricsCollection"
    assert [(i["type"], i["metricType"]) for i in spent["generated"]["items"]] == [
        ("TimeSpentMetric", "Active"), ("TimeSpentMetric", "Inactive")]


@pytest.mark.parametrize("sent, expected", [
    ("2025-08-01T12:00:00.000Z", "2025-08-01T12:00:00.000Z"),
    ("2025-08-01T12:00:00Z", "2025-08-01T12:00:00.000Z"),
    ("2025-08-01T12:00:00.999999Z", "2025-08-01T12:00:00.999Z"),  # truncated, not rounded to the next second
    ("2025-08-01T12:00:00.5+00:00", "2025-08-01T12:00:00.500Z"),
    ("2025-08-01T01:30:00.123+02:00", "2025-07-31T23:30:00.123Z"),  # to UTC, across midnight
    ("2025-08-01T12:00:00", "2025-08-01T12:00:00.000Z"),  # no zone: taken as UTC
    ("not a date", "not a date"),  # left for the server to refuse
    ("", ""),
    (None, None),
])
def test_datetimes(sent, expected):
    assert lwai.platform_datetime(sent) == expected
    event = {"id": "urn:uuid:x", "type": "ActivityEvent", "eventTime": sent}
    envelope = lwai.transform_envelope({"sendTime": sent, "data": [event]})
    assert envelope["sendTime"] == envelope["data"][0]["eventTime"] == expected


@pytest.mark.parametrize("session, sent", [
    (None, lwai.SESSION_AUTO_ATTACH), ("", lwai.SESSION_AUTO_ATTACH), ("absent", lwai.SESSION_AUTO_ATTACH),
    ("urn:uuid:0d7e7a3c-3f1e-4f57-9c3b-5a6f0d1c2b3a", "urn:uuid:0d7e7a3c-3f1e-4f57-9c3b-5a6f0d1c2b3a"),
    ({"id": "urn:uuid:1", "type": "Session"}, {"id": "urn:uuid:1", "type": "Session"}),
])
def test_a_missing_session_is_auto_attached_and_a_given_one_kept(session, sent):
    event = {"id": "urn:uuid:x", "type": "TimeSpentEvent"}
    if session != "absent":
        event["session"] = session
    assert lwai.transform_event(event)["session"] == sent


@pytest.mark.django_db
def test_ids_kept_derived_ids_stable_and_the_timeback_form_untouched():
    events = app_events()
    events += variants(events)
    before = copy.deepcopy(events)
    envelope = caliper.envelope(events)
    first, second = lwai.transform_envelope(envelope), lwai.transform_envelope(copy.deepcopy(envelope))
    assert first == second  # deterministic: a resend is the same body
    assert events == before and envelope["data"] == before  # nothing mutated: the outbox keeps the Timeback form
    assert [e["id"] for e in first["data"]] == [e["id"] for e in events]
    item_ids = [i["id"] for e in first["data"] for i in e["generated"]["items"]]
    collection_ids = [e["generated"]["id"] for e in first["data"]]
    assert len(set(item_ids + collection_ids)) == len(item_ids) + len(collection_ids)
    assert all(uuid.UUID(i.removeprefix("urn:uuid:")) for i in item_ids + collection_ids)


def test_other_objects_and_envelopes_pass_through():
    assessment = {"type": "AssessmentItemEvent", "object": {"type": "TimebackActivityContext", "id": "q"}}
    assert lwai.transform_event(assessment)["object"] == assessment["object"]  # not a learning-resource event
    assert lwai.transform_envelope({"sensor": "s", "sendTime": "2025-08-01T12:00:00Z"})["sendTime"] == "2025-08-01T12:00:00Z"
    assert lwai.envelope_transform("timeback") is None and lwai.envelope_transform("learnwith.ai") is lwai.transform_envelope


# -- the sandbox's rules per platform -----------------------------------------------------------


@pytest.mark.django_db
def test_each_platform_accepts_its_own_form_and_refuses_the_other():
    built = app_events()
    events = built + variants(built)
    timeback_rules, lwai_rules = platform_rules("timeback"), platform_rules("learnwith.ai")
    for envelope in envelopes(events):
        transformed = lwai.transform_envelope(envelope)
        assert not timeback_rules[0](envelope) and not lwai_rules[0](transformed)
        for plain, platform_form in zip(envelope["data"], transformed["data"]):
            assert lwai_rules[1](platform_form) == []
            assert "profile: must be 'AggregationProfile' on this platform" in lwai_rules[1](plain)
            assert "profile: must be 'TimebackProfile'" in timeback_rules[1](platform_form)
    # The Timeback rules for the variants' new fields (window, ...) are the windows work's; the app's own pass.
    assert all(timeback_rules[1](event) == [] for event in built)


def test_the_platforms_sendtime_form():
    rules = platform_rules("learnwith.ai")[0]
    body = {"sensor": "http://localhost:8000", "dataVersion": CONTEXT, "data": [{}]}
    assert rules({**body, "sendTime": "2025-08-01T12:00:00.000Z"}) == []
    for other in ("2025-08-01T12:00:00Z", "2025-08-01T12:00:00.000+00:00", "2025-08-01T12:00:00.000000Z"):
        assert rules({**body, "sendTime": other}) == [
            "sendTime: must be a UTC date-time with milliseconds: YYYY-MM-DDTHH:MM:SS.sssZ"]


@pytest.mark.parametrize("change, problem", [
    (lambda e: e["actor"].update(email="a@example.com"), "actor.email: unknown field"),
    (lambda e: e["object"].update(subject="Math"), "object.subject: unknown field"),
    (lambda e: e.pop("session"), "session: required"),
    (lambda e: e.update(eventTime="2025-08-01T12:00:00Z"), "eventTime: must be a UTC date-time"),
    (lambda e: e["generated"]["items"][0].update(metricType="totalQuestions"), "generated.items[0].metricType: must be one of"),
    (lambda e: e["generated"]["items"][0].update(metricValue=-1), "generated.items[0].metricValue: must be >= 0"),
    (lambda e: e["generated"]["items"][3].update(metricValue=-1), "generated.items[3].metricValue: must be >= 0"),
    (lambda e: e.update(extensions={"isCorrection": "yes"}) or e["generated"]["items"][3].update(metricValue=-1),
     "generated.items[3].metricValue: must be >= 0"),
    (lambda e: e["generated"]["items"][1].update(metricType="TotalQuestions"), "'TotalQuestions' appears twice"),
    (lambda e: e["generated"]["items"][0].update(id="m-1"), "generated.items[0].id: must be 'urn:uuid:'"),
    (lambda e: e["generated"]["items"][0].update(startDate="2025-08-01T12:00:00.000Z"), "startDate: unknown field"),
    (lambda e: e["object"]["isPartOf"].update(type="Course"), "object.isPartOf.type: must be 'CourseOffering'"),
])
@pytest.mark.django_db
def test_the_platforms_rules_refuse(change, problem):
    event = lwai.transform_event(next(e for e in app_events() if e["type"] == "ActivityEvent"))
    change(event)
    assert any(p.startswith(problem) or problem in p for p in platform_rules("learnwith.ai")[1](event))


@pytest.mark.django_db
def test_a_correction_may_take_back_mastered_units_on_learnwith():
    event = lwai.transform_event(next(e for e in app_events() if e["type"] == "ActivityEvent"))
    event["extensions"] = {"isCorrection": True}
    event["generated"]["items"][3]["metricValue"] = -1
    assert platform_rules("learnwith.ai")[1](event) == []


@pytest.mark.django_db
def test_metric_sums_read_both_forms():
    events = app_events()
    sums = metric_sums(lwai.transform_event(e) for e in events)
    assert sums == metric_sums(events)
    student = Student.objects.get()
    progress = student.progress.get()
    assert sums[caliper.actor(student)["id"]]["xpEarned"] == progress.xp_total == Decimal(3) + Decimal(10)
    assert sums[caliper.actor(student)["id"]]["active"] == 240 + 45 + 30
    more = variants(events)
    assert metric_sums(more) == metric_sums(lwai.transform_event(e) for e in more)


# -- against the vendor's transform (3.12 leg) ------------------------------------------------------


def vendor_ids_from(ours, source):
    """Our derived ids, in the order the vendor draws ``uuid4``: per event, the collection's (when the
    source has none), then each item's."""
    for event, original in zip(ours["data"], source["data"]):
        generated = event.get("generated")
        if not isinstance(generated, dict) or event.get("type") not in lwai.COLLECTIONS:
            continue
        if "id" not in original["generated"]:
            yield uuid.UUID(generated["id"].removeprefix("urn:uuid:"))
        for item in generated.get("items", ()):
            yield uuid.UUID(item["id"].removeprefix("urn:uuid:"))


def vendor_transform(envelope, ours, monkeypatch):
    """The vendor's ``transform_for_lwai(envelope)``, its ``uuid4`` handing out ``ours``'s ids."""
    ids = iter(list(vendor_ids_from(ours, envelope)))
    monkeypatch.setattr(VENDOR.lwai, "uuid", SimpleNamespace(uuid4=lambda: next(ids)))
    result = VENDOR.lwai.transform_for_lwai(copy.deepcopy(envelope))
    assert next(ids, None) is None, "the vendor drew fewer ids than we derived"
    return result


class RecordingTransport:
    """What the vendor's CaliperClient posts, instead of posting it."""

    base_url = "http://127.0.0.1:9"
    paths = SimpleNamespace(send="/caliper/v1p2")

    def __init__(self):
        self.posted = []

    async def post(self, path, payload):
        self.posted.append((path, payload))
        return {}

    async def close(self):
        pass


def vendor_models_accept(envelope):
    """The Timeback form the transform starts from passes the vendor's own event models."""
    models = {"ActivityEvent": VENDOR.models.ActivityCompletedEvent, "TimeSpentEvent": VENDOR.models.TimeSpentEvent}
    for event in envelope["data"]:
        models[event["type"]].model_validate(event)


@needs_vendor
@pytest.mark.django_db
def test_the_transform_equals_the_vendors(monkeypatch):
    built = app_events()
    cases = envelopes(built + variants(built))
    assert len(cases) == len(built) + 5 + 1
    for envelope in cases:
        vendor_models_accept(envelope)
        ours = lwai.transform_envelope(envelope)
        assert ours == vendor_transform(envelope, ours, monkeypatch)
    # Not from the app (its collections always have an id), but the vendor's rule covers it: one is drawn.
    odd = copy.deepcopy(built[0])
    del odd["generated"]["id"]
    envelope = caliper.envelope([odd, built[1]])
    ours = lwai.transform_envelope(envelope)
    assert ours == vendor_transform(envelope, ours, monkeypatch)
    assert ours["data"][0]["generated"]["id"] == lwai.derived_id(odd["id"], "generated")


@needs_vendor
@pytest.mark.django_db
def test_what_the_vendors_client_posts_to_learnwith_is_what_the_app_posts(monkeypatch):
    built = app_events()
    envelope = caliper.envelope(built + variants(built))
    ours = lwai.transform_envelope(envelope)
    ids = iter(list(vendor_ids_from(ours, envelope)))
    monkeypatch.setattr(VENDOR.lwai, "uuid", SimpleNamespace(uuid4=lambda: next(ids)))
    transport = RecordingTransport()
    client = VENDOR.client(platform="LEARNWITH_AI", transport=transport)
    asyncio.run(client.events.send_envelope(VENDOR.envelope.model_validate(copy.deepcopy(envelope))))
    assert transport.posted == [("/caliper/v1p2", ours)]


@needs_vendor
@pytest.mark.django_db
def test_the_sandbox_as_learnwith_accepts_the_vendors_own_output():
    """With the vendor's random metric ids, as it really sends them: the sandbox is no stricter than the vendor's output."""
    built = app_events()
    rules = platform_rules("learnwith.ai")
    for envelope in envelopes(built + variants(built)):
        sent = VENDOR.lwai.transform_for_lwai(copy.deepcopy(envelope))
        assert rules[0](sent) == [] and all(rules[1](event) == [] for event in sent["data"])


@needs_vendor
@pytest.mark.parametrize("sent", [
    "2025-08-01T12:00:00.999999Z", "2025-08-01T12:00:00Z", "2025-08-01T23:59:59.9995-05:30", "2025-08-01T12:00:00",
    "2025-08-01T12:00:00.000001+14:00", "2025-08-01 12:00:00+00:00", "20250801T120000Z", "2025-08-01", "nope", "",
])
def test_datetimes_as_the_vendor_writes_them(sent):
    assert lwai.platform_datetime(sent) == VENDOR.lwai._normalize_datetime(sent)
