"""The outbox delivered by real qcluster processes to the sandbox over loopback.

Every test asserts that every expected event id and result reached the
sandbox, that nothing valid went dead, and reports the duplicates the sandbox
counted (at-least-once may resend; ids stay the same).
"""

import os
import subprocess
import sys
import time

import pytest
from django.db import connection, transaction
from django_q.models import OrmQ

from timeback_progress.models import Delivery, Result
from tests.plugins.cluster import ROOT, database_url, wait_for
from tests.plugins.factories import complete, make_activity, make_student

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST_RETRIES = {"BACKOFF_BASE_SECONDS": 0.2, "BACKOFF_MAX_SECONDS": 2.0, "MAX_ATTEMPTS": 60, "LEASE_SECONDS": 5}


def make_backlog(course, students=20, activities=3):
    acts = [make_activity(course) for _ in range(activities)]
    with transaction.atomic():
        for i in range(students):
            student = make_student()
            for j, act in enumerate(acts):
                complete(student, act, total=10, correct=7 + (i + j) % 4)


def expected():
    events = set(Delivery.objects.filter(kind="caliper_event").values_list("key", flat=True))
    results = set(Result.objects.values_list("sourced_id", flat=True))
    return events, results


def all_arrived(sandbox, events, results):
    return events <= set(sandbox.state.events) and results <= set(sandbox.state.results)


def sent_but_not_received(sandbox):
    """Rows recorded as sent whose record the sandbox never got (read first: a row is marked after its answer)."""
    sent = list(Delivery.objects.filter(status="sent").values_list("kind", "key"))
    with sandbox.state.lock:
        received = {
            "caliper_event": set(sandbox.state.events),
            "result": {f"result:{k}" for k in sandbox.state.results},
            "line_item": {f"lineitem:{k}" for k in sandbox.state.line_items},
        }
    return [(kind, key) for kind, key in sent if key not in received[kind]]


def arrived_and_nothing_lost(sandbox, events, results):
    """``all_arrived``, failing at once when a row is recorded as sent that never arrived."""
    lost = sent_but_not_received(sandbox)
    assert not lost, f"{len(lost)} rows recorded as sent never reached the sandbox, e.g. {lost[:3]}"
    return all_arrived(sandbox, events, results)


def report(sandbox):
    """Print what the sandbox saw; returns its Caliper counters."""
    stats = sandbox.state.snapshot_stats()
    caliper = stats["endpoints"].get("caliper", {})
    print(f"sandbox: {stats['events_stored']} events, {stats['results_stored']} results, "
          f"duplicate events {caliper.get('duplicates', 0)}, faults injected {stats['faults']}, "
          f"tokens issued {stats['tokens_issued']}")
    return {**caliper, "faults": stats["faults"]}


@pytest.fixture
def live_sync(settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True, **FAST_RETRIES}


def test_qcluster_delivers_everything_on_commit(sandbox, live_sync, cluster_factory, course):
    cluster = cluster_factory(sandbox, extra=FAST_RETRIES)
    make_backlog(course)  # commits -> on_commit kick -> a task on the ORM broker
    events, results = expected()
    wait_for(lambda: all_arrived(sandbox, events, results), message=f"delivery\n{cluster.output()}")
    wait_for(lambda: not Delivery.objects.exclude(status="sent").exists(), timeout=20, message="rows marked sent")
    report(sandbox)


def test_the_commit_kick_alone_delivers_promptly(sandbox, live_sync, cluster_factory, course):
    """No sweep can run here (its schedule is a day away): only the on-commit kick can deliver."""
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import Schedule

    from timeback_progress.outbox import kick, tasks

    assert Schedule.objects.filter(name=tasks.SWEEP_SCHEDULE_NAME).exists()
    Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))
    cluster = cluster_factory(sandbox, extra=FAST_RETRIES)
    kick._last_kick[0] = 0  # no debounce left over from an earlier test in this process
    make_backlog(course, students=5)  # one commit -> one kick
    events, results = expected()
    wait_for(lambda: arrived_and_nothing_lost(sandbox, events, results), timeout=45, message=f"the kick's delivery\n{cluster.output()}")
    wait_for(lambda: not Delivery.objects.exclude(status="sent").exists(), timeout=20, message="rows marked sent")
    assert not Schedule.objects.filter(next_run__lt=timezone.now()).exists()  # the sweep never became due


