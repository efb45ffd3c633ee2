"""The outbox sender against the real sandbox over loopback HTTP."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from timeback_progress.gradebook import corrections
from timeback_progress.models import Delivery, Result
from timeback_progress.outbox import outcome, sending, writing
from tests.plugins.factories import complete, make_activity, make_student

pytestmark = pytest.mark.django_db


def expected_ids():
    return set(Delivery.objects.filter(kind="caliper_event").values_list("key", flat=True))


def make_attempts(course, n=6, activities=2):
    acts = [make_activity(course) for _ in range(activities)]
    for i in range(n):
        complete(make_student(), acts[i % activities], total=10, correct=8 + i % 3)


def test_disabled_sync_sends_nothing(sandbox, settings, course):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": False}
    make_attempts(course, 2)
    assert sending.deliver_due().handled == 0
    assert Delivery.objects.filter(status="pending").count() == Delivery.objects.count() > 0
    assert sandbox.state.snapshot_stats()["received"] == 0
    with pytest.raises(CommandError, match="disabled"):
        call_command("timeback_sync")


@pytest.fixture
def live(sandbox, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True, "BACKOFF_BASE_SECONDS": 0.0}
    return sandbox


def test_everything_reaches_timeback(live, course):
    make_attempts(course, 6)
    summary = sending.deliver_due()
    assert summary.dead == 0 and summary.retrying == 0
    assert set(live.state.events) == expected_ids()
    assert set(live.state.results) == set(Result.objects.values_list("sourced_id", flat=True))
    assert len(live.state.line_items) == 2
    assert not Delivery.objects.exclude(status="sent").exists()
    # results carry the XP in metadata, as Timeback expects
    result = Result.objects.first()
    assert live.state.results[result.sourced_id]["metadata"]["xp"] == result.metadata["xp"]


def test_batches_events_into_envelopes(live, course, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "BATCH_SIZE": 5}
    make_attempts(course, 10)
    sending.deliver_due()
    sizes = [e["events"] for e in live.state.envelopes]
    assert sum(sizes) == 20 and max(sizes) == 5


def test_a_second_run_sends_nothing_again(live, course):
    make_attempts(course, 3)
    sending.deliver_due()
    assert sending.deliver_due().handled == 0
    assert live.state.snapshot_stats()["duplicates"] == 0
    assert live.state.snapshot_stats()["events_stored"] == 6


def test_retriable_failures_back_off_then_land(live, course):
    make_attempts(course, 4)
    live.state.faults.update({"queue": [{"status": 503, "retry_after": 0}] * 3, "retry_after": 0})
    first = sending.deliver_due()
    assert first.retrying > 0 and first.dead == 0
    retrying = Delivery.objects.filter(status="retrying")
    assert all(r.attempts == 1 and "503" in r.last_error for r in retrying)
    # A 503 at the token endpoint stops a whole run (sending.py), so the queue may take up to three.
    for _run in range(3):
        Delivery.objects.filter(status="retrying").update(next_attempt_at=timezone.now())
        sending.deliver_due()
    assert set(live.state.events) == expected_ids()
    assert not Delivery.objects.exclude(status="sent").exists()


def test_retry_after_is_honoured(live, course):
    make_attempts(course, 1)
    live.state.faults.update({"queue": [{"status": 429, "retry_after": 120, "endpoint": "caliper"}]})
    sending.deliver_due()
    rows = Delivery.objects.filter(kind="caliper_event")
    assert rows and all(r.status == "retrying" for r in rows)
    assert all(r.next_attempt_at >= timezone.now() + timedelta(seconds=110) for r in rows)


def test_one_bad_event_never_blocks_its_batch(live, course):
    make_attempts(course, 5)
    bad = Delivery.objects.filter(kind="caliper_event").first()
    bad.payload["actor"]["email"] = "not-an-email"  # (a missing one is held, not sent: test_held)
    bad.save()
    summary = sending.deliver_due()
    bad.refresh_from_db()
    assert bad.status == "dead" and "email" in bad.last_error
    assert summary.dead == 1
    assert set(live.state.events) == expected_ids() - {bad.key}
    assert Delivery.objects.filter(status="sent").count() == Delivery.objects.count() - 1


def test_max_attempts_then_dead_and_replay(live, course, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "MAX_ATTEMPTS": 2}
    make_attempts(course, 1)
    live.state.faults.update({"fail_rate": 1.0})
    for _ in range(4):  # the result waits on its line item until that one is dead
        sending.deliver_due()
        Delivery.objects.filter(status__in=["retrying", "pending"]).update(next_attempt_at=timezone.now())
    assert Delivery.objects.filter(status="dead").count() == Delivery.objects.count()
    assert "gave up after 2 attempts" in Delivery.objects.first().last_error
    with pytest.raises(CommandError, match="dead"):
        call_command("timeback_sync")
    live.state.faults.update({"fail_rate": 0.0})
    call_command("timeback_replay", kind="caliper_event")
    assert Delivery.objects.filter(status="pending", attempts=0).count() == 2
    call_command("timeback_replay", ids=[Delivery.objects.get(kind="line_item").id])
    assert Delivery.objects.filter(status="dead").count() == 1
    call_command("timeback_replay", since="2000-01-01")
    call_command("timeback_sync")
    assert set(live.state.events) == expected_ids()


def test_results_wait_for_their_line_item(live, course):
    make_attempts(course, 2, activities=1)
    line_item = Delivery.objects.get(kind="line_item")
    line_item.status = "retrying"
    line_item.next_attempt_at = timezone.now() + timedelta(hours=1)
    line_item.save()
    summary = sending.deliver_due()
    assert summary.deferred == 2 and not live.state.results
    Delivery.objects.filter(kind="line_item").update(next_attempt_at=timezone.now())
    Delivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())
    sending.deliver_due()
    assert len(live.state.results) == 2


def test_expired_lease_is_reclaimed(live, course):
    make_attempts(course, 1)
    rows = sending.claim(100)  # a worker claims, then dies
    assert rows and sending.deliver_due().handled == 0
    Delivery.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
    assert sending.deliver_due().sent == len(rows)


def test_correction_resends_result_and_xp_difference(live, course, django_user_model):
    activity = make_activity(course)
    attempt = complete(make_student(), activity, total=10, correct=8)
    sending.deliver_due()
    result = Result.objects.get(attempt=attempt)
    corrections.correct_result(result, user=django_user_model.objects.create(username="a"), reason="typo", correct_questions=10)
    sending.deliver_due()
    assert live.state.results[result.sourced_id]["metadata"]["xp"] == 12.5
    xp = sorted(
        i["value"] for e in live.state.events.values() if e["type"] == "ActivityEvent"
        for i in e["generated"]["items"] if i["type"] == "xpEarned"
    )
    assert xp == [2.5, 10]  # the original event, then the difference


def test_resync_while_sending_is_not_lost(live, course):
    activity = make_activity(course)
    attempt = complete(make_student(), activity)
    result = Result.objects.get(attempt=attempt)
    rows = sending.claim(100)
    writing.enqueue_result(result)  # a correction lands while the first send is in flight
    assert Delivery.objects.filter(kind="result", status="pending").count() == 1
    from timeback_progress.timeback.client import get_client

    sending.send_rows(rows, get_client())
    assert sending.deliver_due().sent == 1
    assert Delivery.objects.filter(kind="result", status="sent").count() == 2


@pytest.mark.django_db(transaction=True)  # sender threads use their own connections: data must be committed
def test_sender_threads_leave_no_database_connections(live, course, settings):
    """A token renewed inside a sender thread (after a 401) must not leak that thread's connection."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("counts server-side connections")
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TOKEN_CACHE_ALIAS": "default"}  # a database cache

    def backends():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cursor.fetchone()[0]

    before = backends()
    for _ in range(3):
        make_attempts(course, 4)
        live.state.expire_tokens()  # every request's first try gets a 401 -> renewal in the threads
        assert sending.deliver_due().dead == 0
    assert backends() <= before + 1


