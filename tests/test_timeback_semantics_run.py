"""The scripted run of issue 16, delivered by a real qcluster to the sandbox over loopback.

A student abandons a run and scores 100% on the next (1.25x); masters every
unit of the course (the completion entry); watches a video; has XP corrected
down and up and a mastered unit taken off and given back. A second student
has no email: their events are held until an email is added. Once everything
has arrived, per student, the sums of ``xpEarned`` and ``masteredUnits`` (and
the seconds) the sandbox holds equal the app's, nothing is dead, and each run
was completed once.
"""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from timeback_progress.gradebook import attempts, corrections
from timeback_progress.models import Attempt, Delivery, Result, StudentProgress
from timeback_progress.timeback.caliper import actor
from tests.plugins.cluster import wait_for
from tests.plugins.factories import make_activity, make_course, make_student
from tests.test_delivery_integration import FAST_RETRIES, report

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def held_by_sandbox(sandbox, student):
    """Per-student sums of what the sandbox stored: xpEarned, masteredUnits, active and inactive seconds."""
    actor_id = actor(student)["id"]
    sums = Counter()
    completions = Counter()
    for event in list(sandbox.state.events.values()):
        if event["actor"]["id"] != actor_id:
            continue
        for item in event["generated"]["items"]:
            sums[item["type"]] += Decimal(str(item["value"]))
        if event["type"] == "ActivityEvent" and not (event.get("extensions") or {}).get("isCorrection"):
            completions[event["session"]] += 1
    return (sums["xpEarned"], sums["masteredUnits"], sums["active"], sums["inactive"]), completions


def held_by_app(student):
    progress = StudentProgress.objects.get(student=student)
    runs = Attempt.objects.filter(student=student)
    return (
        progress.xp_total, Decimal(progress.mastered_units),
        Decimal(sum(a.active_seconds for a in runs)), Decimal(sum(a.inactive_seconds for a in runs)),
    )


def test_timeback_holds_what_the_app_holds(sandbox_factory, settings, cluster_factory):
    sandbox = sandbox_factory(faults={"fail_rate": 0.15, "throttle_rate": 0.05, "retry_after": 1, "seed": 16})
    extra = {**FAST_RETRIES, "TIME_FLUSH_SECONDS": 30, "TIME_WINDOW_SECONDS": 15}  # the defaults' windows
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True, **extra}
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    course = make_course(masterable_units=2)
    quiz, test = (make_activity(course, expected_xp=Decimal(10), masterable_units=1) for _ in range(2))
    video = make_activity(course, name="Intro video", is_graded=False, masterable_units=0)
    ann, bob = make_student(), make_student(email="")

    # Ann: abandons a run, comes back and scores 100%: attempt 1, 1.25x.
    earlier = timezone.now() - timedelta(hours=1)
    left = attempts.start_attempt(ann, quiz, started_at=earlier)
    attempts.add_time(left, active_seconds=40, inactive_seconds=5)
    run = attempts.start_attempt(ann, quiz, started_at=earlier)
    attempts.complete_attempt(run, total_questions=10, correct_questions=10, active_seconds=200)
    run.refresh_from_db()
    assert (run.number, run.attempt_number, run.xp_earned) == (2, 1, Decimal("12.50"))
    # Masters the second unit (the course is complete), watches the video.
    second = attempts.record_attempt(ann, test, total_questions=10, correct_questions=9, active_seconds=300)
    attempts.record_attempt(ann, video, total_questions=0, correct_questions=0, active_seconds=600)
    # XP corrected down and up; a mastered unit taken off and given back.
    result = Result.objects.get(attempt=second)
    corrections.correct_result(result, user=admin, reason="two answers miscounted", xp=Decimal(4))
    corrections.correct_result(result, user=admin, reason="credit for the written part", xp=Decimal(12))
    corrections.correct_result(result, user=admin, reason="copied answers", mastered_units=0)
    corrections.correct_result(result, user=admin, reason="oral re-check passed", mastered_units=1)

    # Bob has no email: his events wait, held, not dead.
    attempts.record_attempt(bob, quiz, total_questions=10, correct_questions=8, active_seconds=120)
    assert Delivery.objects.filter(status=Delivery.State.HELD).exists()

    cluster = cluster_factory(sandbox, extra=extra)
    wait_for(lambda: not Delivery.objects.waiting().exists(), timeout=120, message=f"delivery\n{cluster.output()}")
    assert Delivery.objects.filter(status=Delivery.State.HELD).exists()
    bob.email = "bob@example.com"
    bob.save()
    wait_for(lambda: not Delivery.objects.exclude(status=Delivery.State.SENT).exists(), timeout=120,
             message=f"every row sent\n{cluster.output()}")

    for student in (ann, bob):
        sums, completions = held_by_sandbox(sandbox, student)
        assert sums == held_by_app(student), student
        assert set(completions.values()) == {1}  # each run completed once; corrections are not completions
    assert held_by_app(ann)[:2] == (Decimal("12.50") + Decimal(12), Decimal(2))
    # Ann mastered every unit: the completion entry, linked to the course's component resource.
    entries = [r for r in sandbox.state.results.values() if (r.get("metadata") or {}).get("isMasteryCompletion")]
    assert [(e["student"]["sourcedId"], e["score"], e["status"]) for e in entries] == [(ann.sourced_id, 100, "active")]
    line_item = sandbox.state.line_items[entries[0]["assessmentLineItem"]["sourcedId"]]
    assert line_item["componentResource"]["sourcedId"] == f"{course.sourced_id}-cr"
    # Regular line items are not linked (the vendor's safe default).
    assert all("componentResource" not in li for key, li in sandbox.state.line_items.items() if key != line_item["sourcedId"])
    print(f"faults and retries absorbed: {report(sandbox)}")
