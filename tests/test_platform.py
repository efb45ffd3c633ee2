"""Platform profiles: the seed's Timeback hosts by default, the vendor's LearnWith.AI as the other.

The expected hosts, paths and scope are written out here (from timeback-api.md
and the vendor's timeback-common 0.4.0 config), not read back from
``conf.PLATFORMS``, so a typo in the table fails a test.
"""

import copy
import hashlib
from decimal import Decimal

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from timeback_progress.checks import check_settings
from timeback_progress.conf import app_settings
from timeback_progress.contrib.sandbox import start_sandbox
from timeback_progress.contrib.sandbox.caliper import metric_sums
from timeback_progress.gradebook import attempts, corrections
from timeback_progress.models import Delivery, Result
from timeback_progress.outbox import sending
from timeback_progress.timeback import caliper, errors, lwai
from timeback_progress.timeback.auth import TokenProvider
from timeback_progress.timeback.client import get_client
from tests.plugins.factories import complete, make_activity, make_course, make_student
from tests.plugins.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

SCOPE = "https://purl.imsglobal.org/spec/caliper/v1p2/scope/events.write"
TIMEBACK_PATHS = {
    "TOKEN_PATH": "/oauth2/token",
    "TOKEN_SCOPE": None,
    "CALIPER_EVENTS_PATH": "/ims/caliper/v1p2/events",
    "GRADEBOOK_PATH": "/ims/oneroster/gradebook/v1p2",
    "ROSTERING_PATH": "/ims/oneroster/rostering/v1p2",
}
LEARNWITH_PATHS = {
    "TOKEN_PATH": "/auth/1.0/token",
    "TOKEN_SCOPE": SCOPE,
    "CALIPER_EVENTS_PATH": "/caliper/v1p2",
    "GRADEBOOK_PATH": "/gradebook/1.0",
    "ROSTERING_PATH": "/rostering/1.0",
}
HOSTS = {
    ("timeback", "staging"): (
        "https://staging-beyond-timeback-api-2-idp.auth.us-east-1.amazoncognito.com",
        "https://caliper-staging.alpha-1edtech.ai",
        "https://api.staging.alpha-1edtech.ai",
    ),
    ("timeback", "production"): (
        "https://prod-beyond-timeback-api-2-idp.auth.us-east-1.amazoncognito.com",
        "https://caliper.alpha-1edtech.ai",
        "https://api.alpha-1edtech.ai",
    ),
    ("learnwith.ai", "staging"): ("https://platform.dev.timeback.com",) * 3,
    ("learnwith.ai", "production"): ("https://platform.timeback.com",) * 3,
}
PROFILE_KEYS = ("AUTH_URL", "CALIPER_URL", "API_URL", *TIMEBACK_PATHS)


def resolved(**user):
    with override_settings(TIMEBACK_PROGRESS=user):
        return {key: getattr(app_settings, key) for key in ("PLATFORM", *PROFILE_KEYS)}


def check_ids(**user):
    with override_settings(TIMEBACK_PROGRESS=user):
        return sorted(e.id for e in check_settings())


# -- settings ---------------------------------------------------------------------


def test_defaults_are_the_seeds_timeback_profile():
    assert resolved() == {"PLATFORM": "timeback", **dict(zip(PROFILE_KEYS[:3], HOSTS["timeback", "staging"])),
                          **TIMEBACK_PATHS}


@pytest.mark.parametrize("platform, environment", list(HOSTS))
def test_each_platform_and_environment(platform, environment):
    paths = LEARNWITH_PATHS if platform == "learnwith.ai" else TIMEBACK_PATHS
    assert resolved(PLATFORM=platform, ENVIRONMENT=environment) == {
        "PLATFORM": platform, **dict(zip(PROFILE_KEYS[:3], HOSTS[platform, environment])), **paths}


@pytest.mark.parametrize("platform", ["timeback", "learnwith.ai"])
@pytest.mark.parametrize("key", PROFILE_KEYS)
def test_each_key_overrides_on_its_own(platform, key):
    value = "https://override.example" if key.endswith("_URL") else "/override"
    baseline = resolved(PLATFORM=platform)
    assert resolved(PLATFORM=platform, **{key: value}) == {**baseline, key: value}


