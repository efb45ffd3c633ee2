"""The sandbox itself, spoken to over raw HTTP: tokens, validation, storage, faults."""

import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management.base import CommandError

from timeback_progress.contrib.sandbox import Response, Route, ROUTES, paged, start_sandbox
from tests.plugins.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from tests.test_timeback_client import LINE_ITEM, RESULT, event

CALIPER = "/ims/caliper/v1p2/events"
GRADEBOOK = "/ims/oneroster/gradebook/v1p2"


class Api:
    """Raw HTTP against one sandbox with a valid token."""

    def __init__(self, sandbox):
        self.url = sandbox.url
        self.http = requests.Session()
        answer = self.http.post(f"{self.url}/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET})
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def __getattr__(self, method):
        return lambda path, **kw: self.http.request(method.upper(), self.url + path, timeout=5, **kw)


@pytest.fixture
def api(sandbox):
    return Api(sandbox)


def envelope(events, **changes):
    body = {"sensor": "https://your-app.com", "sendTime": "2025-11-18T10:15:00Z",
            "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p2", "data": events}
    body.update(changes)
    return body


def admin(sandbox, what):
    return requests.get(f"{sandbox.url}/_sandbox/{what}", timeout=5).json()


# -- token endpoint -------------------------------------------------------------


def test_token_endpoint_accepts_form_and_basic(sandbox):
    form = {"grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET}
    answer = requests.post(f"{sandbox.url}/oauth2/token", data=form, timeout=5)
    assert answer.status_code == 200
    assert answer.json()["token_type"] == "Bearer" and answer.json()["expires_in"] == 3600
    basic = base64.b64encode(f"{SANDBOX_CLIENT_ID}:{SANDBOX_CLIENT_SECRET}".encode()).decode()
    answer = requests.post(f"{sandbox.url}/oauth2/token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": f"Basic {basic}"}, timeout=5)
    assert answer.status_code == 200


@pytest.mark.parametrize(("data", "status", "error"), [
    ({"grant_type": "password", "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET}, 400,
     "unsupported_grant_type"),
    ({"grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID, "client_secret": "nope"}, 401, "invalid_client"),
    ({"grant_type": "client_credentials", "client_id": "someone", "client_secret": SANDBOX_CLIENT_SECRET}, 401,
     "invalid_client"),
    ({"grant_type": "client_credentials"}, 401, "invalid_client"),
])
def test_token_endpoint_refuses(sandbox, data, status, error):
    answer = requests.post(f"{sandbox.url}/oauth2/token", data=data, timeout=5)
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    assert SANDBOX_CLIENT_SECRET not in answer.text


def test_token_endpoint_wants_a_form(sandbox):
    answer = requests.post(f"{sandbox.url}/oauth2/token", json={"grant_type": "client_credentials"}, timeout=5)
    assert answer.status_code == 400


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic abc"])
def test_api_needs_a_valid_bearer_token(sandbox, header):
    headers = {"Authorization": header} if header else {}
    answer = requests.post(sandbox.url + CALIPER, json=envelope([event()]), headers=headers, timeout=5)
    assert answer.status_code == 401 and "Bearer" in answer.headers["WWW-Authenticate"]
    assert admin(sandbox, "stats")["events_stored"] == 0


def test_expired_token_is_refused(sandbox, api):
    assert api.get(f"{GRADEBOOK}/assessmentResults/x").status_code == 404
    requests.post(f"{sandbox.url}/_sandbox/expire-tokens", timeout=5)
    assert api.get(f"{GRADEBOOK}/assessmentResults/x").status_code == 401


def test_short_lived_tokens_expire(sandbox, api):
    sandbox.state.faults.update({"token_lifetime": 0})
    assert Api(sandbox).get(f"{GRADEBOOK}/assessmentResults/x").status_code == 401  # expired as issued
    assert api.get(f"{GRADEBOOK}/assessmentResults/x").status_code == 404  # the older one still lives


# -- Caliper ----------------------------------------------------------------------


def test_events_are_stored_and_deduplicated_by_id(sandbox, api):
    assert api.post(CALIPER, json=envelope([event(1), event(2)])).json()["accepted"] == 2
    answer = api.post(CALIPER, json=envelope([event(2), event(3)])).json()
    assert (answer["accepted"], answer["duplicates"]) == (1, 1)
    changed = event(3, eventTime="2025-11-18T10:16:00Z")
    assert api.post(CALIPER, json=envelope([changed])).json()["duplicates"] == 1
    stats = admin(sandbox, "stats")
    assert (stats["events_stored"], stats["duplicates"], stats["conflicting_duplicates"]) == (3, 2, 1)
    listed = admin(sandbox, "events")
    assert [e["id"] for e in listed["events"]] == [event(n)["id"] for n in (1, 2, 3)]
    assert listed["events"][2]["eventTime"] == "2025-11-18T10:15:00Z"  # the first copy is kept


@pytest.mark.parametrize(("name", "body"), [
    ("no sensor", {k: v for k, v in envelope([event()]).items() if k != "sensor"}),
    ("no sendTime", {k: v for k, v in envelope([event()]).items() if k != "sendTime"}),
    ("no dataVersion", {k: v for k, v in envelope([event()]).items() if k != "dataVersion"}),
    ("no data", {k: v for k, v in envelope([event()]).items() if k != "data"}),
    ("empty data", envelope([])),
    ("data not a list", envelope(event())),
    ("bad sendTime", envelope([event()], sendTime="now")),
    ("bad dataVersion", envelope([event()], dataVersion="1.1")),
    ("sensor not an IRI", envelope([event()], sensor="my app")),
    ("unknown envelope field", envelope([event()], priority="high")),
    ("bare event, no envelope", event()),
    ("a list", [event()]),
])
def test_malformed_envelopes_are_refused(sandbox, api, name, body):
    answer = api.post(CALIPER, json=body)
    assert answer.status_code == 400
    assert answer.json()["message"]
    assert admin(sandbox, "stats")["events_stored"] == 0


def test_non_json_is_refused(sandbox, api):
    answer = api.post(CALIPER, data=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["message"]
    answer = api.post(CALIPER, data=json.dumps(envelope([event()])), headers={"Content-Type": "text/plain"})
    assert answer.status_code == 400 and "Content-Type" in answer.json()["message"]


def _without(path):
    e = event()
    *parents, last = path.split(".")
    target = e
    for key in parents:
        target = target[key]
    del target[last]
    return e


REQUIRED_EVENT_FIELDS = [
    "@context", "id", "type", "action", "profile", "eventTime", "actor", "object", "generated",
    "actor.id", "actor.type", "actor.email", "object.id", "object.type", "object.subject", "object.app",
    "object.app.name", "generated.id", "generated.type", "generated.items",
]


@pytest.mark.parametrize("path", REQUIRED_EVENT_FIELDS)
def test_an_event_missing_any_required_field_is_refused(sandbox, api, path):
    bad = _without(path)
    answer = api.post(CALIPER, json=envelope([event(7), bad]))
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert [e["index"] for e in errors] == [1]
    assert path.split(".")[-1] in errors[0]["message"]
    assert admin(sandbox, "stats")["events_stored"] == 0


@pytest.mark.parametrize(("name", "changes"), [
    ("wrong subject", {"object": {**event()["object"], "subject": "Maths"}}),
    ("wrong role", {"actor": {**event()["actor"], "role": "parent"}}),
    ("id not urn:uuid", {"id": "1234"}),
    ("id urn but not uuid", {"id": "urn:uuid:not-a-uuid"}),
    ("eventTime without zone", {"eventTime": "2025-11-18T10:15:00"}),
    ("eventTime impossible date", {"eventTime": "2025-02-30T10:15:00Z"}),
    ("action does not match type", {"action": "Completed"}),
    ("unknown field", {"xp": 10}),
    ("negative seconds", {"generated": {**event()["generated"], "items": [{"type": "active", "value": -5}]}}),
    ("too many seconds", {"generated": {**event()["generated"], "items": [{"type": "active", "value": 90000}]}}),
    ("bool as a number", {"generated": {**event()["generated"], "items": [{"type": "active", "value": True}]}}),
    ("metric twice", {"generated": {**event()["generated"], "items": [{"type": "active", "value": 1}] * 2}}),
    ("activity metric in time event", {"generated": {**event()["generated"], "items": [{"type": "xpEarned", "value": 1}]}}),
    ("unknown app field", {"object": {**event()["object"], "app": {"name": "Math App", "version": 2}}}),
])
def test_an_event_with_a_wrong_value_is_refused(sandbox, api, name, changes):
    answer = api.post(CALIPER, json=envelope([event(**changes)]))
    assert answer.status_code == 400, name
    assert answer.json()["errors"][0]["id"] == event(**changes).get("id")


def test_activity_event_rules(sandbox, api):
    activity = event(
        9, type="ActivityEvent", action="Completed",
        generated={"id": "metrics-123", "type": "TimebackActivityMetricsCollection", "attempt": 1, "items": [
            {"type": "totalQuestions", "value": 10}, {"type": "correctQuestions", "value": 8},
            {"type": "xpEarned", "value": -20}, {"type": "masteredUnits", "value": 1}]},
    )
    assert api.post(CALIPER, json=envelope([activity])).status_code == 200  # negative XP: a correction
    for attempt in (0, 1.5, "1", True):
        bad = {**activity, "id": event(10)["id"], "generated": {**activity["generated"], "attempt": attempt}}
        assert api.post(CALIPER, json=envelope([bad])).status_code == 400, attempt


def test_rejections_are_listed_with_their_problems(sandbox, api):
    api.post(CALIPER, json=envelope([_without("actor.email")]))
    listed = admin(sandbox, "rejections")["rejections"]
    assert listed[-1]["problems"] == ["data[0].actor.email: required"]
    assert admin(sandbox, "stats")["rejected"] == 1


# -- OneRoster gradebook -------------------------------------------------------------


def put(api, collection, body, sourced_id):
    return api.put(f"{GRADEBOOK}/{collection}/{sourced_id}", json=body)


def test_put_unknown_is_404_then_post_creates(sandbox, api):
    answer = put(api, "assessmentLineItems", LINE_ITEM, "li-1")
    assert answer.status_code == 404 and answer.json()["imsx_codeMajor"] == "failure"
    answer = api.post(f"{GRADEBOOK}/assessmentLineItems", json=LINE_ITEM)
    assert answer.status_code == 201
    assert answer.json()["sourcedIdPairs"] == {"suppliedSourcedId": "li-1", "allocatedSourcedId": "li-1"}
    assert api.post(f"{GRADEBOOK}/assessmentLineItems", json=LINE_ITEM).status_code == 409
    assert put(api, "assessmentLineItems", LINE_ITEM, "li-1").status_code == 200
    assert api.get(f"{GRADEBOOK}/assessmentLineItems/li-1").json() == LINE_ITEM
    assert admin(sandbox, "line-items")["assessmentLineItems"] == [LINE_ITEM["assessmentLineItem"]]


def test_put_creates_when_asked(sandbox, api):
    sandbox.state.faults.update({"put_creates": True})
    assert put(api, "assessmentLineItems", LINE_ITEM, "li-1").status_code == 200
    assert put(api, "assessmentResults", RESULT, "r-1").status_code == 200
    assert admin(sandbox, "results")["count"] == 1


@pytest.mark.parametrize(("name", "body", "sourced_id", "needle"), [
    ("unwrapped", RESULT["assessmentResult"], "r-1", "wrap"),
    ("wrong wrapper", {"result": RESULT["assessmentResult"]}, "r-1", "wrap"),
    ("extra top-level key", {**RESULT, "meta": {}}, "r-1", "meta"),
    ("URL id mismatch", RESULT, "r-2", "does not match"),
    ("unknown line item", {"assessmentResult": {**RESULT["assessmentResult"], "assessmentLineItem": {"sourcedId": "li-9"}}},
     "r-1", "no assessmentLineItem"),
    ("bad scoreStatus", {"assessmentResult": {**RESULT["assessmentResult"], "scoreStatus": "graded"}}, "r-1", "scoreStatus"),
    ("bad status", {"assessmentResult": {**RESULT["assessmentResult"], "status": "deleted"}}, "r-1", "status"),
    ("bad scoreDate", {"assessmentResult": {**RESULT["assessmentResult"], "scoreDate": "18/11/2025"}}, "r-1", "scoreDate"),
    ("date-only scoreDate is fine, score string is not",
     {"assessmentResult": {**RESULT["assessmentResult"], "scoreDate": "2025-11-18", "score": "85"}}, "r-1", "score"),
    ("unknown field", {"assessmentResult": {**RESULT["assessmentResult"], "xp": 100}}, "r-1", "xp"),
    ("missing student", {"assessmentResult": {k: v for k, v in RESULT["assessmentResult"].items() if k != "student"}},
     "r-1", "student"),
])
def test_malformed_results_are_refused_with_an_ims_payload(sandbox, api, name, body, sourced_id, needle):
    sandbox.state.faults.update({"put_creates": True})
    assert put(api, "assessmentLineItems", LINE_ITEM, "li-1").status_code == 200
    answer = put(api, "assessmentResults", body, sourced_id)
    assert answer.status_code == 400, name
    payload = answer.json()
    assert payload["imsx_codeMajor"] == "failure" and payload["imsx_severity"] == "error"
    assert needle in payload["imsx_description"]
    assert admin(sandbox, "results")["count"] == 0


@pytest.mark.parametrize("field", ["sourcedId", "status", "title"])
def test_line_item_missing_required_field_is_refused(sandbox, api, field):
    body = {"assessmentLineItem": {k: v for k, v in LINE_ITEM["assessmentLineItem"].items() if k != field}}
    answer = api.post(f"{GRADEBOOK}/assessmentLineItems", json=body)
    if field == "sourcedId":  # a POST may leave the id to the server
        assert answer.status_code == 201
        assert answer.json()["sourcedIdPairs"]["allocatedSourcedId"]
    else:
        assert answer.status_code == 400 and field in answer.json()["imsx_description"]


def test_collections_page_with_total_count(sandbox, api):
    sandbox.state.faults.update({"put_creates": True})
    for n in range(3):
        put(api, "assessmentLineItems", {"assessmentLineItem": {**LINE_ITEM["assessmentLineItem"], "sourcedId": f"li-{n}"}},
            f"li-{n}")
    answer = api.get(f"{GRADEBOOK}/assessmentLineItems", params={"limit": 2, "offset": 2})
    assert answer.headers["X-Total-Count"] == "3"
    assert [i["sourcedId"] for i in answer.json()["assessmentLineItems"]] == ["li-2"]
    assert api.get(f"{GRADEBOOK}/assessmentLineItems", params={"limit": 0}).status_code == 400


def test_unknown_route_and_method(sandbox, api):
    assert api.get("/ims/oneroster/gradebook/v1p2/categories").status_code == 404
    assert api.delete(f"{GRADEBOOK}/assessmentResults/r-1").status_code == 405


# -- faults and admin ---------------------------------------------------------------


def test_faults_can_be_changed_at_run_time(sandbox, api):
    answer = requests.post(f"{sandbox.url}/_sandbox/faults", json={"fail_rate": 1.0}, timeout=5)
    assert answer.json()["fail_rate"] == 1.0
    statuses = {api.get(f"{GRADEBOOK}/assessmentResults/x").status_code for _ in range(10)}
    assert statuses <= {500, 502, 503} and statuses
    assert requests.post(f"{sandbox.url}/_sandbox/faults", json={"fail_rate": 0}, timeout=5).ok
    assert api.get(f"{GRADEBOOK}/assessmentResults/x").status_code == 404


@pytest.mark.parametrize("bad", [{"fail_rate": 2}, {"nonsense": 1}, {"latency_ms": -1}, {"endpoints": ["everything"]}, [1]])
def test_bad_fault_settings_are_refused_and_change_nothing(sandbox, bad):
    before = requests.get(f"{sandbox.url}/_sandbox/faults", timeout=5).json()
    answer = requests.post(f"{sandbox.url}/_sandbox/faults", json=bad, timeout=5)
    assert answer.status_code == 400 and answer.json()["message"]
    assert requests.get(f"{sandbox.url}/_sandbox/faults", timeout=5).json() == before


def _outcomes(seed):
    with start_sandbox(client_id="c", client_secret="s", faults={"fail_rate": 0.3, "throttle_rate": 0.2, "seed": seed,
                                                                  "put_creates": True}) as server:
        http = requests.Session()
        token = http.post(f"{server.url}/oauth2/token",
                          data={"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}).json()
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        return [http.get(f"{server.url}{GRADEBOOK}/assessmentResults/x", timeout=5).status_code for _ in range(30)]


def test_a_seed_makes_faults_repeatable():
    first = _outcomes(42)
    assert first == _outcomes(42)
    assert {404, 429} <= set(first) and set(first) & {500, 502, 503}


def test_random_drops_close_the_connection(sandbox, api):
    sandbox.state.faults.update({"drop_rate": 1.0})
    with pytest.raises(requests.ConnectionError):
        api.get(f"{GRADEBOOK}/assessmentResults/x")
    assert admin(sandbox, "stats")["faults"] == 1


def test_latency_slows_responses(sandbox, api):
    sandbox.state.faults.update({"latency_ms": 150})
    started = time.monotonic()
    api.get(f"{GRADEBOOK}/assessmentResults/x")
    assert time.monotonic() - started >= 0.15


def test_reset_forgets_everything_received(sandbox, api):
    api.post(CALIPER, json=envelope([event()]))
    assert requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5).ok
    stats = admin(sandbox, "stats")
    assert (stats["events_stored"], stats["received"]) == (0, 0)


def test_routes_are_a_table_later_issues_can_extend():
    people = [{"sourcedId": f"u-{n}"} for n in range(5)]
    routes_before = list(ROUTES)
    route = Route("GET", "/ims/oneroster/rostering/v1p2/users", lambda state, request: paged(request, people, "users"),
                  "rostering")
    # A handler answers with a plain Response: its status, body and headers go out as given.
    accept = Route("POST", "/ims/oneroster/rostering/v1p2/jobs", lambda state, request: Response(
        202, {"accepted": request.json()["name"]}, {"Location": "/jobs/7"}), "rostering")
    with start_sandbox(client_id="c", client_secret="s", routes=[*ROUTES, route, accept]) as server:
        http = requests.Session()
        token = http.post(f"{server.url}/oauth2/token",
                          data={"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}).json()
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        answer = http.get(f"{server.url}/ims/oneroster/rostering/v1p2/users", params={"limit": 2, "offset": 4}, timeout=5)
        assert answer.json() == {"users": [{"sourcedId": "u-4"}]}
        assert answer.headers["X-Total-Count"] == "5"
        assert http.get(f"{server.url}/ims/oneroster/rostering/v1p2/users", headers={"Authorization": ""}).status_code == 401
        job = http.post(f"{server.url}/ims/oneroster/rostering/v1p2/jobs", json={"name": "nightly"}, timeout=5)
        assert (job.status_code, job.json(), job.headers["Location"]) == (202, {"accepted": "nightly"}, "/jobs/7")
        assert server.state.snapshot_stats()["endpoints"]["rostering"]["received"] == 3
    # The extension belongs to that server: the default table is unchanged.
    assert ROUTES == routes_before
    with start_sandbox(client_id="c", client_secret="s") as plain:
        assert requests.post(f"{plain.url}/ims/oneroster/rostering/v1p2/jobs", json={}, timeout=5).status_code == 404


# -- an opt-in app -------------------------------------------------------------------


def test_the_command_exists_only_where_the_contrib_app_is_installed(settings):
    from django.core.management import call_command, get_commands

    assert get_commands()["timeback_sandbox"] == "timeback_progress.contrib.sandbox"
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "timeback_progress.contrib.sandbox"]
    assert "timeback_sandbox" not in get_commands()
    with pytest.raises(CommandError, match="Unknown command: 'timeback_sandbox'"):
        call_command("timeback_sandbox", "--port", "0")


# -- as a separate process ------------------------------------------------------------


@pytest.mark.integration
def test_management_command_runs_a_sandbox_other_processes_can_use():
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "timeback_sandbox", "--port", "0", "--client-secret", "cmd-secret-5521"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "TIMEBACK_SYNC_ENABLED" in line:
                break
        output = "".join(lines)
        url = re.search(r"TIMEBACK_API_URL=(\S+)", output).group(1)
        assert "cmd-secret-5521" not in output
        token = requests.post(f"{url}/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "cmd-secret-5521"},
            timeout=5)
        assert token.status_code == 200
        assert requests.get(f"{url}/_sandbox/stats", timeout=5).json()["tokens_issued"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
