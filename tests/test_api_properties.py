"""Property tests: random and hostile input at every write endpoint.

Invariants: never a 5xx (the test client re-raises server exceptions, so a
crash fails the test too), and a refused request (4xx) writes nothing: the row
counts of every table the API can touch are unchanged. Bodies mix arbitrary
JSON, near-valid bodies with hostile values, and raw bytes; headers add random
Idempotency-Keys and content types. ``CASES`` counts the requests made.
"""

import json
from collections import Counter
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from django.urls import reverse

from timeback_progress.models import (
    Attempt, DailyProgress, Delivery, IdempotencyRecord, Result, ResultCorrection, ScoreStatus, StudentProgress,
)

pytestmark = pytest.mark.django_db

EXAMPLES = 300  # per property: 7 properties -> 2,100 cases (reads make two requests each)
CASES = Counter()
STATUSES = Counter()
TABLES = (Attempt, Result, ResultCorrection, StudentProgress, DailyProgress, Delivery, IdempotencyRecord)
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

huge = st.sampled_from([2**31, 2**63, 10**30, -(2**63), 1e308, 1e400, -1e400, float("nan"), 0.1, -0.0, 86_401])
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30) | huge
    | st.sampled_from(["", "\x00", "\ud800", "10", "NaN", "' OR 1=1 --", "ü" * 300, "1e400"])
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
hostile = huge | scalars | json_values
counts_ok = st.integers(min_value=0, max_value=12)
seconds_ok = st.integers(min_value=0, max_value=86_400)
correct_ok = counts_ok | st.decimals(min_value=0, max_value=12, places=2).map(float)


def mostly(valid):
    """A valid value three times in four, else something hostile."""
    return st.one_of(valid, valid, valid, hostile)


def near_valid(fields, required=()):
    """Dicts with the endpoint's own keys: often valid values, sometimes hostile ones."""
    values = {name: mostly(strategy) for name, strategy in fields.items()}
    return st.fixed_dictionaries(
        {k: v for k, v in values.items() if k in required},
        optional={k: v for k, v in values.items() if k not in required},
    )


def valid(fields, required=()):
    return st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k in required}, optional={k: v for k, v in fields.items() if k not in required}
    )


def bodies(fields, required=()):
    """Valid bodies (so the success paths run too), near-valid ones, any JSON, raw bytes."""
    ok, near = valid(fields, required), near_valid(fields, required)
    encoded = st.one_of(ok, ok, ok, near, near, near_valid(fields), json_values).map(
        lambda value: json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")
    )
    raw = st.binary(max_size=200) | st.sampled_from([b"", b"{", b"[" * 50_000, b'{"a": NaN}', b"null", b'"x"', b"\xff\xfe"])
    return st.one_of(encoded, encoded, encoded, raw)


good_keys = st.uuids().map(str) | st.sampled_from(["k1", "k2"])  # k1/k2 recur: replays and 422s
hostile_headers = st.fixed_dictionaries({}, optional={
    "Idempotency-Key": st.text(max_size=300),
    "Content-Type": st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"]),
})
headers = st.one_of(st.just({}), st.just({}), st.fixed_dictionaries({"Idempotency-Key": good_keys}), hostile_headers)


def counts():
    return [model.objects.count() for model in TABLES]


def send(client, path, body, extra, name):
    extra = dict(extra)
    content_type = extra.pop("Content-Type", "application/json")
    header_kwargs = {}
    if "Idempotency-Key" in extra:
        key = extra["Idempotency-Key"]
        if any(ord(c) < 32 or ord(c) > 126 for c in key):
            key = key.encode("utf-8", "surrogatepass").decode("latin-1")  # what a raw HTTP header can carry
        header_kwargs["HTTP_IDEMPOTENCY_KEY"] = key
    before = counts()
    response = client.post(path, body, content_type=content_type, **header_kwargs)
    CASES[name] += 1
    STATUSES[f"{name} {response.status_code}"] += 1
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert counts() == before, (response.status_code, response.content[:300])
    return response


@pytest.fixture
def ann_client(api_world, client_for):
    return api_world, client_for(api_world.ann.user)


def ids(w):
    return {
        "studentSourcedId": st.sampled_from([w.ann.sourced_id, w.bob.sourced_id, "ghost"]),
        "activityId": st.sampled_from([w.quiz.activity_id, w.drawing.activity_id, "ghost"]),
    }


COMPLETION = {"totalQuestions": counts_ok, "correctQuestions": correct_ok, "activeSeconds": seconds_ok, "inactiveSeconds": seconds_ok}
QUESTIONS = ("totalQuestions", "correctQuestions")
IDS = ("studentSourcedId", "activityId")


def test_start(ann_client):
    w, client = ann_client

    @PROPERTY
    @given(body=bodies(ids(w), IDS), extra=headers)
    def run(body, extra):
        send(client, reverse("timeback_progress_api:attempt-start"), body, extra, "start")

    run()


