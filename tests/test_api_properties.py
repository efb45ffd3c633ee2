"""Property tests: random and hostile input at every write endpoint.

Invariants: never a 5xx (the test client re-raises server exceptions, so a
crash fails the test too), and a refused request (4xx) writes nothing: every
row of every table the API can touch is the same after it as before. Bodies mix
valid ones (most of them, so each endpoint's success path runs often), near-valid
bodies with hostile values, arbitrary JSON and raw bytes; headers add random
Idempotency-Keys and content types. ``CASES`` counts the requests made; each
property checks that a good share of its own requests succeeded.
"""

import itertools
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from django.db import connection
from django.urls import reverse
from django.utils.timezone import now as dt_timezone_now

from timeback_progress.models import (
    Attempt, DailyProgress, Delivery, IdempotencyRecord, Result, ResultCorrection, ScoreStatus, StudentProgress,
)

pytestmark = pytest.mark.django_db

EXAMPLES = 300  # per property: 7 properties -> 2,100 cases (reads make two requests each)
MIN_SUCCESS = 0.25  # share of each write property's requests that must succeed (the strategies aim at ~50%)
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


def weighted(*pairs):
    """One of the strategies, drawn in proportion to its weight (``one_of`` counts a repeated strategy once)."""
    return st.sampled_from([strategy for weight, strategy in pairs for _ in range(weight)]).flatmap(lambda chosen: chosen)


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


def bodies(ok, fields, required=()):
    """Mostly ``ok`` bodies (valid: the success paths run often), else near-valid ones, any JSON, raw bytes.

    ``fields`` (name -> valid values) is what the near-valid bodies mix hostile values into.
    """
    near = near_valid(fields, required)
    encoded = weighted((12, ok), (2, near), (1, near_valid(fields)), (1, json_values)).map(
        lambda value: json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")
    )
    raw = st.binary(max_size=200) | st.sampled_from([b"", b"{", b"[" * 50_000, b'{"a": NaN}', b"null", b'"x"', b"\xff\xfe"])
    return weighted((9, encoded), (1, raw))


good_keys = st.uuids().map(str) | st.sampled_from(["k1", "k2"])  # k1/k2 recur: replays and 422s
hostile_headers = st.fixed_dictionaries({}, optional={
    "Idempotency-Key": st.text(max_size=300),
    "Content-Type": st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"]),
})
headers = weighted((6, st.just({})), (2, st.fixed_dictionaries({"Idempotency-Key": good_keys})), (1, hostile_headers))


def snapshot():
    """Every row of every table the API can touch, in primary-key order.

    Read with plain SELECTs: building model instances for thousands of rows on
    every request would make this file several times slower.
    """
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        tables = {}
        for model in TABLES:
            cursor.execute(f"SELECT * FROM {quote(model._meta.db_table)} ORDER BY {quote(model._meta.pk.column)}")
            tables[model.__name__] = cursor.fetchall()
    return tables


def send(client, path, body, extra, name):
    extra = dict(extra)
    content_type = extra.pop("Content-Type", "application/json")
    header_kwargs = {}
    if "Idempotency-Key" in extra:
        key = extra["Idempotency-Key"]
        if any(ord(c) < 32 or ord(c) > 126 for c in key):
            key = key.encode("utf-8", "surrogatepass").decode("latin-1")  # what a raw HTTP header can carry
        header_kwargs["HTTP_IDEMPOTENCY_KEY"] = key
    before = snapshot()
    response = client.post(path, body, content_type=content_type, **header_kwargs)
    CASES[name] += 1
    STATUSES[f"{name} {response.status_code}"] += 1
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        after = snapshot()
        changed = {
            table: {"gone": [r for r in rows if r not in after[table]], "new": [r for r in after[table] if r not in rows]}
            for table, rows in before.items() if after[table] != rows
        }
        assert not changed, (response.status_code, response.content[:300], changed)
    return response


def successes(name):
    return sum(n for key, n in STATUSES.items() if key.split()[0] == name and key.split()[1].startswith("2"))


