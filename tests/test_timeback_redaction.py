"""A secret a server echoes back in an error body never leaves the client.

A small HTTP server on loopback plays a careless Timeback: its token endpoint
and its API answer errors that repeat what they were sent (the client secret,
the bearer token) in the encodings servers use. Every surface an error reaches
is checked: ``str``, ``repr``, ``message``, the client's log and the outbox
row's ``last_error``.
"""

import base64
import json
import logging
from urllib.parse import parse_qs, quote, quote_plus

import pytest

from timeback_progress.timeback import client as timeback_client
from timeback_progress.timeback import errors
from tests.plugins.echo import ECHO_SECRET as SECRET, ECHO_TOKEN as TOKEN

# The echo server (tests/plugins/echo.py): SECRET has + / =, changed by form encoding and base64.


def _form_secret(body):
    return parse_qs(body.decode())["client_secret"][0]


# How the token endpoint repeats the form it was sent: (content type, body).
TOKEN_ECHOES = {
    # The decoded secret inside a JSON error's message.
    "raw-json-message": lambda body: ("application/json", json.dumps(
        {"error": "invalid_client", "error_description": f"unknown secret {_form_secret(body)}"})),
    # The decoded secret in a plain-text body.
    "raw-text": lambda body: ("text/plain", f"no client with secret {_form_secret(body)}"),
    # The request echoed as JSON with no message key (the whole body becomes the message).
    "json-no-message-key": lambda body: ("application/json", json.dumps({"received": {"client_secret": _form_secret(body)}})),
    # JSON-escaped as PHP or Java servers write it ("\/" for "/"), decoded by the client before redacting.
    "json-escaped-slash": lambda body: ("application/json", json.dumps(
        {"message": f"bad secret {_form_secret(body)}"}).replace("/", "\\/")),
}
# Echoes of the secret as sent on the wire (redacted since issue 17; only the raw secret was before).
LEAKING_TOKEN_ECHOES = {
    # The form body as received: + / = percent-encoded.
    "form-encoded": lambda body: ("text/plain", f"cannot parse {body.decode()}"),
    "form-encoded-in-json": lambda body: ("application/json", json.dumps({"message": f"cannot parse {body.decode()}"})),
    "base64": lambda body: ("text/plain", "credentials " + base64.b64encode(_form_secret(body).encode()).decode()),
    "base64-basic": lambda body: ("text/plain", "Basic " + base64.b64encode(f"cid:{_form_secret(body)}".encode()).decode()),
    # JSON text inside a text body keeps its escapes: "\/" is not "/".
    "json-escaped-in-text": lambda body: ("text/plain", "got " + json.dumps({"s": _form_secret(body)}).replace("/", "\\/")),
}


def forms(secret):
    """The secret as written and as the echoes above encode it."""
    return {
        secret, quote_plus(secret), quote(secret, safe=""), base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"cid:{secret}".encode()).decode(), json.dumps(secret)[1:-1].replace("/", "\\/"),
    }


def leaks(exc, caplog, *secrets):
    """The secrets (in any of their ``forms``) found on any surface the error reaches."""
    surfaces = {"str": str(exc), "repr": repr(exc), "message": exc.message, "log": caplog.text}
    return {(name, form) for name, text in surfaces.items() for s in secrets for form in forms(s) if form in text}


def fetch_token_error(caplog):
    caplog.set_level(logging.DEBUG, logger="timeback_progress")
    with pytest.raises(errors.TimebackError) as exc:
        timeback_client.get_client().get_result("r-1")
    return exc.value


@pytest.mark.parametrize("status", [401, 400, 500])
@pytest.mark.parametrize("echo_name", list(TOKEN_ECHOES))
def test_token_endpoint_echoing_the_secret(echo, caplog, echo_name, status):
    echo.token_echo, echo.token_status = TOKEN_ECHOES[echo_name], status
    error = fetch_token_error(caplog)
    assert error.status == status
    assert "***" in error.message  # the server's message is kept, the secret blanked
    assert not leaks(error, caplog, SECRET)


@pytest.mark.parametrize("echo_name", list(LEAKING_TOKEN_ECHOES))
def test_token_endpoint_echoing_an_encoded_secret(echo, caplog, echo_name):
    echo.token_echo = LEAKING_TOKEN_ECHOES[echo_name]
    assert not leaks(fetch_token_error(caplog), caplog, SECRET)


def _echo_credentials(status):
    """An API answering ``status`` with the bearer token and the secret it may know, as sent."""

    def answer(handler):
        bearer = handler.headers.get("Authorization", "")
        return status, "application/json", json.dumps({"message": f"rejected {bearer} for client secret {SECRET}"})

    return answer


@pytest.mark.parametrize("status, kind", [
    (400, errors.PermanentError), (422, errors.PermanentError), (503, errors.RetriableError), (401, errors.AuthError),
])
def test_api_echoing_the_token_and_secret(echo, caplog, status, kind):
    echo.api_answer = _echo_credentials(status)
    caplog.set_level(logging.DEBUG, logger="timeback_progress")
    with pytest.raises(kind) as exc:
        timeback_client.get_client().put_result({"assessmentResult": {"sourcedId": "r-1"}})
    assert exc.value.status == status and "***" in exc.value.message
    assert not leaks(exc.value, caplog, SECRET, TOKEN)


@pytest.mark.django_db
def test_an_echoed_secret_never_reaches_the_outbox_row(echo, settings, caplog):
    """``last_error`` is shown in the admin: the row keeps the message without the credentials."""
    from tests.plugins.factories import complete, make_activity, make_student
    from timeback_progress.outbox import sending
    from timeback_progress.models import Delivery

    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True}
    complete(make_student(), make_activity())
    echo.api_answer = _echo_credentials(400)
    summary = sending.deliver_due()
    rows = list(Delivery.objects.values_list("kind", "status", "last_error"))
    failed = [(kind, text) for kind, status, text in rows if status == "dead"]
    # The result waits for its line item (which failed): the line item and both events carry the error.
    assert summary.dead == len(failed) == 3 and all("***" in text for _kind, text in failed)
    assert not [text for *_row, text in rows if any(f in text for f in forms(SECRET) | forms(TOKEN))]
    assert not [f for f in forms(SECRET) | forms(TOKEN) if f in caplog.text]