def test_an_empty_scope_sends_none_and_an_empty_url_follows_the_platform():
    cfg = resolved(PLATFORM="learnwith.ai", TOKEN_SCOPE="", API_URL="")
    assert cfg["TOKEN_SCOPE"] == "" and cfg["API_URL"] == "https://platform.dev.timeback.com"


# -- system check -------------------------------------------------------------------


def test_known_platforms_pass_the_checks():
    assert check_ids(PLATFORM="learnwith.ai") == check_ids(PLATFORM="timeback") == []


def test_an_unknown_platform_is_refused_naming_the_known_ones():
    with override_settings(TIMEBACK_PROGRESS={"PLATFORM": "beyond_ai"}):
        found = [e for e in run_checks() if e.id == "timeback_progress.E008"]
    assert len(found) == 1
    assert "'beyond_ai'" in found[0].msg and "timeback, learnwith.ai" in found[0].hint


def test_unknown_platform_resolves_nothing_rather_than_the_wrong_profile():
    cfg = resolved(PLATFORM="nope")
    assert cfg["CALIPER_EVENTS_PATH"] is None and cfg["API_URL"] is None


# -- the token request ----------------------------------------------------------------


class RecordingSession:
    """Stands in for requests.Session: records the token form, answers a token."""

    def __init__(self):
        self.forms = []

    def post(self, url, data=None, **kwargs):
        self.forms.append((url, dict(data)))
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"access_token": "t", "expires_in": 3600}'
        return response


@pytest.mark.parametrize("scope, sent", [(None, None), ("", None), (SCOPE, SCOPE)])
def test_scope_is_in_the_form_only_when_given(scope, sent):
    session = RecordingSession()
    provider = TokenProvider(session, token_url="http://127.0.0.1:9/t", client_id="c", client_secret="s", scope=scope)
    provider.fetch()
    assert session.forms[0][1].get("scope") == sent


def test_the_token_cache_key_is_unchanged_without_a_scope_and_differs_with_one():
    def key(scope):
        return TokenProvider(None, token_url="u", client_id="c", client_secret="s", scope=scope).cache_key

    assert key(None) == key("") != key(SCOPE)
    assert key(None) == "timeback_progress:token:" + hashlib.sha256(b"c\nu").hexdigest()[:32]


@pytest.fixture
def learnwith(sandbox_factory):
    """A sandbox acting as LearnWith.AI, and the app's settings pointed at it as that platform."""
    return sandbox_factory(platform="learnwith.ai", settings_overrides={"PLATFORM": "learnwith.ai"})


def test_the_client_gets_a_token_for_the_learnwith_scope(learnwith):
    client = get_client()
    assert client.auth.token_url == f"{learnwith.url}/auth/1.0/token"
    assert client.auth.get_token()
    assert learnwith.state.snapshot_stats()["tokens_issued"] == 1


@pytest.mark.parametrize("scope, shown", [("", "missing"), ("https://example.com/other.scope", "other.scope")])
def test_a_wrong_or_missing_scope_is_refused_like_an_oauth_server(learnwith, settings, scope, shown):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TOKEN_SCOPE": scope}
    with pytest.raises(errors.AuthError) as exc:
        get_client().auth.get_token()
    assert exc.value.status == 400 and shown in exc.value.message and SANDBOX_CLIENT_SECRET not in str(exc.value)
    answer = requests.post(f"{learnwith.url}/auth/1.0/token", timeout=5, data={
        "grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET,
        **({"scope": scope} if scope else {})})
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_scope")
    assert SANDBOX_CLIENT_SECRET not in str(list(learnwith.state.rejections))


def test_the_default_sandbox_still_ignores_scope(sandbox):
    answer = requests.post(f"{sandbox.url}/oauth2/token", timeout=5, data={
        "grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET,
        "scope": "anything"})
    assert answer.status_code == 200


# -- the sandbox as LearnWith.AI ---------------------------------------------------------