def test_purge_keeps_recent_and_unsent_rows(course):
    from timeback_progress.outbox import tasks

    make_attempts(course, 2)
    old = timezone.now() - timedelta(days=40)
    Delivery.objects.filter(kind="caliper_event").update(status="sent", updated_at=old)
    Delivery.objects.filter(kind="line_item").update(status="dead", updated_at=old)
    unsent = Delivery.objects.exclude(kind="caliper_event").count()
    assert tasks.purge_old_rows()["deliveries"] == 4
    assert Delivery.objects.count() == unsent  # dead and pending rows stay, whatever their age


def test_schedules_are_installed_by_migrate(db):
    from django_q.models import Schedule

    from timeback_progress.outbox import tasks

    names = set(Schedule.objects.values_list("name", flat=True))
    assert {tasks.SWEEP_SCHEDULE_NAME, tasks.PURGE_SCHEDULE_NAME} <= names


def test_schedules_and_the_kick_name_tasks_that_exist(db):
    """django-q2 resolves these strings only in the worker: a wrong one fails there, silently here."""
    import pydoc

    from django_q.models import Schedule

    from timeback_progress.outbox import kick, tasks

    paths = {kick.DELIVER_TASK, *Schedule.objects.filter(name__startswith="timeback_progress").values_list("func", flat=True)}
    assert paths == {"timeback_progress.outbox.tasks.deliver_due", "timeback_progress.outbox.tasks.purge_old_rows"}
    assert {pydoc.locate(path) for path in paths} == {tasks.deliver_due, tasks.purge_old_rows}


