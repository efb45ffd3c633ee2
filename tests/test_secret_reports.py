"""Django's error reports never show a credential (issue 17).

With ``DEBUG`` off, an unhandled error still produces a report with every
frame's local variables: the HTML error email (``AdminEmailHandler`` with
``include_html``), its text version, and what error trackers collect the same
way. Every function whose locals hold the client secret or a token is
``sensitive_variables`` (conf, client, auth, errors, redaction, checks), so
the reports show ``********************`` instead. Each case here breaks the
client at a different depth and renders the report four ways.
"""

import sys

import pytest
import requests
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from timeback_progress.timeback.client import TimebackClient, get_client
from tests.plugins.echo import HOSTILE_SECRET as SECRET, HOSTILE_TOKEN as TOKEN, leaks
from tests.plugins.sandbox import TOKEN_CACHE

CLEANSED = "********************"


def reports():
    """The report of the exception being handled, as the 500 page, the email and their text versions render it."""
    request = RequestFactory().get("/progress/")
    exc_info = sys.exc_info()
    page = ExceptionReporter(request, *exc_info)
    email = ExceptionReporter(request, *exc_info, is_email=True)
    return {
        "html": page.get_traceback_html(), "text": page.get_traceback_text(),
        "email html": email.get_traceback_html(), "email text": email.get_traceback_text(),
    }


def report_of(call):
    """Run ``call``, which must fail, and return the reports of its failure (no credential in this frame)."""
    try:
        call()
    except Exception:
        return reports()
    raise AssertionError("expected the call to fail")


def _fail_sending(monkeypatch):
    """The transport fails deep inside ``requests``, in a frame holding what was about to be sent."""

    def send(self, request, **kwargs):
        body, headers = request.body, dict(request.headers)  # noqa: F841 - locals as urllib3's would hold them
        raise RuntimeError("the transport broke")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)


def _break_token_cache(monkeypatch):
    def set(self, key, value, *args, **kwargs):  # noqa: A001 - the cache's own name
        raise RuntimeError("the cache is down")

    monkeypatch.setattr(type(caches[TOKEN_CACHE]), "set", set)


def _issue_token_then_fail_sending(echo, monkeypatch):
    get_client().auth.get_token()  # a token in hand: the failure is in an API call under it
    _fail_sending(monkeypatch)


# name: (settings to set, preparation(echo, monkeypatch), what fails, text the report must show)
CASES = {
    "mistyped READ_TIMEOUT": ({"READ_TIMEOUT": "abc"}, None, get_client, "READ_TIMEOUT"),
    "mistyped CONNECT_TIMEOUT": ({"CONNECT_TIMEOUT": None}, None, get_client, "CONNECT_TIMEOUT"),
    "mistyped TOKEN_REFRESH_MARGIN": ({"TOKEN_REFRESH_MARGIN": "sixty"}, None, get_client, "TOKEN_REFRESH_MARGIN"),
    "mistyped READ_TIMEOUT, the client built directly": ({"READ_TIMEOUT": "abc"}, None, TimebackClient, "READ_TIMEOUT"),
    "transport failure on the token request": (
        {}, lambda echo, mp: _fail_sending(mp), lambda: get_client().get_result("r-1"), "the transport broke"),
    "transport failure on an API request": (
        {}, _issue_token_then_fail_sending, lambda: get_client().get_result("r-1"), "the transport broke"),
    "cache failure storing the token": (
        {}, lambda echo, mp: _break_token_cache(mp), lambda: get_client().get_result("r-1"), "the cache is down"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_error_reports_show_no_credential(echo_factory, settings, monkeypatch, case):
    overrides, prepare, call, shown = CASES[case]
    settings.DEBUG = False
    echo = echo_factory(secret=SECRET, token=TOKEN, **overrides)
    if prepare:
        prepare(echo, monkeypatch)
    texts = report_of(call)
    for name, text in texts.items():
        assert shown in text and "timeback/client.py" in text, name  # the report is about this failure, frames and all
        assert CLEANSED in text, name  # local variables were shown, the sensitive ones blanked
    assert not leaks(texts, SECRET, TOKEN)


def test_a_mistyped_timeout_is_refused_with_a_sentence(echo_factory):
    echo_factory(secret=SECRET, READ_TIMEOUT="abc")
    with pytest.raises(ImproperlyConfigured, match=r"READ_TIMEOUT'\] must be a number of seconds > 0, not 'abc'"):
        get_client()


@pytest.mark.django_db
def test_a_secret_in_a_number_setting_stays_out_of_check_and_sync_output(echo_factory):
    """An environment variable pasted into the wrong setting: ``check`` and ``timeback_sync`` name it, never show it."""
    echo_factory(secret=SECRET, READ_TIMEOUT=SECRET, SYNC_ENABLED=True)
    with pytest.raises(SystemCheckError) as check:
        call_command("check", tags=["compatibility"])  # the app's checks (Django 6's model checks query every database)
    from tests.plugins.factories import complete, make_activity, make_student

    complete(make_student(), make_activity())
    with pytest.raises(CommandError) as sync:
        call_command("timeback_sync")
    texts = {"check": str(check.value), "timeback_sync": str(sync.value)}
    assert "timeback_progress.E010" in texts["check"] and "READ_TIMEOUT" in texts["timeback_sync"]
    assert not leaks(texts, SECRET)
