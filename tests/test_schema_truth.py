"""The served schema tells the truth: schemathesis with every check finds nothing.

schemathesis (``st run``, all checks) runs against ``/api/schema/`` as the live
test server serves it, once signed in as a service account and once as a
student, with a bounded number of examples per operation; a failure is a place
where the schema and the server disagree (or a 500). A client built from the
schema alone (``test_schema_truth_client``) then starts, times and completes an
attempt.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

MAX_EXAMPLES = int(os.environ.get("SCHEMA_TRUTH_MAX_EXAMPLES", "10"))
SCHEMATHESIS = Path(sys.executable).with_name("st")

pytestmark = pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is in the test extra")


def token_for(user):
    return Token.objects.get_or_create(user=user)[0].key


def run_schemathesis(base_url, token, tmp_path):
    """``st run --checks all`` as ``token``'s user: (exit code, output, JSON report)."""
    report = tmp_path / "report.json"
    command = [
        str(SCHEMATHESIS), "run", f"{base_url}/api/schema/?format=json",
        "--url", base_url,
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", "17",
        "--header", f"Authorization: Token {token}",
        "--report-json-path", str(report),
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.schema_truth_hooks"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    data = json.loads(report.read_text()) if report.exists() else {}
    return done.returncode, done.stdout + done.stderr, data


def unexplained_failures(output):
    """Every failure block of ``st run``'s output: the schema and the server must agree on all."""
    blocks = re.split(r"\n(?=- ST\d{3} )", output)
    return [block[:1500] for block in blocks[1:]]


@pytest.mark.parametrize("who", ["service", "ann"])
def test_schemathesis_finds_no_failure(api_world, live_server, tmp_path, who):
    user = api_world.service if who == "service" else api_world.ann.user
    code, output, report = run_schemathesis(live_server.url, token_for(user), tmp_path)
    summary = output[output.find("SUMMARY"):]
    print(summary)  # how many cases ran, per phase
    assert "Test cases:" in summary, output[-4000:]
    assert "5xx" not in re.findall(r"ST\d{3}[^\n]*", output) and "Server error" not in output
    assert unexplained_failures(output) == [], output[-6000:]


def test_anonymous_api_call_is_a_401_with_a_challenge(client_for, db):
    response = client_for(None).get("/api/v1/attempts/1/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"


def test_schema_needs_sign_in_unless_public(client_for, api_world, settings):
    assert client_for(None).get("/api/schema/").status_code == 401
    assert client_for(None).get("/api/docs/").status_code == 401
    assert client_for(api_world.ann.user).get("/api/schema/").status_code == 200
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "API_SCHEMA_PUBLIC": True}
    assert client_for(None).get("/api/schema/").status_code == 200


def test_schema_states_the_rules(client_for, api_world):
    schema = client_for(api_world.ann.user).get("/api/schema/", {"format": "json"}).json()
    parts = schema["components"]["schemas"]
    assert parts["Complete"]["properties"]["correctQuestions"]["type"] == "number"
    assert parts["Attempt"]["properties"]["completedAt"]["nullable"] is True
    assert parts["StartAttempt"]["properties"]["studentSourcedId"]["minLength"] == 1
    assert parts["RecordBatch"]["properties"]["items"]["minItems"] == 1
    key = next(p for p in schema["paths"]["/api/v1/attempts/"]["post"]["parameters"] if p["name"] == "Idempotency-Key")
    assert key["schema"]["maxLength"] == 255 and "pattern" in key["schema"]
    assert not any("description" in part for name, part in parts.items() if name != "ScoreStatusEnum")


# -- a client that knows only the schema ---------------------------------------------


class SchemaClient:
    """Calls operations by ``operationId`` using only what ``/api/schema/`` says.

    Paths, methods, the authentication header, the Idempotency-Key header and
    the shape of bodies and answers all come from the document; each request
    body and each answer is validated against the operation's schemas (OpenAPI
    3.0's ``nullable`` read as JSON Schema's null type).
    """

    def __init__(self, base_url, token):
        import requests

        self.base_url, self.session = base_url, requests.Session()
        schema = self.session.get(f"{base_url}/api/schema/?format=json", headers={"Authorization": f"Token {token}"})
        assert schema.status_code == 200, schema.text
        self.document = schema.json()
        scheme = next(s for s in self.document["components"]["securitySchemes"].values()
                      if s["type"] == "apiKey" and s["in"] == "header")
        prefix = re.search(r'prefix "(\w+)"', scheme["description"]).group(1)
        self.session.headers[scheme["name"]] = f"{prefix} {token}"
        self.operations = {
            op["operationId"]: (path, method, op)
            for path, methods in self.document["paths"].items() for method, op in methods.items()
        }

    def resolve(self, schema):
        while "$ref" in schema:
            node = self.document
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def json_schema(self, schema):
        """OpenAPI 3.0 schema -> JSON Schema: refs inlined, ``nullable`` as a null type."""
        schema = dict(self.resolve(schema))
        if schema.pop("nullable", False) and "type" in schema:
            schema["type"] = [schema["type"], "null"]
        for key in ("properties",):
            if key in schema:
                schema[key] = {name: self.json_schema(sub) for name, sub in schema[key].items()}
        if "items" in schema:
            schema["items"] = self.json_schema(schema["items"])
        for key in ("allOf", "anyOf", "oneOf"):
            if key in schema:
                schema[key] = [self.json_schema(sub) for sub in schema[key]]
        for key in ("exclusiveMaximum", "exclusiveMinimum"):  # 3.0 booleans
            if schema.get(key) is True:
                schema[key] = schema.pop(key[len("exclusive"):].lower())
            elif schema.get(key) is False:
                del schema[key]
        return schema

    def call(self, operation_id, body=None, **path_values):
        import jsonschema

        path, method, op = self.operations[operation_id]
        url = self.base_url + re.sub(r"\{(\w+)\}", lambda m: str(path_values[m.group(1)]), path)
        headers = {}
        for parameter in op.get("parameters", []):
            if parameter["in"] == "header" and parameter["name"] == "Idempotency-Key":
                headers["Idempotency-Key"] = f"schema-client-{operation_id}-{len(path_values)}"
        if body is not None:
            request_schema = op["requestBody"]["content"]["application/json"]["schema"]
            jsonschema.validate(body, self.json_schema(request_schema))
        response = self.session.request(method.upper(), url, json=body, headers=headers)
        documented = op["responses"].get(str(response.status_code))
        assert documented is not None, (operation_id, response.status_code, response.text)
        answer = response.json()
        jsonschema.validate(answer, self.json_schema(documented["content"]["application/json"]["schema"]))
        return response.status_code, answer


def test_a_client_built_from_the_schema_starts_times_and_completes(api_world, live_server):
    from timeback_progress.models import Attempt

    ann = api_world.ann
    client = SchemaClient(live_server.url, token_for(ann.user))
    status, attempt = client.call(
        "v1_attempts_create", {"studentSourcedId": ann.sourced_id, "activityId": api_world.quiz.activity_id}
    )
    assert status == 201 and attempt["completedAt"] is None
    status, timed = client.call("v1_attempts_time_create", {"activeSeconds": 60, "inactiveSeconds": 5}, id=attempt["id"])
    assert status == 200 and (timed["activeSeconds"], timed["inactiveSeconds"]) == (60, 5)
    status, done = client.call(
        "v1_attempts_complete_create", {"totalQuestions": 10, "correctQuestions": 9, "activeSeconds": 30}, id=attempt["id"]
    )
    assert status == 200 and done["attempt"] == 1 and done["accuracy"] == 90.0
    status, read = client.call("v1_attempts_retrieve", id=attempt["id"])
    assert status == 200 and read == done
    stored = Attempt.objects.get(pk=attempt["id"])
    assert (stored.active_seconds, stored.inactive_seconds, float(stored.xp_earned)) == (90, 5, done["xpEarned"])
    assert done["xpEarned"] > 0