def test_ensure_schedule_moves_schedules_stored_under_the_old_task_paths(db):
    from django_q.models import Schedule

    from timeback_progress.outbox import tasks

    Schedule.objects.filter(name=tasks.SWEEP_SCHEDULE_NAME).update(func="timeback_progress.tasks.deliver_due")
    Schedule.objects.filter(name=tasks.PURGE_SCHEDULE_NAME).update(func="timeback_progress.tasks.purge_old_rows")
    host = Schedule.objects.create(name="host: extra sweep", func="timeback_progress.tasks.deliver_due", schedule_type=Schedule.HOURLY)
    tasks.ensure_schedule()
    assert Schedule.objects.get(name=tasks.SWEEP_SCHEDULE_NAME).func == "timeback_progress.outbox.tasks.deliver_due"
    assert Schedule.objects.get(name=tasks.PURGE_SCHEDULE_NAME).func == "timeback_progress.outbox.tasks.purge_old_rows"
    host.refresh_from_db()
    assert host.func == "timeback_progress.outbox.tasks.deliver_due" and host.schedule_type == Schedule.HOURLY
    assert Schedule.objects.filter(name__startswith="timeback_progress").count() == 2  # updated, not duplicated


def test_waiting_and_due_rows(db):
    now = timezone.now()
    past, future = now - timedelta(seconds=1), now + timedelta(minutes=5)
    for key, status, when, lease in [
        ("pending-due", "pending", past, None),
        ("pending-later", "pending", future, None),
        ("retrying-due", "retrying", past, None),
        ("retrying-later", "retrying", future, None),
        ("sending-expired", "sending", past, past),
        ("sending-leased", "sending", past, future),
        ("sent", "sent", past, None),
        ("dead", "dead", past, None),
        ("superseded", "superseded", past, None),
    ]:
        Delivery.objects.create(kind="result", key=key, status=status, next_attempt_at=when, leased_until=lease)

    def keys(queryset):
        return set(queryset.values_list("key", flat=True))

    assert keys(Delivery.objects.waiting()) == {"pending-due", "pending-later", "retrying-due", "retrying-later"}
    assert keys(Delivery.objects.due(now)) == {"pending-due", "retrying-due", "sending-expired"}
    assert keys(Delivery.objects.due(now + timedelta(minutes=10))) == {
        "pending-due", "pending-later", "retrying-due", "retrying-later", "sending-expired", "sending-leased"
    }


def test_the_one_waiting_row_per_key_constraint_names_the_waiting_states():
    from django.db.models import Q

    (constraint,) = Delivery._meta.constraints
    assert constraint.condition == Q(status__in=[str(state) for state in Delivery.WAITING])


