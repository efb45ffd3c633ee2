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
from django.utils.dateparse import parse_datetime

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


@pytest.fixture(autouse=True)
def default_windows(settings):
    """This module tests the windows: the default 15 s, not the suite's one-window-per-flush."""
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TIME_WINDOW_SECONDS": 15}


@pytest.fixture
def window(settings, default_windows):
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


def test_a_backlog_over_the_per_event_cap_takes_several_windows(student, activity, window, settings):
    """Day-long windows, so a day's backlog meets the per-metric cap (86,400 s) of one event."""
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TIME_WINDOW_SECONDS": 86_400}
    attempt = attempts.start_attempt(student, activity, started_at=timezone.now() - timedelta(days=3))
    attempts.add_time(attempt, active_seconds=30, inactive_seconds=20)
    attempts.add_time(attempt, active_seconds=86_400)
    first = time_events()
    # The latest day is full with 86,400 active seconds; the rest goes to the day before.
    assert [seconds([e]) for e in first] == [(30, 20), (86_400, 0)]
    attempts.complete_attempt(attempt, total_questions=1, correct_questions=1, inactive_seconds=86_400)
    events = time_events()
    assert [seconds([e]) for e in events[2:]] == [(0, 86_400)]
    assert seconds(events) == (86_430, 86_420)
    assert all(item["value"] <= caliper.MAX_SECONDS_PER_METRIC for e in events for item in e["generated"]["items"])
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
    sent = seconds(time_events())
    attempt.active_seconds = 250
    attempt.save()
    assert (sent, seconds(time_events())) == ((100, 0), (250, 0))  # the 150 s added go out too


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
    # app's operations), whose course row reads the course's masterable units
    # (course completion).
    with django_assert_max_num_queries(9):
        partial.save()
    assert Attempt.objects.get(pk=attempt.pk).active_seconds == 5


# -- windows: each TimeSpentEvent covers at most TIME_WINDOW_SECONDS of wall-clock time ----------------


def window_of(event):
    """(start, end) of a TimeSpentEvent, from its metrics (each carries the same window)."""
    (first, *rest) = event["generated"]["items"]
    assert all((i["start_date"], i["end_date"]) == (first["start_date"], first["end_date"]) for i in rest)
    return first["start_date"], first["end_date"]


def test_a_flush_is_cut_into_dated_windows(student, activity, window):
    started = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    attempt = attempts.start_attempt(student, activity, started_at=started)
    # The last report came 70 s after the start, with 50 s active and 20 s inactive; the sweeper flushes it.
    Attempt.objects.filter(pk=attempt.pk).update(
        active_seconds=50, inactive_seconds=20, updated_at=started + timedelta(seconds=70))
    assert writing.flush_idle_time() == 5
    events = time_events(attempt)
    # Windows of at most 15 s counted back from the report (the oldest is short); active fills the latest first.
    assert [seconds([e]) for e in events] == [(0, 10), (5, 10), (15, 0), (15, 0), (15, 0)]
    bounds = [0, 10, 25, 40, 55, 70]
    at = [caliper.isoformat(started + timedelta(seconds=s)) for s in bounds]
    assert [window_of(e) for e in events] == list(zip(at, at[1:]))
    assert [e["eventTime"] for e in events] == at[1:]  # each dated at its window's end
    assert [e["id"] for e in events] == [f"urn:uuid:{attempt.derived_uuid(f'time-spent/{n}')}" for n in range(5)]
    attempt.refresh_from_db()
    assert (attempt.time_events_sent, attempt.time_reported_until) == (5, started + timedelta(seconds=70))
    # The next flush starts where this one ended (60 s in 45 s of wall-clock time: spread over those
    # 45 s, never over the windows already sent) and numbers its windows on.
    Attempt.objects.filter(pk=attempt.pk).update(active_seconds=110, updated_at=started + timedelta(seconds=115))
    assert writing.flush_idle_time() == 3
    later = time_events(attempt)[5:]
    assert [window_of(e)[0] for e in later] == [caliper.isoformat(started + timedelta(seconds=s)) for s in (70, 85, 100)]
    assert [seconds([e]) for e in later] == [(20, 0)] * 3
    assert [e["id"] for e in later] == [f"urn:uuid:{attempt.derived_uuid(f'time-spent/{n}')}" for n in (5, 6, 7)]
    # Built again (a resend), a window has the same id: Timeback counts it once.
    attempt.refresh_from_db()
    again = caliper.time_spent_event(attempt, active_seconds=20, inactive_seconds=0, window=5,
                                     start=started + timedelta(seconds=70), end=started + timedelta(seconds=85))
    assert again == later[0]


def test_a_long_gap_makes_a_few_events_not_hundreds(student, activity, window):
    attempt = attempts.start_attempt(student, activity, started_at=timezone.now() - timedelta(hours=2))
    attempts.add_time(attempt, active_seconds=60)
    events = time_events(attempt)
    assert [seconds([e]) for e in events] == [(15, 0)] * 4
    attempt.refresh_from_db()
    assert window_of(events[-1])[1] == caliper.isoformat(attempt.time_reported_until)