@pytest.mark.parametrize("action", ["time", "complete"])
def test_time_and_complete(ann_client, action):
    w, client = ann_client
    from tests.plugins.factories import complete
    from timeback_progress.gradebook import attempts

    open_attempt = attempts.start_attempt(w.ann, w.quiz)
    done, others = complete(w.ann, w.drawing), attempts.start_attempt(w.bob, w.quiz)
    fields = {"activeSeconds": seconds_ok, "inactiveSeconds": seconds_ok} if action == "time" else COMPLETION
    required = () if action == "time" else QUESTIONS
    # Each example may complete a fresh attempt: give it one to complete.
    fresh = st.builds(lambda: attempts.start_attempt(w.ann, w.quiz).pk)
    pks = st.one_of(fresh, fresh, st.sampled_from([open_attempt.pk, done.pk, others.pk, 0, 2**63, 2**70]), st.integers(min_value=0))

    @PROPERTY
    @given(pk=pks, body=bodies(fields, required), extra=headers)
    def run(pk, body, extra):
        send(client, reverse(f"timeback_progress_api:attempt-{action}", args=[pk]), body, extra, action)

    run()


def test_record(ann_client):
    w, client = ann_client
    past = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(timezone.utc))
    fields = {**ids(w), **COMPLETION, "startedAt": past.map(datetime.isoformat), "completedAt": past.map(datetime.isoformat)}

    @PROPERTY
    @given(body=bodies(fields, IDS + QUESTIONS), extra=headers)
    def run(body, extra):
        send(client, reverse("timeback_progress_api:attempt-record"), body, extra, "record")

    run()


def test_record_batch(api_world, client_for):
    w = api_world
    client = client_for(w.staff)
    fields = {**ids(w), **COMPLETION}
    item = valid(fields, IDS + QUESTIONS) | near_valid(fields, IDS + QUESTIONS)
    good_items = st.lists(valid(fields, IDS + QUESTIONS), min_size=1, max_size=5)
    batch = st.fixed_dictionaries({"items": good_items | st.lists(item | json_values, max_size=5) | json_values}).map(
        lambda value: json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")
    )

    @PROPERTY
    @given(body=batch | bodies({"items": json_values}), extra=headers)
    def run(body, extra):
        send(client, reverse("timeback_progress_api:attempt-record-batch"), body, extra, "batch")

    run()


def test_corrections(api_world, client_for):
    from django.contrib.auth.models import Permission

    from tests.plugins.api import make_user
    from tests.plugins.factories import complete
    from timeback_progress.gradebook import attempts

    w = api_world

    corrector = make_user("corrector")
    corrector.user_permissions.add(Permission.objects.get(codename="correct_result", content_type__app_label="timeback_progress"))
    client = client_for(corrector)
    done = [complete(w.ann, w.quiz), complete(w.ann, w.quiz, correct=10), complete(w.bob, w.drawing, total=4, correct=1)]
    open_attempt = attempts.start_attempt(w.ann, w.quiz)
    fields = {
        "reason": st.text(min_size=1, max_size=40) | st.sampled_from(["Regraded", "Miscounted"]),
        "score": st.decimals(min_value=0, max_value=100, places=2).map(float),
        "scoreStatus": st.sampled_from(ScoreStatus.values),
        "xp": st.decimals(min_value=0, max_value=50, places=2).map(float),
        "totalQuestions": counts_ok,
        "correctQuestions": correct_ok,
        "masteredUnits": st.integers(min_value=0, max_value=2),  # 2 is over the activities' masterable units
    }
    completed = st.sampled_from([a.pk for a in done])
    pks = st.one_of(completed, completed, completed, st.sampled_from([open_attempt.pk, 0, 2**63, 2**70]), st.integers(min_value=0))

    @PROPERTY
    @given(pk=pks, body=bodies(fields, ("reason",)), extra=headers)
    def run(pk, body, extra):
        send(client, reverse("timeback_progress_api:attempt-corrections", args=[pk]), body, extra, "correct")

    run()


def test_reads_never_crash(ann_client):
    w, client = ann_client
    segment = st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and s not in (".", ".."))

    @PROPERTY
    @given(sourced_id=segment, params=st.dictionaries(st.sampled_from(["search", "minXp", "stuck", "ordering", "page", "pageSize"]), st.text(max_size=20)))
    def run(sourced_id, params):
        for name in ("student-progress", "course-students"):
            response = client.get(reverse(f"timeback_progress_api:{name}", args=[sourced_id]), params)
            assert response.status_code < 500
        CASES["reads"] += 1

    run()


def test_zz_report_case_count():
    """Runs last in this module: prints how many requests the properties made."""
    print(f"\nAPI property cases: {sum(CASES.values())} {dict(CASES)}\nstatuses: {dict(sorted(STATUSES.items()))}")
    if CASES:  # the module ran: the properties also reached the success paths
        assert sum(CASES.values()) >= EXAMPLES
        assert any(key.split()[1].startswith("2") for key in STATUSES)