def test_the_learnwith_sandbox_serves_only_its_own_paths():
    with start_sandbox(client_id="c", client_secret="s", platform="learnwith.ai") as server:
        def post(path, **kwargs):
            return requests.post(server.url + path, timeout=5, **kwargs).status_code

        form = {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s", "scope": SCOPE}
        assert post("/auth/1.0/token", data=form) == 200
        assert post("/oauth2/token", data=form) == 404
        assert post("/caliper/v1p2", json={}) == 401  # there, behind the bearer token
        assert post("/ims/caliper/v1p2/events", json={}) == 404
        assert requests.get(f"{server.url}/gradebook/1.0/assessmentResults", timeout=5).status_code == 401
        assert requests.get(f"{server.url}/rostering/1.0/users", timeout=5).status_code == 401
        index = requests.get(server.url + "/", timeout=5).json()
        assert index["platform"] == "learnwith.ai" and "POST /caliper/v1p2" in index["routes"]


def test_an_unknown_sandbox_platform_is_refused():
    with pytest.raises(ValueError, match="unknown platform 'nope'"):
        start_sandbox(platform="nope")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("timeback_sandbox", "--port", "0", "--platform", "nope")


def test_rostering_reads_through_the_learnwith_paths(learnwith):
    learnwith.state.seed_roster({"users": [{"sourcedId": "u-1", "status": "active"}]})
    pages = list(get_client().get_collection(f"{app_settings.ROSTERING_PATH}/users"))
    assert [r["sourcedId"] for page in pages for r in page] == ["u-1"]
    assert learnwith.state.snapshot_stats()["endpoints"]["rostering"]["received"] == 1


@pytest.mark.django_db
def test_the_outbox_delivers_everything_to_learnwith(learnwith, settings, course):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True, "BACKOFF_BASE_SECONDS": 0.0}
    activities = [make_activity(course) for _ in range(2)]
    for i in range(4):
        complete(make_student(), activities[i % 2], total=10, correct=8 + i % 3)
    summary = sending.deliver_due()
    assert summary.dead == 0 and summary.retrying == 0
    assert not Delivery.objects.exclude(status="sent").exists()
    state = learnwith.state
    assert set(state.events) == set(Delivery.objects.filter(kind="caliper_event").values_list("key", flat=True))
    assert set(state.results) == set(Result.objects.values_list("sourced_id", flat=True))
    assert len(state.line_items) == 2 and not state.rejections
    # Actor ids name the student where this platform keeps its roster.
    actors = {e["actor"]["id"] for e in state.events.values()}
    assert all(a.startswith(f"{learnwith.url}/rostering/1.0/users/") for a in actors)
    endpoints = state.snapshot_stats()["endpoints"]
    assert endpoints["token"]["issued"] == 1 and endpoints["caliper"]["accepted"] == len(state.events)


# -- the Caliper form each platform takes ----------------------------------------------------------


def run_and_deliver(settings, course):
    """Two students: completions, an XP correction down, time reported before completing; then deliver."""
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True, "BACKOFF_BASE_SECONDS": 0.0,
                                  "TIME_FLUSH_SECONDS": 30}
    corrector = get_user_model().objects.create_user("corrector")
    students = [make_student(), make_student()]
    for n, student in enumerate(students):
        first = complete(student, make_activity(course, expected_xp=Decimal(10)), total=10, correct=10 - n, active=120, inactive=9)
        corrections.correct_result(Result.objects.get(attempt=first), user=corrector, reason="override", xp=Decimal("2.5"))
        timed = attempts.start_attempt(student, make_activity(course, masterable_units=2))
        attempts.add_time(timed, active_seconds=40, inactive_seconds=5)
        attempts.complete_attempt(timed, total_questions=4, correct_questions=4, active_seconds=12)
    return students, sending.deliver_due()


def app_sums(student):
    progress = student.progress.get()
    return {"xpEarned": progress.xp_total, "masteredUnits": progress.mastered_units,
            "active": progress.active_seconds, "inactive": progress.inactive_seconds}


@pytest.mark.django_db
@pytest.mark.parametrize("platform, profile, actor_type", [
    ("timeback", "TimebackProfile", "TimebackUser"), ("learnwith.ai", "AggregationProfile", "Person")])