def test_replay_works_in_chunks_and_skips_keys_already_waiting(course):
    from timeback_progress.outbox.replay import replay

    make_attempts(course, 3)
    Delivery.objects.update(status="dead", attempts=5)
    waiting_key = Delivery.objects.filter(kind="result").first().key
    Delivery.objects.create(kind="result", key=waiting_key)  # a newer re-sync already waits
    dead = Delivery.objects.filter(status="dead")
    total = dead.count()
    moved, skipped = replay(dead, chunk=2)
    assert (moved, skipped) == (total - 1, 1)
    assert not Delivery.objects.filter(status="pending", attempts__gt=0).exists()


def test_editing_an_activity_resends_its_line_item(course):
    activity = make_activity(course)
    activity.name = "Renamed before any result"
    activity.save()
    assert not Delivery.objects.filter(kind="line_item").exists()  # nothing in Timeback yet: nothing to fix
    complete(make_student(), activity)
    Delivery.objects.update(status="sent")
    activity.refresh_from_db()
    activity.name = "Fractions, revised"
    activity.save()
    assert Delivery.objects.filter(kind="line_item", status="pending").count() == 1


@pytest.mark.parametrize("put_creates", [False, True], ids=["put-404-then-post", "put-creates"])
def test_upserts_land_once_whichever_way_the_server_treats_put(live, course, put_creates, django_user_model):
    """New results are created, re-syncs replace them, and results the server lost are re-created."""
    live.state.faults.update({"put_creates": put_creates})
    make_attempts(course, 4)
    assert sending.deliver_due().dead == 0
    results = list(Result.objects.order_by("pk"))
    # A correction re-sends one result (PUT to its sourcedId)...
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    corrections.correct_result(results[0], user=admin, reason="regrade", score=50)
    # ...and one the server no longer has must come back under the same sourcedId.
    with live.state.lock:
        del live.state.results[results[1].sourced_id]
    writing.enqueue_result(results[1])
    assert sending.deliver_due().dead == 0
    stored = live.state.results
    assert set(stored) == {r.sourced_id for r in results}  # no second record under another id
    assert stored[results[0].sourced_id]["score"] == 50
    assert stored[results[1].sourced_id]["metadata"]["xp"] == results[1].metadata["xp"]
    gradebook = live.state.snapshot_stats()["endpoints"]["gradebook"]
    assert gradebook.get("not_found", 0) == (0 if put_creates else 1)  # the lost one: PUT 404, then POST


def test_resaving_a_sent_attempt_queues_nothing_again(live, course):
    """While rows wait, a re-queue folds into them unseen; once they are sent it would be a new row."""
    from timeback_progress.models import Attempt

    attempt = complete(make_student(), make_activity(course), total=10, correct=9)
    assert sending.deliver_due().sent == Delivery.objects.count() == 4
    rows = list(Delivery.objects.order_by("pk").values())
    requests = live.state.snapshot_stats()["received"]
    attempt.save()  # the instance host code holds
    Attempt.objects.get(pk=attempt.pk).save()  # a fresh one, as the admin saves it
    assert list(Delivery.objects.order_by("pk").values()) == rows
    assert sending.deliver_due().handled == 0
    assert live.state.snapshot_stats()["received"] == requests


@pytest.mark.parametrize("fault", [{"status": 503}, {"status": 429, "retry_after": 0}, {"drop": True}],
                         ids=["503", "429", "dropped"])
def test_a_caliper_error_is_never_recorded_as_sent(live, course, fault, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "BACKOFF_BASE_SECONDS": 60.0}  # no retry in this run
    make_attempts(course, 2)
    live.state.faults.update({"queue": [{**fault, "endpoint": "caliper"}]})
    summary = sending.deliver_due()
    events = Delivery.objects.filter(kind="caliper_event")
    assert not live.state.events
    assert set(events.values_list("status", flat=True)) == {"retrying"}
    assert summary.retrying == events.count() == 4 and summary.sent == Delivery.objects.count() - 4
    Delivery.objects.filter(status="retrying").update(next_attempt_at=timezone.now())
    assert sending.deliver_due().sent == 4 and set(live.state.events) == expected_ids()


