"""The scripted run of issue 10, delivered by a real qcluster to the sandbox over loopback.

One attempt is started, timed three times and abandoned; another is completed,
then corrected twice (XP down, then up); their time goes out in windows of at
most 15 s. Once everything has arrived, the time
and the XP the sandbox holds for the student equal the app's, however many
times a fault made the outbox resend (the duplicate count is printed).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from timeback_progress.gradebook import attempts, corrections
from timeback_progress.models import Attempt, Delivery, Result
from timeback_progress.timeback.caliper import actor
from tests.plugins.cluster import wait_for
from tests.test_delivery_integration import FAST_RETRIES, report

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WINDOW = 60


def sandbox_totals(sandbox, student):
    """(active, inactive, xp) summed over the events the sandbox stored for ``student``."""
    actor_id = actor(student)["id"]
    active = inactive = 0
    xp = Decimal(0)
    for event in list(sandbox.state.events.values()):
        if event["actor"]["id"] != actor_id:
            continue
        metrics = event["generated"]["items"]
        if event["type"] == "TimeSpentEvent":
            active += sum(i["value"] for i in metrics if i["type"] == "active")
            inactive += sum(i["value"] for i in metrics if i["type"] == "inactive")
        else:
            xp += sum(Decimal(str(i["value"])) for i in metrics if i["type"] == "xpEarned")
    return active, inactive, xp


def app_totals(student):
    attempts = Attempt.objects.filter(student=student)
    return (
        sum(a.active_seconds for a in attempts),
        sum(a.inactive_seconds for a in attempts),
        student.progress.get().xp_total,
    )


def test_time_and_xp_totals_reach_timeback_exactly(sandbox_factory, settings, cluster_factory, student, activity):
    # Random 5xx, 429s and dropped connections, plus forced ones: a Caliper answer
    # slower than the read timeout (stored, yet resent: a duplicate), a 503, a drop.
    sandbox = sandbox_factory(faults={
        "fail_rate": 0.2, "throttle_rate": 0.1, "retry_after": 1, "drop_rate": 0.1, "seed": 11,
        "queue": [{"endpoint": "caliper", "delay_ms": 1800}, {"endpoint": "caliper", "status": 503},
                  {"endpoint": "gradebook", "drop": True}],
    })
    extra = {**FAST_RETRIES, "TIME_FLUSH_SECONDS": WINDOW, "READ_TIMEOUT": 1.0, "TIME_WINDOW_SECONDS": 15}
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True, **extra}
    cluster = cluster_factory(sandbox, extra=extra)
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")

    abandoned = attempts.start_attempt(student, activity, started_at=timezone.now() - timedelta(minutes=10))
    for active, inactive in [(40, 0), (30, 5), (20, 0)]:
        attempts.add_time(abandoned, active_seconds=active, inactive_seconds=inactive)
    # The first 75 s are out, in five 15 s windows; 20 s wait for a flush threshold never reached.

    finished = attempts.start_attempt(student, activity, started_at=timezone.now() - timedelta(minutes=5))
    attempts.add_time(finished, active_seconds=25)
    attempts.complete_attempt(finished, total_questions=10, correct_questions=10, active_seconds=15, inactive_seconds=3)
    result = Result.objects.get(attempt=finished)
    corrections.correct_result(result, user=admin, reason="two answers were miscounted", correct_questions=Decimal(7))
    corrections.correct_result(result, user=admin, reason="credit for the written part", xp=Decimal("9.5"))

    # A minute later the sweeper finds the abandoned attempt idle and flushes its last 20 s.
    Attempt.objects.filter(pk=abandoned.pk).update(updated_at=timezone.now() - timedelta(seconds=WINDOW + 1))
    from django_q.tasks import async_task

    async_task("timeback_progress.outbox.tasks.deliver_due")  # what the one-minute sweeper schedule runs

    flushed = Attempt.objects.filter(pk=abandoned.pk, reported_active_seconds=90)
    wait_for(flushed.exists, timeout=60, message=f"the idle flush\n{cluster.output()}")
    expected = set(Delivery.objects.filter(kind="caliper_event").values_list("key", flat=True))
    wait_for(lambda: expected <= set(sandbox.state.events), timeout=120, message=f"delivery\n{cluster.output()}")
    wait_for(lambda: not Delivery.objects.exclude(status="sent").exists(), timeout=60, message="all rows sent")

    assert app_totals(student) == (90 + 40, 5 + 3, Decimal("9.50"))
    assert sandbox_totals(sandbox, student) == app_totals(student)
    assert sandbox.state.results[result.sourced_id]["metadata"]["xp"] == 9.5  # the corrected result was PUT
    kinds = sorted(Delivery.objects.filter(kind="caliper_event").values_list("payload__type", flat=True))
    # Completion + 2 corrections; time: 5 windows, the idle flush's 1, and the completion's 43 s in 3.
    assert kinds == ["ActivityEvent"] * 3 + ["TimeSpentEvent"] * 9
    # The slow answer's request is stored when the sandbox finishes it, after the resend.
    wait_for(lambda: sandbox.state.snapshot_stats()["duplicates"] >= 1, timeout=15, message="the late duplicate")
    assert sandbox_totals(sandbox, student) == app_totals(student)  # counted once
    stats = report(sandbox)
    print(f"duplicate events received (same ids, counted once): {stats['duplicates']}")
    assert stats["faults"] >= 2
