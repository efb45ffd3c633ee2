from decimal import Decimal

import pytest

from timeback_progress.gradebook import attempts, corrections, derivation
from timeback_progress.models import Attempt, DailyProgress, Delivery, Result, StudentProgress
from tests.plugins.factories import complete, make_activity, make_student

pytestmark = pytest.mark.django_db


def test_completion_derives_result_progress_and_outbox(student, activity):
    attempt = complete(student, activity, total=10, correct=8, active=240, inactive=60)
    attempt.refresh_from_db()
    assert (attempt.number, attempt.accuracy, attempt.multiplier, attempt.xp_earned) == (1, Decimal("80.00"), Decimal("1.00"), Decimal("10.00"))
    assert attempt.mastered_units == 1
    result = Result.objects.get(attempt=attempt)
    assert result.score == Decimal("80.00")
    assert result.metadata == {
        "xp": 10.0, "accuracy": 80.0, "totalQuestions": 10, "correctQuestions": 8.0,
        "masteredUnits": 1, "multiplier": 1.0, "attempt": 1,
    }
    progress = StudentProgress.objects.get(student=student, course=activity.course)
    assert progress.xp_total == Decimal("10.00")
    assert progress.accuracy == Decimal("80.00")
    assert progress.mastered_units == 1
    assert (progress.active_seconds, progress.inactive_seconds) == (240, 60)
    assert DailyProgress.objects.get(student=student).xp == Decimal("10.00")
    kinds = sorted(Delivery.objects.values_list("kind", flat=True))
    assert kinds == ["caliper_event", "caliper_event", "line_item", "result"]


def test_saving_again_never_double_counts(student, activity):
    attempt = complete(student, activity, total=10, correct=10)
    before = Delivery.objects.count()
    for _ in range(3):
        attempt.save()
    progress = StudentProgress.objects.get(student=student)
    assert progress.xp_total == Decimal("12.50")
    assert progress.completed_count == 1
    assert Result.objects.count() == 1
    assert Delivery.objects.count() == before


def test_completing_twice_is_refused(student, activity):
    attempt = complete(student, activity)
    with pytest.raises(attempts.AttemptError) as exc:
        attempts.complete_attempt(attempt, total_questions=10, correct_questions=10)
    assert exc.value.code == "completed"
    assert StudentProgress.objects.get(student=student).completed_count == 1


def test_editing_numbers_recomputes_and_sends_xp_difference(student, activity):
    attempt = complete(student, activity, total=10, correct=8)
    attempt.correct_questions = Decimal(10)
    attempt.save()
    attempt.refresh_from_db()
    assert attempt.xp_earned == Decimal("12.50")
    progress = StudentProgress.objects.get(student=student)
    assert progress.xp_total == Decimal("12.50")
    assert progress.accuracy == Decimal("100.00")
    assert Result.objects.get().metadata["xp"] == 12.5
    deltas = [
        d.payload for d in Delivery.objects.filter(kind="caliper_event")
        if d.payload["type"] == "ActivityEvent" and d.payload["id"] != f"urn:uuid:{attempt.derived_uuid('activity-event')}"
    ]
    assert len(deltas) == 1
    items = {i["type"]: i["value"] for i in deltas[0]["generated"]["items"]}
    assert items["xpEarned"] == 2.5
    # one open result row per key: the re-sync folded into the waiting one
    assert Delivery.objects.filter(kind="result").count() == 1


def test_attempt_numbers_and_reattempt_multipliers(student, activity):
    xps = [complete(student, activity, total=10, correct=10).xp_earned for _ in range(4)]
    assert [a.number for a in Attempt.objects.order_by("number")] == [1, 2, 3, 4]
    assert xps == [Decimal("12.50"), Decimal("5.00"), Decimal("2.50"), Decimal("0.00")]


def test_mastery_counts_once_per_student(student, activity):
    complete(student, activity, total=10, correct=5)
    complete(student, activity, total=10, correct=9)
    complete(student, activity, total=10, correct=10)
    mastered = list(Attempt.objects.order_by("number").values_list("mastered_units", flat=True))
    assert mastered == [0, 1, 0]
    assert StudentProgress.objects.get(student=student).mastered_units == 1


def test_editing_an_earlier_attempt_moves_mastery(student, activity):
    first = complete(student, activity, total=10, correct=5)
    complete(student, activity, total=10, correct=9)
    first.correct_questions = Decimal(9)
    first.save()
    assert list(Attempt.objects.order_by("number").values_list("mastered_units", flat=True)) == [1, 0]
    assert StudentProgress.objects.get(student=student).mastered_units == 1