def test_each_platform_receives_its_own_form_and_the_same_sums(sandbox_factory, settings, course, platform, profile,
                                                               actor_type):
    server = sandbox_factory(platform=platform, settings_overrides={"PLATFORM": platform})
    students, summary = run_and_deliver(settings, course)
    assert (summary.dead, summary.retrying) == (0, 0) and not server.state.rejections
    rows = Delivery.objects.filter(kind="caliper_event")
    assert set(server.state.events) == set(rows.values_list("key", flat=True))  # the same ids on either platform
    assert {e["profile"] for e in server.state.events.values()} == {profile}
    assert {e["actor"]["type"] for e in server.state.events.values()} == {actor_type}
    # The outbox keeps the Timeback form whatever the platform: switching rewrites no history.
    assert {r.payload["profile"] for r in rows} == {"TimebackProfile"}
    sums = metric_sums(server.state.events.values())
    for student in students:
        held = sums[caliper.actor(student)["id"]]
        assert {name: held[name] for name in ("xpEarned", "masteredUnits", "active", "inactive")} == app_sums(student)


@pytest.mark.django_db
def test_a_resend_to_learnwith_is_a_true_duplicate(learnwith, settings, course):
    run_and_deliver(settings, course)
    stored = copy.deepcopy(learnwith.state.events)
    payloads = list(Delivery.objects.filter(kind="caliper_event").order_by("pk").values_list("payload", flat=True))
    answer = get_client().send_events(payloads)
    assert (answer["accepted"], answer["duplicates"]) == (0, len(payloads))
    assert learnwith.state.events == stored
    assert learnwith.state.snapshot_stats()["endpoints"]["caliper"].get("conflicting_duplicates", 0) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("sandbox_platform, app_platform", [("learnwith.ai", "timeback"), ("timeback", "learnwith.ai")])
def test_the_wrong_form_for_the_platform_is_refused(sandbox_factory, settings, course, sandbox_platform, app_platform):
    """The app's PLATFORM decides the form, not the paths: the sandbox's paths with the other platform's form fail."""
    paths = LEARNWITH_PATHS if sandbox_platform == "learnwith.ai" else TIMEBACK_PATHS
    server = sandbox_factory(platform=sandbox_platform, settings_overrides={"PLATFORM": app_platform, **paths})
    _students, summary = run_and_deliver(settings, course)
    assert not server.state.events and summary.dead == Delivery.objects.filter(kind="caliper_event").count()
    wanted = "AggregationProfile" if sandbox_platform == "learnwith.ai" else "TimebackProfile"
    assert any(f"profile: must be '{wanted}'" in p for r in server.state.rejections for p in r["problems"])
    assert len(server.state.results) == Result.objects.count()  # the gradebook is the same on both


@pytest.mark.django_db
def test_an_invalid_event_is_named_by_index_and_id_on_learnwith(learnwith):
    course = make_course()
    complete(make_student(), make_activity(course))
    complete(make_student(), make_activity(course))
    payloads = [copy.deepcopy(p) for p in Delivery.objects.filter(kind="caliper_event").order_by("pk").values_list(
        "payload", flat=True)]
    payloads[1]["generated"]["items"][0]["value"] = -1  # below zero: only xpEarned may be
    with pytest.raises(errors.PermanentError) as exc:
        get_client().send_events(payloads)
    assert exc.value.invalid_event_ids == {payloads[1]["id"]}


def test_the_client_follows_the_platform_setting(settings):
    """Only PLATFORM changes (hosts and paths pinned): the shared client is rebuilt for it."""
    pinned = {"AUTH_URL": "http://127.0.0.1:9", "CALIPER_URL": "http://127.0.0.1:9", "API_URL": "http://127.0.0.1:9",
              **TIMEBACK_PATHS, "TOKEN_SCOPE": ""}
    settings.TIMEBACK_PROGRESS = {**pinned, "PLATFORM": "timeback"}
    assert get_client().envelope_transform is None
    settings.TIMEBACK_PROGRESS = {**pinned, "PLATFORM": "learnwith.ai"}
    assert get_client().envelope_transform is lwai.transform_envelope