def test_more_time_than_wall_clock_is_spread_not_dropped(student, activity, window):
    """A record whose seconds exceed completedAt - startedAt: every second still reaches Timeback."""
    started = timezone.now() - timedelta(minutes=5)
    attempt = attempts.record_attempt(
        student, activity, started_at=started, completed_at=started + timedelta(seconds=30),
        total_questions=2, correct_questions=2, active_seconds=100, inactive_seconds=11,
    )
    events = time_events(attempt)
    assert [seconds([e]) for e in events] == [(50, 5), (50, 6)]
    assert [window_of(e) for e in events] == [
        (caliper.isoformat(started), caliper.isoformat(started + timedelta(seconds=15))),
        (caliper.isoformat(started + timedelta(seconds=15)), caliper.isoformat(started + timedelta(seconds=30))),
    ]


def test_windows_put_time_on_the_day_it_was_spent(student, activity, window, settings):
    """A flush across midnight (the project's TIME_ZONE): the seconds before it count on the day before."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    settings.TIME_ZONE = "America/New_York"
    zone = ZoneInfo("America/New_York")
    before_midnight = datetime(2026, 3, 10, 23, 59, tzinfo=zone)
    attempt = attempts.start_attempt(student, activity, started_at=before_midnight)
    # The last report came at 00:01:05 with 2 minutes of time; the sweeper flushes it.
    reported = before_midnight + timedelta(minutes=2, seconds=5)
    Attempt.objects.filter(pk=attempt.pk).update(active_seconds=100, inactive_seconds=20, updated_at=reported)
    assert writing.flush_idle_time(now=reported + timedelta(seconds=window + 1)) == 8
    by_day, events = {}, time_events(attempt)
    for event in events:
        day = timezone.localdate(datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")))
        by_day[day] = tuple(map(sum, zip(by_day.get(day, (0, 0)), seconds([event]))))
    # Each window counts on the day it ends (its eventTime). Before windows: one event of 120 s dated
    # 00:01:05, all of it on the 11th. Now only the window 23:59:50-00:00:05 puts 10 s of the 10th on the 11th.
    assert by_day == {before_midnight.date(): (25, 20), reported.date(): (75, 0)}
    midnight = caliper.isoformat(datetime(2026, 3, 11, tzinfo=zone))  # 04:00Z (EDT)
    straddling = [window_of(e) for e in events if window_of(e)[0] < midnight < window_of(e)[1]]
    assert straddling == [("2026-03-11T03:59:50.000Z", "2026-03-11T04:00:05.000Z")]


def test_window_length_is_a_setting(student, activity, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TIME_FLUSH_SECONDS": 0, "TIME_WINDOW_SECONDS": 60}
    attempt = attempts.start_attempt(student, activity, started_at=timezone.now() - timedelta(minutes=3))
    attempts.add_time(attempt, active_seconds=150)
    assert [seconds([e]) for e in time_events(attempt)] == [(30, 0), (60, 0), (60, 0)]


def test_every_event_of_an_attempt_carries_its_session_and_course(student, activity, window):
    attempt = attempts.start_attempt(student, activity, started_at=timezone.now() - timedelta(minutes=1))
    attempts.add_time(attempt, active_seconds=40)
    attempts.complete_attempt(attempt, total_questions=2, correct_questions=2, active_seconds=30)
    events = [row.payload for row in Delivery.objects.filter(kind="caliper_event", attempt=attempt)]
    assert {e["type"] for e in events} == {"ActivityEvent", "TimeSpentEvent"} and len(events) > 2
    session = f"urn:uuid:{attempt.derived_uuid('session')}"
    assert {e["session"] for e in events} == {session}
    assert all(e["extensions"]["courseId"] == activity.course.sourced_id for e in events)
    other = attempts.record_attempt(student, activity, total_questions=1, correct_questions=1, active_seconds=5)
    assert caliper.activity_event(other)["session"] != session  # one session per attempt


def test_a_backfill_writes_at_most_the_flush_limit_of_windows(student, activity, settings):
    """A recorded day of time is not 5,760 outbox rows: its windows grow to fit TIME_WINDOWS_PER_FLUSH."""
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TIME_WINDOWS_PER_FLUSH": 240}
    attempts.record_attempt(student, activity, total_questions=1, correct_questions=1, active_seconds=86_400,
                            inactive_seconds=3_600, completed_at=timezone.now())
    events = time_events()
    assert len(events) <= 240 and seconds(events) == (86_400, 3_600)
    lengths = {(parse_datetime(window_of(e)[1]) - parse_datetime(window_of(e)[0])).total_seconds() for e in events}
    assert max(lengths) == 375  # 90,000 s over 240 windows
    # A short report keeps the vendor's 15 s windows.
    run = attempts.record_attempt(student, activity, total_questions=1, correct_questions=1, active_seconds=60)
    assert len(time_events(run)) == 4
