"""A rejected credential stops the run instead of costing a token request per row (issue 17).

Before, with a wrong secret every claim asked for a token up front and every
row asked again (30 token requests for 64 rows in claims of 5). Now one
failed token fetch, or one ``AuthError``, ends the run's sends: the rows go
back to retrying with backoff (not dead, an attempt counted); the client
remembers the refusal for ``REFUSAL_MEMORY_SECONDS`` (or the server's
Retry-After) and asks no sooner. The sandbox counts the token requests.
"""

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from timeback_progress.models import Delivery
from timeback_progress.outbox import sending, tasks
from timeback_progress.timeback import auth
from tests.plugins.factories import complete, make_activity, make_course, make_student

pytestmark = pytest.mark.django_db


def make_rows(students=5, activities=4):
    """Completions enough for several claims: a line item per activity, a result and events per completion."""
    course = make_course()
    acts = [make_activity(course) for _ in range(activities)]
    for _ in range(students):
        student = make_student()
        for act in acts:
            complete(student, act)
    return Delivery.objects.count()


def token_requests(server):
    return server.state.snapshot_stats()["endpoints"].get("token", {}).get("received", 0)


def api_requests(server):
    endpoints = server.state.snapshot_stats()["endpoints"]
    return sum(endpoints.get(name, {}).get("received", 0) for name in ("caliper", "gradebook"))


def due_again():
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def assert_all_retrying_once():
    rows = list(Delivery.objects.all())
    assert {r.status for r in rows} == {"retrying"}
    assert {r.attempts for r in rows} == {1}
    assert all(r.next_attempt_at > timezone.now() for r in rows)


@pytest.fixture
def sync_settings():
    return {"SYNC_ENABLED": True, "CLAIM_SIZE": 5}


def test_a_refused_secret_costs_one_token_request_per_run(sandbox_factory, sync_settings, monkeypatch):
    monkeypatch.setattr(auth, "REFUSAL_MEMORY_SECONDS", 0.5)
    server = sandbox_factory(client_secret="the-secret-the-server-knows", settings_overrides=sync_settings)
    rows = make_rows()
    assert rows >= 60
    summary = sending.deliver_due()
    assert token_requests(server) == 1 and api_requests(server) == 0
    assert summary.retrying == rows and summary.dead == 0 and summary.sent == 0
    assert summary.stopped is not None and summary.stopped.status == 401
    assert_all_retrying_once()
    assert all("credentials rejected" in r.last_error for r in Delivery.objects.all())
    # A run at once after: the refusal is remembered (REFUSAL_MEMORY_SECONDS), no request at all.
    due_again()
    assert sending.deliver_due().retrying == rows and token_requests(server) == 1
    # Once it has passed, the next run asks once more, once.
    time.sleep(0.6)
    due_again()
    sending.deliver_due()
    assert token_requests(server) == 2
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {3}


def test_a_stopped_run_never_claims_a_row_twice(sandbox_factory, sync_settings, monkeypatch):
    """With no backoff at all, rows failed by the stop are due again at once: the run leaves them to the next."""
    monkeypatch.setattr(auth, "REFUSAL_MEMORY_SECONDS", 0)
    sandbox_factory(client_secret="the-secret-the-server-knows", settings_overrides={
        **sync_settings, "BACKOFF_BASE_SECONDS": 0, "MAX_ATTEMPTS": 3})
    rows = make_rows(students=3, activities=2)
    summary = sending.deliver_due()
    assert summary.retrying == rows and summary.dead == 0
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


def test_a_task_run_asks_for_a_token_once_per_refusal_memory(sandbox_factory, sync_settings, monkeypatch):
    """The task drains while retries fall due: with jittered backoffs each pass may take a few rows,
    and each pass would ask for a token (216 token requests for 64 rows in one task run) without the memory."""
    monkeypatch.setattr(auth, "REFUSAL_MEMORY_SECONDS", 3.0)
    server = sandbox_factory(client_secret="the-secret-the-server-knows", settings_overrides={
        **sync_settings, "BACKOFF_BASE_SECONDS": 0.2, "BACKOFF_MAX_SECONDS": 0.4,
        "DRAIN_WAIT_SECONDS": 1.0, "TASK_TIME_BUDGET_SECONDS": 4.0, "MAX_ATTEMPTS": 1000})
    rows = make_rows(students=3, activities=3)
    started = time.monotonic()
    result = tasks.deliver_due()
    elapsed = time.monotonic() - started
    assert result["retrying"] > 3 * rows  # many passes over every row
    assert token_requests(server) <= 1 + elapsed // 3.0 + 1


def test_the_token_endpoint_down_stops_the_run_with_its_retry_after(sandbox_factory, sync_settings):
    server = sandbox_factory(settings_overrides=sync_settings)
    server.state.faults.update({"queue": [{"status": 503, "retry_after": 300, "endpoint": "token"}]})
    make_rows(students=2, activities=2)
    sending.deliver_due()
    assert token_requests(server) == 1 and api_requests(server) == 0
    assert_all_retrying_once()
    assert all(r.next_attempt_at >= timezone.now() + timedelta(seconds=290) for r in Delivery.objects.all())


def test_a_token_the_api_refuses_stops_the_claim(sandbox_factory, sync_settings):
    """Every API call answers 401: the first row renews the token once, fails, and no other row is tried."""
    server = sandbox_factory(settings_overrides={**sync_settings, "SEND_CONCURRENCY": 1})
    refusals = [{"status": 401, "endpoint": endpoint} for endpoint in ("caliper", "gradebook") for _ in range(50)]
    server.state.faults.update({"queue": refusals})
    make_rows(students=2, activities=2)
    summary = sending.deliver_due()
    # One token up front, one renewal after the first 401; the first request and its retry.
    assert token_requests(server) == 2 and api_requests(server) == 2
    assert summary.stopped is not None and summary.dead == 0
    # Results of the first claim whose line item failed wait for it (pending, no attempt used); the rest retry.
    assert set(Delivery.objects.values_list("status", flat=True)) == {"retrying", "pending"}
    assert set(Delivery.objects.filter(status="pending").values_list("kind", flat=True)) == {"result"}


def test_the_rows_go_out_once_the_credentials_are_fixed(sandbox_factory, settings, sync_settings):
    server = sandbox_factory(client_secret="the-secret-the-server-knows", settings_overrides=sync_settings)
    make_rows(students=2, activities=2)
    sending.deliver_due()
    # New settings build a new client: the refusal of the old secret is not remembered for the new one.
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "CLIENT_SECRET": "the-secret-the-server-knows"}
    due_again()
    summary = sending.deliver_due()
    assert summary.stopped is None and summary.sent == Delivery.objects.count()
    assert token_requests(server) == 2


def test_timeback_sync_says_why_it_stopped_and_fails(sandbox_factory, sync_settings):
    sandbox_factory(client_secret="the-secret-the-server-knows", settings_overrides=sync_settings)
    make_rows(students=1, activities=1)
    err = StringIO()
    with pytest.raises(CommandError, match="Sending stopped: .*credentials rejected.*CLIENT_SECRET"):
        call_command("timeback_sync", stdout=StringIO(), stderr=err)
    assert "credentials rejected" in err.getvalue()
