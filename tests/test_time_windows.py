"""Time of open attempts goes out in windows; XP corrections go out as numbered difference events.

What the outbox holds at each step is what would reach Timeback: these tests
read the Delivery rows; tests/test_timeback_sums.py checks the same sums in
the sandbox after a real qcluster delivered them.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from timeback_progress.gradebook import attempts, corrections, derivation
from timeback_progress.timeback import caliper
from timeback_progress.models import Attempt, Delivery
from timeback_progress.outbox import writing

pytestmark = pytest.mark.django_db


def time_events(attempt=None):
    rows = Delivery.objects.filter(kind="caliper_event", payload__type="TimeSpentEvent").order_by("id")
    if attempt is not None:
        rows = rows.filter(attempt=attempt)
    return [row.payload for row in rows]


def seconds(events):
    """(active, inactive) summed over TimeSpentEvents."""
    totals = {"active": 0, "inactive": 0}
    for event in events:
        for item in event["generated"]["items"]:
            totals[item["type"]] += item["value"]
    return totals["active"], totals["inactive"]


def xp_events(student):
    rows = Delivery.objects.filter(kind="caliper_event", payload__type="ActivityEvent", attempt__student=student)
    return [row.payload for row in rows.order_by("id")]


def xp_sum(events):
    return sum(
        Decimal(str(item["value"])) for event in events for item in event["generated"]["items"] if item["type"] == "xpEarned"
    )


@pytest.fixture
def window(settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TIME_FLUSH_SECONDS": 60}
    return 60


def test_time_waits_for_a_full_window_then_completion_sends_the_rest(student, activity, window):
    attempt = attempts.start_attempt(student, activity)
    attempts.add_time(attempt, active_seconds=25)
    attempts.add_time(attempt, active_seconds=20, inactive_seconds=5)
    assert time_events() == []  # 50 s: the window is not full yet
    attempts.add_time(attempt, active_seconds=15)
    assert [seconds([e]) for e in time_events()] == [(60, 5)]
    attempts.add_time(attempt, active_seconds=10)
    assert len(time_events()) == 1
    attempts.complete_attempt(attempt, total_questions=4, correct_questions=4, active_seconds=5)
    events = time_events()
    assert [seconds([e]) for e in events] == [(60, 5), (15, 0)]
    assert seconds(events) == (75, 5)
    assert [e["id"] for e in events] == [f"urn:uuid:{attempt.derived_uuid(f'time-spent/{n}')}" for n in (0, 1)]


def test_never_more_than_recorded_at_any_point(student, activity, window):
    attempt = attempts.start_attempt(student, activity, started_at=timezone.now() - timedelta(hours=1))
    recorded = [0, 0]
    for active, inactive in [(7, 0), (30, 3), (0, 40), (59, 0), (1, 0), (120, 0), (3, 2)]:
        attempts.add_time(attempt, active_seconds=active, inactive_seconds=inactive)
        recorded[0] += active
        recorded[1] += inactive
        attempt.refresh_from_db()
        sent = seconds(time_events())
        assert sent == (attempt.reported_active_seconds, attempt.reported_inactive_seconds)
        assert sent[0] <= recorded[0] and sent[1] <= recorded[1]
        assert sum(recorded) - sum(sent) < window  # a full window never waits
    ids = [e["id"] for e in time_events()]
    assert len(ids) == len(set(ids)) == attempt.time_events_sent


def test_zero_window_sends_every_report(student, activity, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TIME_FLUSH_SECONDS": 0}
    attempt = attempts.start_attempt(student, activity)
    attempts.add_time(attempt, active_seconds=3)
    attempts.add_time(attempt, inactive_seconds=4)
    assert [seconds([e]) for e in time_events()] == [(3, 0), (0, 4)]


def test_idle_open_attempts_are_flushed_by_the_sweep(student, activity, window):
    abandoned = attempts.start_attempt(student, activity)
    attempts.add_time(abandoned, active_seconds=30, inactive_seconds=4)
    busy = attempts.start_attempt(student, activity)
    attempts.add_time(busy, active_seconds=10)
    done = attempts.start_attempt(student, activity)
    attempts.complete_attempt(done, total_questions=2, correct_questions=2, active_seconds=20)
    before = len(time_events())
    # Nothing is idle yet.
    assert writing.flush_idle_time() == 0
    later = timezone.now() + timedelta(seconds=window + 1)
    Attempt.objects.filter(pk=busy.pk).update(updated_at=later)  # still reporting at that time
    assert writing.flush_idle_time(now=later) == 1
    assert seconds(time_events(abandoned)) == (30, 4)
    assert len(time_events()) == before + 1
    assert writing.flush_idle_time(now=later) == 0  # nothing left to send
    # More time on the abandoned attempt opens a new window with its own id.
    attempts.add_time(abandoned, active_seconds=6)
    assert writing.flush_idle_time(now=later + timedelta(seconds=window + 1)) == 2  # busy has gone quiet too
    events = time_events(abandoned)
    assert seconds(events) == (36, 4) and len({e["id"] for e in events}) == 2
    assert seconds(time_events(busy)) == (10, 0)


def test_the_sweeper_task_flushes_idle_time(student, activity, window, django_assert_max_num_queries):
    from timeback_progress.outbox import tasks

    attempt = attempts.start_attempt(student, activity)
    attempts.add_time(attempt, active_seconds=12)
    Attempt.objects.filter(pk=attempt.pk).update(updated_at=timezone.now() - timedelta(seconds=window + 1))
    # Sync is off here: the row waits in the outbox, and the task returns at
    # once instead of polling for pending rows to fall due.
    with django_assert_max_num_queries(10):
        assert tasks.deliver_due()["time_flushed"] == 1
    assert seconds(time_events(attempt)) == (12, 0)


def test_saving_the_model_reports_time_too(student, activity, window):
    attempt = attempts.start_attempt(student, activity)
    stale = Attempt.objects.get(pk=attempt.pk)
    attempt.active_seconds = 90
    attempt.save()
    assert [seconds([e]) for e in time_events()] == [(90, 0)]
    # An instance loaded before that flush must not roll the counters back when saved.
    stale.inactive_seconds = 70
    stale.active_seconds = 90
    stale.save()
    events = time_events()
    assert [seconds([e]) for e in events] == [(90, 0), (0, 70)]
    assert len({e["id"] for e in events}) == 2
    attempt.refresh_from_db()
    assert (attempt.reported_active_seconds, attempt.reported_inactive_seconds, attempt.time_events_sent) == (90, 70, 2)


def test_xp_corrections_are_numbered_difference_events(student, activity):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    attempt = attempts.record_attempt(student, activity, total_questions=10, correct_questions=10, active_seconds=600)
    assert attempt.xp_earned == Decimal("12.50")
    result = attempt.result
    corrections.correct_result(result, user=admin, reason="miscounted", correct_questions=Decimal(7))  # below 80%: 0 XP
    corrections.correct_result(result, user=admin, reason="teacher grants time", xp=Decimal("9.5"))
    corrections.correct_result(result, user=admin, reason="score only", score=Decimal(70))  # XP unchanged: no event
    attempt.refresh_from_db()
    assert attempt.xp_earned == Decimal("9.50") and attempt.xp_corrections_sent == 2
    events = xp_events(student)
    assert [e["id"] for e in events[1:]] == [
        f"urn:uuid:{attempt.derived_uuid(f'xp-correction/{n}')}" for n in (0, 1)
    ]
    deltas = [xp_sum([e]) for e in events]
    assert deltas == [Decimal("12.5"), Decimal("-12.5"), Decimal("9.5")]
    assert xp_sum(events) == attempt.xp_earned == student.progress.get().xp_total
    # Question counts went out with the completion; corrections carry XP and mastery differences:
    # 7 of 10 is below the pass mark, so the unit mastered with 10 of 10 is taken back.
    metrics = [{i["type"]: i["value"] for i in event["generated"]["items"]} for event in events[1:]]
    assert metrics == [{"xpEarned": -12.5, "masteredUnits": -1}, {"xpEarned": 9.5, "masteredUnits": 0}]


def test_recalculation_sends_the_difference_too(student, activity):
    attempt = attempts.record_attempt(student, activity, total_questions=10, correct_questions=9)
    activity.expected_xp = Decimal(20)
    activity.save()
    derivation.recalculate_attempts(Attempt.objects.filter(pk=attempt.pk))
    attempt.refresh_from_db()
    events = xp_events(student)
    assert [xp_sum([e]) for e in events] == [Decimal(10), Decimal(10)]
    assert xp_sum(events) == attempt.xp_earned == Decimal(20)


def test_a_backlog_over_the_per_event_cap_takes_several_windows(student, activity, window):
    attempt = attempts.start_attempt(student, activity, started_at=timezone.now() - timedelta(days=3))
    attempts.add_time(attempt, active_seconds=30, inactive_seconds=20)
    attempts.add_time(attempt, active_seconds=86_400)
    attempts.complete_attempt(attempt, total_questions=1, correct_questions=1, inactive_seconds=86_400)
    events = time_events()
    assert [seconds([e]) for e in events] == [(86_400, 20), (30, 0), (0, 86_400)]
    assert seconds(events) == (86_430, 86_420)
    assert len({e["id"] for e in events}) == 3


def test_a_stale_copy_saved_after_a_correction_keeps_the_xp_sum(student, activity):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    attempt = attempts.record_attempt(student, activity, total_questions=10, correct_questions=10)
    stale = Attempt.objects.get(pk=attempt.pk)
    corrections.correct_result(attempt.result, user=admin, reason="partial credit", xp=Decimal(5))
    stale.correct_questions = Decimal(9)  # an old copy, saved later: its inputs win, its XP does not
    stale.save()
    attempt.refresh_from_db()
    assert xp_sum(xp_events(student)) == attempt.xp_earned == student.progress.get().xp_total


def test_a_stale_copy_completing_after_a_flush_sends_only_the_rest(student, activity, window):
    attempt = attempts.start_attempt(student, activity)
    stale = Attempt.objects.get(pk=attempt.pk)
    attempts.add_time(attempt, active_seconds=70)  # flushed: window 0
    stale.active_seconds = 100
    stale.completed_at, stale.total_questions, stale.correct_questions = timezone.now(), 2, 2
    stale.save()
    events = time_events()
    assert [seconds([e]) for e in events] == [(70, 0), (30, 0)]
    assert len({e["id"] for e in events}) == 2


def test_seconds_added_to_a_completed_attempt_are_sent(student, activity, window):
    attempt = attempts.record_attempt(student, activity, total_questions=4, correct_questions=4, active_seconds=100)
    attempt.active_seconds = 250
    attempt.save()
    assert [seconds([e]) for e in time_events()] == [(100, 0), (150, 0)]


def test_the_idle_flush_is_fenced_against_a_report_in_between(student, activity, window, monkeypatch):
    """A report that flushes while the sweeper holds a stale read wins; the sweeper writes nothing."""
    attempt = attempts.start_attempt(student, activity)
    attempts.add_time(attempt, active_seconds=30)
    later = timezone.now() + timedelta(seconds=window + 1)
    real_time_rows, reported = writing.time_rows, []

    def report_in_between(item, **kwargs):
        if not reported:  # the sweeper has read the attempt; a report lands now
            reported.append(True)
            attempts.add_time(attempt, active_seconds=40)  # 70 unsent: this report flushes window 0
        return real_time_rows(item, **kwargs)

    monkeypatch.setattr(writing, "time_rows", report_in_between)
    assert writing.flush_idle_time(now=later) == 0
    assert [seconds([e]) for e in time_events()] == [(70, 0)]


def test_the_idle_flush_is_dated_by_the_last_report(student, activity, window):
    attempt = attempts.start_attempt(student, activity)
    attempts.add_time(attempt, active_seconds=12)
    reported = timezone.now() - timedelta(hours=3)
    Attempt.objects.filter(pk=attempt.pk).update(updated_at=reported)
    writing.flush_idle_time()
    (event,) = time_events(attempt)
    assert event["eventTime"] == caliper.isoformat(reported)


def test_a_failing_flush_does_not_stop_delivery(db, monkeypatch, caplog):
    from timeback_progress.outbox import tasks

    def broken(**kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(writing, "flush_idle_time", broken)
    assert tasks.deliver_due()["time_flushed"] == 0
    assert "could not flush" in caplog.text


def test_cloning_and_deferred_loads_still_save(student, activity, django_assert_max_num_queries):
    attempt = attempts.start_attempt(student, activity)
    clone = Attempt.objects.get(pk=attempt.pk)
    clone.pk = None  # Django's copy idiom without _state.adding: still inserts
    clone.number = 0
    clone.save()
    assert Attempt.objects.filter(student=student).count() == 2
    partial = Attempt.objects.only("id", "active_seconds", "student_id", "activity_id", "course_id", "number").get(pk=attempt.pk)
    partial.active_seconds = 5
    # No query per deferred field: the save, the attempt's lock (its own statement
    # where rows are locked), whether the save un-completed it (a result exists)
    # and the rebuild of its two progress rows (an open attempt saved outside the
    # app's operations).
    with django_assert_max_num_queries(8):
        partial.save()
    assert Attempt.objects.get(pk=attempt.pk).active_seconds == 5