def assert_success_paths_reached(name):
    """A property whose requests nearly all fail tests the refusals only: insist on real successes."""
    share = successes(name) / CASES[name] if CASES[name] else 0
    assert CASES[name] >= EXAMPLES and share >= MIN_SUCCESS, (name, f"{share:.0%} of {CASES[name]} succeeded",
                                                             {k: n for k, n in STATUSES.items() if k.split()[0] == name})


@pytest.fixture
def ann_client(api_world, client_for):
    return api_world, client_for(api_world.ann.user)


def ids(w):
    return {
        "studentSourcedId": st.sampled_from([w.ann.sourced_id, w.bob.sourced_id, "ghost"]),
        "activityId": st.sampled_from([w.quiz.activity_id, w.drawing.activity_id, "ghost"]),
    }


def own_ids(w, students=None):
    """Ids a request may name: Ann's own (she may write for no one else), or ``students``'."""
    return {
        "studentSourcedId": st.sampled_from([s.sourced_id for s in students or [w.ann]]),
        "activityId": st.sampled_from([w.quiz.activity_id, w.drawing.activity_id]),
    }


COMPLETION = {"totalQuestions": counts_ok, "correctQuestions": correct_ok, "activeSeconds": seconds_ok, "inactiveSeconds": seconds_ok}
QUESTIONS = ("totalQuestions", "correctQuestions")
IDS = ("studentSourcedId", "activityId")


def questions_ok():
    """Valid question counts: correct answers (maybe fractional) never above the total."""
    return counts_ok.flatmap(lambda total: st.fixed_dictionaries({
        "totalQuestions": st.just(total),
        "correctQuestions": st.integers(0, total) | st.decimals(0, total, places=2).map(float),
    }))


def merged(*parts):
    return st.tuples(*parts).map(lambda dicts: {k: v for d in dicts for k, v in d.items()})


seconds_opt = st.fixed_dictionaries({}, optional={"activeSeconds": seconds_ok, "inactiveSeconds": seconds_ok})
completion_ok = merged(questions_ok(), seconds_opt)
time_ok = st.one_of(
    st.fixed_dictionaries({"activeSeconds": seconds_ok}), st.fixed_dictionaries({"inactiveSeconds": seconds_ok}),
    st.fixed_dictionaries({"activeSeconds": seconds_ok, "inactiveSeconds": seconds_ok}),
)
_past = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime.now() - timedelta(days=1), timezones=st.just(timezone.utc))
# Omitted, or completed in the past and started early enough for any valid seconds (two metrics
# of at most a day each: time never runs ahead of the wall clock since the start).
dates_ok = st.one_of(
    st.just({}),
    _past.map(lambda done: {"completedAt": done.isoformat()}),
    st.tuples(_past, st.timedeltas(min_value=timedelta(days=2), max_value=timedelta(days=3))).map(
        lambda pair: {"completedAt": pair[0].isoformat(), "startedAt": (pair[0] - pair[1]).isoformat()}),
)


def test_start(ann_client):
    w, client = ann_client

    @PROPERTY
    @given(body=bodies(valid(own_ids(w), IDS), ids(w), IDS), extra=headers)
    def run(body, extra):
        send(client, reverse("timeback_progress_api:attempt-start"), body, extra, "start")

    run()
    assert_success_paths_reached("start")


