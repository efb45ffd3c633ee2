"""The Timeback client over real HTTP against the sandbox on loopback."""

import logging
import threading
import time
from email.utils import format_datetime
from datetime import UTC, datetime, timedelta

import pytest
import requests

from timeback_progress import __version__
from timeback_progress.timeback import errors
from timeback_progress.timeback.client import TimebackClient, get_client
from tests.plugins.sandbox import SANDBOX_CLIENT_SECRET

LINE_ITEM = {"assessmentLineItem": {"sourcedId": "li-1", "status": "active", "title": "Fractions Quiz"}}
RESULT = {"assessmentResult": {
    "sourcedId": "r-1", "status": "active", "assessmentLineItem": {"sourcedId": "li-1"},
    "student": {"sourcedId": "student-123"}, "score": 85, "scoreStatus": "fully graded",
    "scoreDate": "2025-11-18T10:15:00Z", "metadata": {"xp": 100},
}}


def stats(sandbox):
    return sandbox.state.snapshot_stats()


def event(n=1, **changes):
    e = {
        "@context": "http://purl.imsglobal.org/ctx/caliper/v1p2",
        "id": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        "type": "TimeSpentEvent", "action": "SpentTime", "profile": "TimebackProfile",
        "eventTime": "2025-11-18T10:15:00Z",
        "actor": {"id": "https://api.alpha-1edtech.ai/ims/oneroster/rostering/v1p2/users/student-123",
                  "type": "TimebackUser", "email": "student@example.com"},
        "object": {"id": "fractions-quiz", "type": "TimebackActivityContext", "subject": "Math", "app": {"name": "Math App"}},
        "generated": {"id": "time-metrics-123", "type": "TimebackTimeSpentMetricsCollection",
                      "items": [{"type": "active", "value": 240}, {"type": "inactive", "value": 60}]},
    }
    e.update(changes)
    return e


def queue(sandbox, *faults):
    sandbox.state.faults.update({"queue": list(faults)})


# -- happy paths --------------------------------------------------------------


def test_send_events_and_upserts_round_trip(sandbox, timeback_client):
    answer = timeback_client.send_events([event(1), event(2)])
    assert (answer["accepted"], answer["duplicates"]) == (2, 0)
    assert timeback_client.send_events([event(1)])["duplicates"] == 1
    timeback_client.put_line_item(LINE_ITEM)  # 404 on PUT, then POST (the vendor's upsert)
    timeback_client.put_result(RESULT)
    changed = {"assessmentResult": {**RESULT["assessmentResult"], "score": 90}}
    assert timeback_client.put_result(changed) == changed  # now a plain PUT replaces it
    assert timeback_client.get_result("r-1") == changed
    assert timeback_client.get_result("missing") is None
    s = stats(sandbox)
    assert (s["events_stored"], s["duplicates"], s["results_stored"], s["line_items_stored"]) == (2, 1, 1, 1)
    assert s["endpoints"]["gradebook"]["not_found"] == 2
    assert s["user_agents"] == {f"timeback-progress/{__version__} (+python-requests)": s["received"]}


def test_post_conflict_after_404_falls_back_to_put(sandbox, timeback_client):
    timeback_client.put_line_item(LINE_ITEM)
    # Another worker created the result between our PUT (404) and POST (409).
    queue(sandbox, {"status": 404, "endpoint": "gradebook"})
    sandbox.state.results["r-1"] = dict(RESULT["assessmentResult"])
    assert timeback_client.put_result(RESULT) == RESULT
    assert stats(sandbox)["endpoints"]["gradebook"]["conflicts"] == 1


def test_get_collection_pages_with_limit_and_offset(sandbox, timeback_client):
    timeback_client.put_line_item(LINE_ITEM)
    for n in range(5):
        timeback_client.put_result({"assessmentResult": {**RESULT["assessmentResult"], "sourcedId": f"r-{n}"}})
    pages = list(timeback_client.get_collection("/ims/oneroster/gradebook/v1p2/assessmentResults", page_size=2))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [r["sourcedId"] for p in pages for r in p] == [f"r-{n}" for n in range(5)]
    assert list(timeback_client.get_collection("/ims/oneroster/gradebook/v1p2/assessmentResults", page_size=5)) == [
        [r for p in pages for r in p]]


def test_get_client_is_shared_and_rebuilt_when_settings_change(sandbox, settings):
    client = get_client()
    assert get_client() is client
    assert client.timeout == (5.0, 30.0)
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "READ_TIMEOUT": 7}
    rebuilt = get_client()
    assert rebuilt is not client and rebuilt.timeout == (5.0, 7.0)


# -- tokens ---------------------------------------------------------------------