def backoff_limits(attempts, base, cap):
    """Full jitter above half: the n-th retry waits between d/2 and d, d = min(cap, base * 2**(n-1))."""
    ceiling = min(cap, base * 2 ** (attempts - 1))
    return ceiling / 2, ceiling


def test_backoff_doubles_up_to_the_cap(settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "BACKOFF_BASE_SECONDS": 2.0, "BACKOFF_MAX_SECONDS": 60.0}
    samples = {n: [outcome.backoff(n) for _ in range(200)] for n in range(1, 13)}
    for n, waits in samples.items():
        low, high = backoff_limits(n, 2.0, 60.0)
        assert low <= min(waits) and max(waits) <= high, (n, min(waits), max(waits))
    # Growth: until the cap, every wait of a retry is at least every wait of the one before.
    for n in range(1, 5):  # ceilings 2, 4, 8, 16, 32, then 60
        assert max(samples[n]) <= min(samples[n + 1])
    assert min(samples[6]) >= 30 and max(w for n in range(6, 13) for w in samples[n]) <= 60
    # Retry-After is honoured, but never beyond the cap.
    assert 30 <= outcome.backoff(1, retry_after=30) <= 60
    assert outcome.backoff(1, retry_after=86_400) == 60


def test_failed_rows_wait_longer_after_each_try_up_to_the_cap(live, course, settings):
    """The same growth through the sender: each failure records the row's next try further out."""
    settings.TIMEBACK_PROGRESS = {
        **settings.TIMEBACK_PROGRESS, "BACKOFF_BASE_SECONDS": 10.0, "BACKOFF_MAX_SECONDS": 100.0, "MAX_ATTEMPTS": 20,
    }
    make_attempts(course, 1)
    live.state.faults.update({"fail_rate": 1.0})
    waits = []
    for attempt in range(1, 8):
        started = timezone.now()
        sending.deliver_due()
        row = Delivery.objects.get(kind="line_item")
        assert (row.status, row.attempts) == ("retrying", attempt)
        wait = (row.next_attempt_at - started).total_seconds()
        low, high = backoff_limits(attempt, 10.0, 100.0)
        assert low <= wait <= high + 5, (attempt, wait)
        waits.append(wait)
        Delivery.objects.filter(status__in=["retrying", "pending"]).update(next_attempt_at=timezone.now())
    assert waits[3] >= 40 and min(waits[4:]) >= 50 and max(waits) <= 105  # 10, 20, 40, 80, then 100


def test_a_commit_that_writes_rows_asks_a_worker_to_deliver_them(live, course, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    """The fast path without a cluster: the commit queues the delivery task, and that task delivers."""
    from django.utils.module_loading import import_string
    from django_q import tasks as q_tasks

    from timeback_progress.outbox import kick

    queued = []
    monkeypatch.setattr(q_tasks, "async_task", lambda func, *args, **kwargs: queued.append(func) or "task-id")
    monkeypatch.setattr(kick, "_last_kick", [0.0])  # no debounce left over from an earlier test
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        make_attempts(course, 2)
        assert not queued  # nothing before the commit
    assert callbacks and queued == ["timeback_progress.outbox.tasks.deliver_due"]  # one task for the burst
    assert not live.state.events
    import_string(queued[0])()  # what the worker runs
    assert set(live.state.events) == expected_ids()
    assert not Delivery.objects.exclude(status="sent").exists()


def test_a_retried_new_record_is_posted_again_not_put_first(live, course):
    """A record Timeback has never acknowledged is POSTed on every try (409 -> PUT if an
    earlier try did create it): a PUT first would only earn a 404 and a second request."""
    make_attempts(course, 2)
    live.state.faults.update({"queue": [{"status": 503, "retry_after": 0, "endpoint": "gradebook"}] * 3})
    for _run in range(3):
        Delivery.objects.filter(status="retrying").update(next_attempt_at=timezone.now())
        sending.deliver_due()
    assert not Delivery.objects.exclude(status="sent").exists()
    assert Delivery.objects.filter(kind__in=["line_item", "result"], attempts__gt=1).exists()  # retried
    assert live.state.snapshot_stats()["endpoints"]["gradebook"].get("not_found", 0) == 0
