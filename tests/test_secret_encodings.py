"""0 secrets in any text that is stored or shown, whatever encoding a server echoes them in (issue 17).

The echo server (tests/plugins/echo.py) plays a Timeback that repeats the
client secret and the bearer token in its errors, in one encoding per test,
in four scenarios: the token endpoint refusing the credentials, the API
failing (per-event messages, 503s), the API refusing the token, and a
mistyped ``TOKEN_PATH`` answered by a 404 page that quotes the request. After
a ``timeback_sync`` run every surface is searched for every encoding of both
credentials: the outbox rows, the admin's delivery pages (HTML), the
command's output and its error, the captured logs, and the client's errors
(``str``, ``repr``, per-item errors).

The secret holds characters every encoding changes: + / = % & " \\, a space,
an accented letter and one beyond the BMP (a JSON surrogate pair).
"""

import base64
import json
import logging
from io import StringIO
from urllib.parse import parse_qs, quote_plus

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from timeback_progress.models import Delivery
from timeback_progress.timeback import errors
from timeback_progress.timeback.client import get_client
from tests.plugins.echo import CLIENT_ID, ENCODINGS, HOSTILE_SECRET as SECRET, HOSTILE_TOKEN as TOKEN, leaks
from tests.plugins.factories import complete, make_activity, make_student

pytestmark = pytest.mark.django_db

def _sent_secret(body):
    return parse_qs(body.decode())["client_secret"][0]


# -- scenarios: what the echo server answers, given the encoding ----------------


def token_refused(server, encode):
    """The token endpoint refuses the credentials, repeating the secret it got."""
    server.token_status = 401
    server.token_echo = lambda body: ("application/json", json.dumps(
        {"error": "invalid_client", "error_description": f"no client with secret {encode(_sent_secret(body))}"}))


def _credentials(handler, encode):
    token = (handler.headers.get("Authorization") or "").partition(" ")[2]
    return f"token {encode(token)} of the client with secret {encode(SECRET)}"


def api_failing(server, encode):
    """Caliper: a 400 naming every event, each message repeating the credentials; the gradebook: 503 in plain text."""

    def answer(handler):
        said = _credentials(handler, encode)
        if "caliper" in handler.path:
            count = len(json.loads(handler.body).get("data") or [])
            items = [{"index": i, "message": f"event {i} refused: {said}"} for i in range(count)]
            return 400, "application/json", json.dumps({"message": f"refused: {said}", "errors": items})
        return 503, "text/plain", f"overloaded, {said}"

    server.api_answer = answer


def api_unauthorized(server, encode):
    """Every API call answers 401, repeating the token and the secret: the renewed token fails too."""
    server.api_answer = lambda handler: (401, "application/json", json.dumps(
        {"error": "invalid_token", "message": f"unknown {_credentials(handler, encode)}"}))


def token_path_mistyped(server, encode):
    """TOKEN_PATH points at a page that does not exist, and its 404 quotes the request (the form body)."""
    server.api_answer = lambda handler: (404, "text/html", (
        f"<h1>Not Found</h1><p>{handler.command} {handler.path} with body {encode(handler.body.decode())}</p>"))


SCENARIOS = {
    "token-refused": (token_refused, {}),
    "api-failing": (api_failing, {}),
    "api-unauthorized": (api_unauthorized, {}),
    "token-path-mistyped": (token_path_mistyped, {"TOKEN_PATH": "/oauth2/tokn"}),
}


# -- every surface ------------------------------------------------------------


def sync_output():
    out, err = StringIO(), StringIO()
    try:
        call_command("timeback_sync", stdout=out, stderr=err)
        failure = ""
    except CommandError as exc:
        failure = str(exc)
    return out.getvalue() + err.getvalue() + failure


def admin_pages(admin_client):
    pages = {"admin list": admin_client.get(reverse("admin:timeback_progress_delivery_changelist")).content.decode()}
    for pk in Delivery.objects.values_list("pk", flat=True):
        url = reverse("admin:timeback_progress_delivery_change", args=[pk])
        pages[f"admin row {pk}"] = admin_client.get(url).content.decode()
    return pages


def client_errors():
    """The client's own errors for a gradebook write and a Caliper send: str, repr and per-item errors."""
    texts = {}
    calls = {
        "put_result": lambda client: client.put_result({"assessmentResult": {"sourcedId": "r-1"}}),
        "send_events": lambda client: client.send_events([{"id": "urn:uuid:1"}]),
    }
    for name, call in calls.items():
        with pytest.raises(errors.TimebackError) as exc:
            call(get_client())
        error = exc.value
        texts[name] = "\n".join([str(error), repr(error), error.message, json.dumps(getattr(error, "errors", []))])
    return texts


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_credential_in_stored_or_shown_text(echo_factory, admin_client, caplog, scenario, encoding):
    caplog.set_level(logging.DEBUG)
    setup, overrides = SCENARIOS[scenario]
    server = echo_factory(secret=SECRET, token=TOKEN, CLIENT_ID=CLIENT_ID, SYNC_ENABLED=True, **overrides)
    setup(server, ENCODINGS[encoding])
    complete(make_student(), make_activity())
    texts = {"command": sync_output(), **admin_pages(admin_client), **client_errors()}
    texts["rows"] = "\n".join(Delivery.objects.values_list("last_error", flat=True))
    texts["log"] = caplog.text
    # The echo reached every surface, blanked: the test is not passing for want of an echo.
    rows = Delivery.objects.values_list("pk", flat=True)
    assert "***" in texts["rows"] and "***" in texts["command"] and "***" in texts["put_result"]
    assert all("***" in texts[f"admin row {pk}"] for pk in rows if Delivery.objects.get(pk=pk).last_error)
    assert not Delivery.objects.filter(status="sent").exists()
    assert not leaks(texts, SECRET, TOKEN)


def test_the_spellings_are_what_the_tests_claim():
    """Each encoding changes the secret (so each test checks something the raw one does not)."""
    forms = [encode(SECRET) for encode in ENCODINGS.values()]
    assert len(set(forms)) == len(forms)
    assert "%2Ba%2Fb%3D" in quote_plus(SECRET) and "\\/" in ENCODINGS["json-slash"](SECRET)
    assert "\\u002b" in ENCODINGS["json-unicode"](SECRET) and "\\ud83d\\udd11" in ENCODINGS["json"](SECRET)
    assert base64.b64decode(ENCODINGS["basic"](SECRET)).decode() == f"{CLIENT_ID}:{SECRET}"
    assert {"+", "/", "="} <= set(ENCODINGS["base64"](SECRET))