def test_token_is_cached_across_clients(sandbox, settings):
    from timeback_progress.conf import app_settings

    TimebackClient(app_settings.as_dict()).get_result("x")
    TimebackClient(app_settings.as_dict()).get_result("y")  # a second "worker" with the same cache
    assert stats(sandbox)["tokens_issued"] == 1


def test_token_is_renewed_before_expiry(sandbox_factory, settings):
    sandbox = sandbox_factory(faults={"token_ttl": 2})  # cached for ttl/2 = 1 s with the 60 s margin
    client = get_client()
    client.get_result("x")
    client.get_result("x")
    assert stats(sandbox)["tokens_issued"] == 1
    time.sleep(1.2)
    client.get_result("x")
    assert stats(sandbox)["tokens_issued"] == 2
    assert stats(sandbox)["endpoints"]["gradebook"].get("unauthorized", 0) == 0


def test_token_expiring_early_is_renewed_once_on_401(sandbox, timeback_client):
    timeback_client.get_result("x")
    sandbox.state.expire_tokens()  # the server forgets it although expires_in said 3600 s
    assert timeback_client.get_result("x") is None
    s = stats(sandbox)
    assert (s["tokens_issued"], s["endpoints"]["gradebook"]["unauthorized"]) == (2, 1)


def test_401_after_a_fresh_token_is_an_auth_error(sandbox, timeback_client):
    queue(sandbox, {"status": 401, "endpoint": "gradebook"}, {"status": 401, "endpoint": "gradebook"})
    with pytest.raises(errors.AuthError) as exc:
        timeback_client.get_result("x")
    assert exc.value.status == 401
    assert stats(sandbox)["tokens_issued"] == 2  # renewed exactly once


def test_no_token_stampede_across_threads(sandbox_factory):
    sandbox = sandbox_factory(faults={"latency_ms": 200})  # a slow token endpoint widens the race
    client = get_client()
    tokens, barrier = [], threading.Barrier(16)

    def worker():
        barrier.wait()
        tokens.append(client.auth.get_token())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(tokens) == 16 and len(set(tokens)) == 1
    assert stats(sandbox)["tokens_issued"] == 1


def test_bad_credentials_are_an_auth_error_without_the_secret(sandbox, settings, caplog):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "CLIENT_SECRET": "wrong-secret-8812"}
    caplog.set_level(logging.DEBUG)
    with pytest.raises(errors.AuthError) as exc:
        get_client().send_events([event()])
    assert exc.value.status == 401
    assert "credentials rejected" in str(exc.value)
    for text in (str(exc.value), repr(exc.value), repr(get_client()), repr(get_client().auth), caplog.text):
        assert "wrong-secret-8812" not in text
    assert stats(sandbox)["endpoints"]["token"]["received"] == 1


def test_missing_credentials_fail_before_any_request(sandbox, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "CLIENT_SECRET": ""}
    with pytest.raises(errors.AuthError, match="not set"):
        get_client().get_result("x")
    assert stats(sandbox)["received"] == 0


def test_secrets_never_reach_logs_errors_or_reprs(sandbox, timeback_client, caplog):
    caplog.set_level(logging.DEBUG)
    timeback_client.get_result("x")
    token = timeback_client.auth.get_token()
    sandbox.state.expire_tokens()
    timeback_client.get_result("x")  # 401 and refresh, logged
    queue(sandbox, {"status": 400})
    with pytest.raises(errors.PermanentError) as exc:
        timeback_client.send_events([event()])
    texts = [caplog.text, str(exc.value), repr(exc.value), repr(timeback_client), repr(timeback_client.auth)]
    for secret in (SANDBOX_CLIENT_SECRET, token, timeback_client.auth.get_token()):
        assert all(secret not in text for text in texts)
    assert "401" in caplog.text


def test_a_secret_echoed_by_the_server_is_redacted(sandbox, timeback_client):
    error = errors.from_response(_fake_response(400, {"message": f"bad secret {SANDBOX_CLIENT_SECRET}"}),
                                 secrets=(SANDBOX_CLIENT_SECRET,))
    assert SANDBOX_CLIENT_SECRET not in str(error) and "***" in str(error)


def _fake_response(status, body, headers=None):
    response = requests.Response()
    response.status_code = status
    response._content = requests.compat.json.dumps(body).encode()
    response.headers.update(headers or {})
    return response


# -- error classes -------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_retriable(sandbox, timeback_client, status):
    queue(sandbox, {"status": status})
    with pytest.raises(errors.RetriableError) as exc:
        timeback_client.send_events([event()])
    assert exc.value.status == status and exc.value.retriable
    assert stats(sandbox)["events_stored"] == 0


def test_429_carries_retry_after(sandbox, timeback_client):
    queue(sandbox, {"status": 429, "retry_after": 7})
    with pytest.raises(errors.RetriableError) as exc:
        timeback_client.put_result(RESULT)
    assert (exc.value.status, exc.value.retry_after) == (429, 7.0)
    assert "rate limit" in str(exc.value)