@pytest.mark.parametrize("action", ["time", "complete"])
def test_time_and_complete(ann_client, action):
    w, client = ann_client
    from tests.plugins.factories import complete
    from timeback_progress.gradebook import attempts

    # Started long enough ago for any valid report: time never runs ahead of the wall clock.
    long_ago = dt_timezone_now() - timedelta(days=30)
    open_attempt = attempts.start_attempt(w.ann, w.quiz, started_at=long_ago)
    done, others = complete(w.ann, w.drawing), attempts.start_attempt(w.bob, w.quiz, started_at=long_ago)
    fields = {"activeSeconds": seconds_ok, "inactiveSeconds": seconds_ok} if action == "time" else COMPLETION
    required = () if action == "time" else QUESTIONS
    ok = time_ok if action == "time" else completion_ok
    # Each example may complete a fresh attempt: give it one to complete.
    fresh = st.builds(lambda: attempts.start_attempt(w.ann, w.quiz, started_at=long_ago).pk)
    pks = weighted((8, fresh), (1, st.sampled_from([open_attempt.pk, done.pk, others.pk, 0, 2**63, 2**70])), (1, st.integers(min_value=0)))

    @PROPERTY
    @given(pk=pks, body=bodies(ok, fields, required), extra=headers)
    def run(pk, body, extra):
        send(client, reverse(f"timeback_progress_api:attempt-{action}", args=[pk]), body, extra, action)

    run()
    assert_success_paths_reached(action)


def test_record(api_world, client_for):
    w = api_world
    client = client_for(w.service)  # recording is a service account's
    past = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(timezone.utc))
    fields = {**ids(w), **COMPLETION, "startedAt": past.map(datetime.isoformat), "completedAt": past.map(datetime.isoformat)}

    ok = merged(valid(own_ids(w), IDS), completion_ok, dates_ok)

    @PROPERTY
    @given(body=bodies(ok, fields, IDS + QUESTIONS), extra=headers)
    def run(body, extra):
        send(client, reverse("timeback_progress_api:attempt-record"), body, extra, "record")

    run()
    assert_success_paths_reached("record")


def test_record_batch(api_world, client_for):
    w = api_world
    client = client_for(w.service)
    fields = {**ids(w), **COMPLETION}
    good_item = merged(valid(own_ids(w, [w.ann, w.bob]), IDS), completion_ok)
    item = good_item | valid(fields, IDS + QUESTIONS) | near_valid(fields, IDS + QUESTIONS)
    good_items = st.lists(good_item, min_size=1, max_size=5)
    batch = st.fixed_dictionaries({"items": weighted((6, good_items), (1, st.lists(item | json_values, max_size=5)),
                                                     (1, json_values))}).map(
        lambda value: json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")
    )

    @PROPERTY
    @given(body=weighted((4, batch), (1, bodies(valid({"items": json_values}), {"items": json_values}))), extra=headers)
    def run(body, extra):
        send(client, reverse("timeback_progress_api:attempt-record-batch"), body, extra, "batch")

    run()
    assert_success_paths_reached("batch")


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
    numbers = itertools.count(1)
    pks = weighted((8, completed), (1, st.sampled_from([open_attempt.pk, 0, 2**63, 2**70])), (1, st.integers(min_value=0)))
    # A reason with text, a score or XP never given before (a value equal to the current one
    # is "nothing changed"), maybe more changes, questions as a pair, units within the activity's one.
    fresh_value = st.builds(lambda: float(next(numbers) % 5_000) / 100)
    changes = st.fixed_dictionaries({}, optional={name: fields[name] for name in ("score", "scoreStatus", "xp")}
                                    | {"masteredUnits": st.integers(0, 1)})
    ok = merged(
        st.fixed_dictionaries({"reason": st.sampled_from(["Regraded", "Miscounted", "Teacher's review"])}),
        changes,
        st.one_of(st.fixed_dictionaries({"score": fresh_value}), st.fixed_dictionaries({"xp": fresh_value})),
        st.one_of(st.just({}), questions_ok()),
    )

    @PROPERTY
    @given(pk=pks, body=bodies(ok, fields, ("reason",)), extra=headers)
    def run(pk, body, extra):
        send(client, reverse("timeback_progress_api:attempt-corrections", args=[pk]), body, extra, "correct")

    run()
    assert_success_paths_reached("correct")


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
    shares = {name: f"{successes(name) / n:.0%}" for name, n in CASES.items() if name != "reads"}
    print(f"succeeded: {shares}")
    for name in shares:  # each write property that ran also checked itself; the whole picture here
        assert_success_paths_reached(name)