def test_fault_mix_loses_nothing(sandbox_factory, live_sync, cluster_factory, course):
    sandbox = sandbox_factory(faults={
        "fail_rate": 0.15, "throttle_rate": 0.05, "retry_after": 1, "drop_rate": 0.05, "latency_ms": 5,
        "jitter_ms": 20, "token_lifetime": 2, "seed": 7,
        # Random faults land where the requests are (most are gradebook PUTs): these reach each endpoint.
        "queue": [
            {"status": 503, "endpoint": "caliper"}, {"drop": True, "endpoint": "caliper"},
            {"status": 429, "retry_after": 1, "endpoint": "caliper"}, {"status": 500, "endpoint": "caliper"},
            {"status": 502, "endpoint": "gradebook"}, {"drop": True, "endpoint": "gradebook"},
        ],
    })
    make_backlog(course, students=25)
    # One permanently invalid event in the mix: an email Timeback refuses (a missing one is held: test_held).
    bad = Delivery.objects.filter(kind="caliper_event").order_by("id")[7]
    bad.payload["actor"]["email"] = "not-an-email"
    bad.save()
    # Envelopes of 20 events: Caliper gets enough requests for the random faults to reach it too.
    cluster_factory(sandbox, extra={**FAST_RETRIES, "BATCH_SIZE": 20})
    from timeback_progress.outbox import kick

    kick._last_kick[0] = 0
    transaction.on_commit(kick.kick)  # no pending transaction: runs now
    events, results = expected()
    events.discard(bad.key)
    wait_for(lambda: arrived_and_nothing_lost(sandbox, events, results), timeout=150, message="delivery under faults")
    wait_for(lambda: not Delivery.objects.filter(status__in=["pending", "retrying", "sending"]).exists(), timeout=30, message="settled")
    dead = list(Delivery.objects.filter(status="dead").values_list("key", flat=True))
    assert dead == [bad.key], f"only the invalid event may be dead, got {dead}"
    assert not sent_but_not_received(sandbox)
    stats = report(sandbox)
    endpoints = sandbox.state.snapshot_stats()["endpoints"]
    faults = {name: endpoints.get(name, {}).get("faults", 0) for name in ("caliper", "gradebook")}
    print(f"faults per endpoint: {faults}")
    assert faults["caliper"] >= 4 and faults["gradebook"] >= 2, faults
    assert stats["faults"] > 0


def test_worker_killed_mid_batch_then_restarted(sandbox_factory, live_sync, cluster_factory, course):
    sandbox = sandbox_factory(faults={"latency_ms": 150})  # slow: the kill lands mid-send
    extra = {**FAST_RETRIES, "BATCH_SIZE": 5, "SEND_CONCURRENCY": 1, "CLAIM_SIZE": 50}
    make_backlog(course, students=30)
    events, results = expected()
    first = cluster_factory(sandbox, extra=extra, name="first")
    from timeback_progress.outbox import kick

    kick._last_kick[0] = 0
    kick.kick()
    wait_for(lambda: len(sandbox.state.events) >= 10, timeout=60, message=f"first sends\n{first.output()}")
    first.kill()
    in_flight = Delivery.objects.filter(status="sending").count()
    assert in_flight > 0, "the kill should leave claimed rows behind"
    assert not all_arrived(sandbox, events, results)
    second = cluster_factory(sandbox, extra=extra, name="second")
    time.sleep(1)
    kick._last_kick[0] = 0
    kick.kick()  # leased rows come back once their lease (5 s) expires: the task drains until then
    wait_for(lambda: all_arrived(sandbox, events, results), timeout=120, message=f"redelivery\n{second.output()}")
    wait_for(lambda: not Delivery.objects.exclude(status="sent").exists(), timeout=30, message="all sent")
    stats = report(sandbox)
    print(f"rows in flight at the kill: {in_flight}; duplicates received: {stats.get('duplicates', 0)}")


def enqueue_tasks_via(redis_url, count):
    """Put deliver_due tasks on the Redis broker from a separate process."""
    code = (
        "from django_q.tasks import async_task\n"
        f"for _ in range({count}): async_task('timeback_progress.outbox.tasks.deliver_due')\n"
    )
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": redis_url,
           "DJANGO_SETTINGS_MODULE": "tests.process_settings"}
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, timeout=60)


def test_two_clusters_race_on_postgres_with_redis(sandbox_factory, settings, cluster_factory, course):
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL (skip_locked) and the Redis broker")
    redis = pytest.importorskip("redis")
    redis_url = "redis://127.0.0.1:6379/7"
    try:
        redis.from_url(redis_url).flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    sandbox = sandbox_factory(faults={"latency_ms": 10, "fail_rate": 0.05, "seed": 3})
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": False}  # the clusters do the sending
    make_backlog(course, students=60)
    events, results = expected()
    extra = {**FAST_RETRIES, "CLAIM_SIZE": 20, "BATCH_SIZE": 10}
    clusters = [cluster_factory(sandbox, workers=2, redis_url=redis_url, extra=extra, name=n) for n in "ab"]
    enqueue_tasks_via(redis_url, 8)
    wait_for(lambda: all_arrived(sandbox, events, results), timeout=120,
             message="delivery by two clusters\n" + "\n".join(c.output() for c in clusters))
    wait_for(lambda: not Delivery.objects.exclude(status="sent").exists(), timeout=30, message="all sent")
    stats = report(sandbox)
    # Claims are exclusive: with no lease expiring, nothing is sent twice.
    assert stats.get("duplicates", 0) == 0
    assert not OrmQ.objects.exists()  # nothing went through the ORM broker