def test_rate_limit_answers_429_beyond_the_limit(sandbox_factory):
    sandbox_factory(faults={"rate_limit": 3, "retry_after": 2})
    client = get_client()
    for _ in range(3):
        client.get_result("x")
    with pytest.raises(errors.RetriableError) as exc:
        client.get_result("x")
    assert (exc.value.status, exc.value.retry_after) == (429, 2.0)


def test_retry_after_parses_seconds_and_http_dates():
    now = time.time()
    later = datetime.fromtimestamp(now, UTC) + timedelta(seconds=90)
    assert errors.parse_retry_after("120") == 120.0
    assert 88 <= errors.parse_retry_after(format_datetime(later, usegmt=True), now=now) <= 90
    assert errors.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert errors.parse_retry_after("soon") is None and errors.parse_retry_after(None) is None


def test_read_timeout_is_retriable(sandbox_factory):
    sandbox = sandbox_factory(settings_overrides={"READ_TIMEOUT": 0.3})
    client = get_client()
    client.auth.get_token()
    queue(sandbox, {"delay_ms": 1500, "endpoint": "caliper"})
    started = time.monotonic()
    with pytest.raises(errors.RetriableError) as exc:
        client.send_events([event()])
    assert time.monotonic() - started < 1.4
    assert exc.value.status is None and "timed out" in str(exc.value)


def test_dropped_connection_is_retriable(sandbox, timeback_client):
    timeback_client.auth.get_token()
    queue(sandbox, {"drop": True})
    with pytest.raises(errors.RetriableError) as exc:
        timeback_client.send_events([event()])
    assert exc.value.status is None and "connection" in str(exc.value)
    assert timeback_client.send_events([event()])["accepted"] == 1  # the pool recovers


def test_unreachable_server_is_retriable(sandbox, timeback_client):
    sandbox.stop()
    with pytest.raises(errors.RetriableError) as exc:
        timeback_client.get_result("x")
    assert exc.value.status is None


def test_bad_payload_is_permanent_with_the_server_message(sandbox, timeback_client):
    with pytest.raises(errors.PermanentError) as exc:
        timeback_client.put_result({"assessmentResult": {**RESULT["assessmentResult"], "scoreStatus": "graded"}})
    assert exc.value.status == 400
    assert "scoreStatus" in exc.value.message and not exc.value.retriable


def test_batch_rejection_names_the_invalid_events(sandbox, timeback_client):
    batch = [event(1), event(2, eventTime="yesterday"), event(3), event(4, action="Completed")]
    with pytest.raises(errors.PermanentError) as exc:
        timeback_client.send_events(batch)
    assert exc.value.invalid_event_ids == {batch[1]["id"], batch[3]["id"]}
    assert exc.value.invalid_indexes == {1, 3}
    assert "2 of 4 events invalid" in str(exc.value)
    assert stats(sandbox)["events_stored"] == 0  # all or nothing
    good = [e for e in batch if e["id"] not in exc.value.invalid_event_ids]
    assert timeback_client.send_events(good)["accepted"] == 2


def test_ims_and_json_messages_are_read():
    ims = _fake_response(400, {"imsx_codeMajor": "failure", "imsx_description": "bad line item"})
    assert errors.from_response(ims).message == "bad line item"
    assert errors.from_response(_fake_response(422, {"detail": "nope"})).message == "nope"
    assert isinstance(errors.from_response(_fake_response(409, {})), errors.RetriableError)
    plain = requests.Response()
    plain.status_code, plain._content = 403, b"Forbidden here"
    error = errors.from_response(plain)
    assert isinstance(error, errors.PermanentError) and error.message == "Forbidden here"


@pytest.mark.django_db
def test_token_shared_through_the_projects_database_cache(sandbox_factory):
    """The example project's default cache (database, or Redis) is what workers share."""
    from timeback_progress.conf import app_settings

    sandbox = sandbox_factory(settings_overrides={"TOKEN_CACHE_ALIAS": "default"})
    first, second = (TimebackClient(app_settings.as_dict()) for _ in range(2))
    first.get_result("x")
    second.get_result("x")
    assert stats(sandbox)["tokens_issued"] == 1
    first.auth.invalidate("some-older-token")  # keeps the newer cached token
    assert first.auth.get_token() == second.auth.get_token()
    first.auth.invalidate()
    second.get_result("x")  # its own copy is still good: no new token
    assert stats(sandbox)["tokens_issued"] == 1
    sandbox.state.expire_tokens()  # the server revokes it: a 401, then one renewal for both
    second.get_result("x")
    first.get_result("x")
    assert stats(sandbox)["tokens_issued"] == 2