def test_passive_activity_earns_no_xp(student, course):
    video = make_activity(course, is_graded=False, masterable_units=0)
    attempt = complete(student, video, total=1, correct=1)
    assert attempt.xp_earned == 0
    assert StudentProgress.objects.get(student=student).xp_total == 0


def test_failed_streak(student, activity):
    for correct in (5, 6, 7):
        complete(student, activity, total=10, correct=correct)
    assert StudentProgress.objects.get(student=student).failed_streak == 3
    complete(student, activity, total=10, correct=9)
    assert StudentProgress.objects.get(student=student).failed_streak == 0


def test_time_is_reported_once(student, activity, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TIME_FLUSH_SECONDS": 0}  # every report at once
    attempt = attempts.start_attempt(student, activity)
    attempts.add_time(attempt, active_seconds=15)
    attempts.add_time(attempt, active_seconds=10, inactive_seconds=5)
    attempts.complete_attempt(attempt, total_questions=4, correct_questions=4, active_seconds=5)
    events = [d.payload for d in Delivery.objects.filter(kind="caliper_event") if d.payload["type"] == "TimeSpentEvent"]
    totals = [{i["type"]: i["value"] for i in e["generated"]["items"]} for e in events]
    assert totals == [{"active": 15, "inactive": 0}, {"active": 10, "inactive": 5}, {"active": 5, "inactive": 0}]
    assert len({e["id"] for e in events}) == 3
    progress = StudentProgress.objects.get(student=student)
    assert (progress.active_seconds, progress.inactive_seconds) == (30, 5)


def double_xp(expected_xp, total_questions, correct_questions, attempt_number, *, passive=False):
    """A host's own policy: everything earns double the expected XP."""
    from timeback_progress.xp import XPResult

    return XPResult(Decimal(100), Decimal(2), Decimal(expected_xp) * 2, True, "double")


def test_pluggable_xp_policy(student, activity, settings):
    settings.TIMEBACK_PROGRESS = {"XP_POLICY": "tests.test_signals.double_xp"}
    attempt = complete(student, activity, total=10, correct=1)
    assert attempt.xp_earned == Decimal("20.00")
    assert StudentProgress.objects.get(student=student).xp_total == Decimal("20.00")


def test_correction_overrides_and_audits(student, activity, django_user_model):
    admin = django_user_model.objects.create_user("boss")
    attempt = complete(student, activity, total=10, correct=8)
    result = Result.objects.get(attempt=attempt)
    correction = corrections.correct_result(result, user=admin, reason="Regraded by hand", xp=3, score=95, score_status="partially graded")
    result.refresh_from_db()
    assert (result.score, result.score_status, result.metadata["xp"]) == (Decimal("95.00"), "partially graded", 3.0)
    assert correction.before["xp"] == 10.0 and correction.after["xp"] == 3.0
    assert StudentProgress.objects.get(student=student).xp_total == Decimal("3.00")
    with pytest.raises(Exception):
        correction.reason = "changed"
        correction.save()


def test_invalid_correction_changes_nothing(student, activity, django_user_model):
    from django.core.exceptions import ValidationError

    admin = django_user_model.objects.create_user("boss")
    result = Result.objects.get(attempt=complete(student, activity, total=10, correct=8))
    rows = Delivery.objects.count()
    for changes in ({"correct_questions": 11}, {"xp": -1}, {"score_status": "great"}, {"mastered_units": 2}, {}):
        with pytest.raises(ValidationError):
            corrections.correct_result(result, user=admin, reason="x" if changes else " ", **changes)
    result.refresh_from_db()
    assert result.metadata["xp"] == 10.0 and not result.corrections.exists()
    assert Delivery.objects.count() == rows


def test_daily_rows_follow_the_local_day(student, activity, settings):
    """Chart days are local calendar days, on the fast path and the full rebuild alike."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from timeback_progress.gradebook import progress

    settings.TIME_ZONE = "America/New_York"
    late_evening = datetime(2026, 3, 10, 23, 30, tzinfo=ZoneInfo("America/New_York"))  # 03:30 UTC next day
    complete(student, activity, completed_at=late_evening)  # started 5 minutes before
    fast = list(DailyProgress.objects.values_list("day", "xp"))
    progress.rebuild(student.pk, activity.pk, activity.course_id, using="default")
    assert fast == list(DailyProgress.objects.values_list("day", "xp")) == [(late_evening.date(), Decimal("10.00"))]


def test_attempts_without_questions_do_not_make_a_student_stuck(student, course):
    video = make_activity(course, is_graded=False, masterable_units=0)
    for _ in range(3):
        complete(student, video, total=0, correct=0)
    assert StudentProgress.objects.get(student=student).failed_streak == 0


def test_score_only_correction_is_resent(student, activity, django_user_model):
    result = Result.objects.get(attempt=complete(student, activity, total=10, correct=8))
    Delivery.objects.filter(kind="result").update(status="sent")
    corrections.correct_result(result, user=django_user_model.objects.create(username="a"), reason="rubric", score=90)
    assert Delivery.objects.filter(kind="result", status="pending").count() == 1


def test_caliper_process_mode_writes_no_gradebook(student, activity, settings):
    settings.TIMEBACK_PROGRESS = {"CALIPER_PROCESS": True}
    complete(student, activity)
    assert set(Delivery.objects.values_list("kind", flat=True)) == {"caliper_event"}
    event = Delivery.objects.filter(payload__type="ActivityEvent").get().payload
    assert event["object"]["process"] is True


def test_correction_event_carries_only_the_differences(student, activity, django_user_model):
    result = Result.objects.get(attempt=complete(student, activity, total=10, correct=8))
    corrections.correct_result(result, user=django_user_model.objects.create(username="a"), reason="x", xp=4)
    events = [d.payload for d in Delivery.objects.filter(kind="caliper_event") if d.payload["type"] == "ActivityEvent"]
    delta = {i["type"]: i["value"] for i in events[-1]["generated"]["items"]}
    # No question counts: they went with the completion and must not count twice.
    assert delta == {"xpEarned": -6, "masteredUnits": 0}
    assert events[-1]["extensions"]["isCorrection"] is True
    assert events[-1]["extensions"]["correctionOf"] == events[0]["id"]
    assert "isCorrection" not in events[0].get("extensions", {})


@pytest.mark.django_db(transaction=True)
def test_concurrent_completions_of_one_student_add_up(course):
    """Two completions racing for one student: neither aggregate may miss the other's attempt."""
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs row locks")
    student = make_student()
    activity = make_activity(course)
    started = [attempts.start_attempt(student, activity) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors = []

    def finish(attempt):
        try:
            barrier.wait()
            attempts.complete_attempt(attempt, total_questions=10, correct_questions=10)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=finish, args=(a,)) for a in started]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    progress = StudentProgress.objects.get(student=student)
    assert progress.completed_count == 2
    assert progress.xp_total == Decimal("17.50")  # 12.50 (first, perfect) + 5.00 (second, 0.5x)
    assert sum(Attempt.objects.values_list("mastered_units", flat=True)) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("via", ["service", "api"])
def test_concurrent_time_reports_add_up(course, via):
    """Time is added in Python under the row lock (the API's lookup takes it): racing reports lose no second."""
    import json
    import threading

    from django.db import connection, connections
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from tests.plugins.api import make_user

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs row locks")
    from datetime import timedelta

    from django.contrib.auth.models import Permission
    from django.utils import timezone

    # Started an hour ago: the 160 s reported fit the wall clock.
    attempt = attempts.start_attempt(make_student(), make_activity(course), started_at=timezone.now() - timedelta(hours=1))
    app = make_user("app")  # a service account: writes need the permission, not staff status
    app.user_permissions.add(Permission.objects.get(codename="add_attempt", content_type__app_label="timeback_progress"))
    token = Token.objects.create(user=app).key
    barrier = threading.Barrier(4)
    errors = []

    def add(client):
        if via == "service":
            attempts.add_time(Attempt.objects.get(pk=attempt.pk), active_seconds=3, inactive_seconds=1)
            return
        body = json.dumps({"activeSeconds": 3, "inactiveSeconds": 1})
        response = client.post(f"/api/v1/attempts/{attempt.pk}/time/", body, content_type="application/json")
        assert response.status_code == 200, response.content

    def report():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        try:
            barrier.wait()
            for _ in range(10):
                add(client)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stored = Attempt.objects.get(pk=attempt.pk)
    assert (stored.active_seconds, stored.inactive_seconds) == (120, 40)
    assert StudentProgress.objects.get(student=attempt.student_id).active_seconds == 120


def test_recalculate_after_a_policy_change(student, activity, settings):
    """Recalculation re-runs the (new) rules once per chain and fixes the aggregates."""
    attempts = [complete(student, activity, total=10, correct=10) for _ in range(3)]
    settings.TIMEBACK_PROGRESS = {"XP_POLICY": "tests.test_signals.double_xp"}
    assert derivation.recalculate_attempts(Attempt.objects.filter(pk__in=[a.pk for a in attempts])) == 3
    assert list(Attempt.objects.order_by("number").values_list("xp_earned", flat=True)) == [Decimal("20.00")] * 3
    assert StudentProgress.objects.get(student=student).xp_total == Decimal("60.00")
