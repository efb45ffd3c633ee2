"""``outbox.windows.split_seconds``: where unsent seconds are placed between two instants (pure, no database).

The outbox tests (tests/test_time_windows.py) check the TimeSpentEvents built
from these windows; here the placement rules are checked on their own.
"""

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timeback_progress.outbox.windows import MILLISECOND, Window, split_seconds, spread_evenly

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CAP = 86_400


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def split(start, end, active, inactive, *, length=15, cap=CAP):
    return split_seconds(at(start), at(end), active, inactive, length=length, cap=cap)


def test_a_span_is_cut_into_windows_ending_at_the_flush():
    assert split(0, 60, 45, 15) == [
        Window(at(0), at(15), 0, 15), Window(at(15), at(30), 15, 0), Window(at(30), at(45), 15, 0),
        Window(at(45), at(60), 15, 0),
    ]


def test_the_oldest_window_takes_the_part_that_is_not_a_full_length():
    # 40 s of span: windows 25-40, 10-25 and the short 0-10.
    assert split(0, 40, 34, 0) == [Window(at(0), at(10), 4, 0), Window(at(10), at(25), 15, 0), Window(at(25), at(40), 15, 0)]


def test_seconds_fill_the_latest_windows_active_first_then_inactive():
    assert split(0, 60, 20, 7) == [Window(at(30), at(45), 5, 7), Window(at(45), at(60), 15, 0)]


def test_a_long_gap_costs_no_events():
    """Two hours between reports, 30 s reported: 2 windows, not 480."""
    assert split(0, 7200, 30, 0) == [Window(at(7170), at(7185), 15, 0), Window(at(7185), at(7200), 15, 0)]
    assert len(split(0, 7200, 31, 5)) == 3


def test_more_seconds_than_wall_clock_are_spread_evenly_never_dropped():
    # 30 s of span, 100 s active: each window is full (15), the other 70 go 35 + 35.
    assert split(0, 30, 100, 0) == [Window(at(0), at(15), 50, 0), Window(at(15), at(30), 50, 0)]
    # An odd remainder goes to the latest window; inactive is spread the same way.
    assert split(0, 30, 31, 11) == [Window(at(0), at(15), 15, 5), Window(at(15), at(30), 16, 6)]


def test_an_instant_takes_everything_and_the_cap_adds_windows_at_the_end():
    assert split(60, 60, 300, 0) == [Window(at(60), at(60), 300, 0)]
    # A record whose seconds exceed the per-metric cap in no wall-clock time at all.
    assert split(60, 60, CAP + 30, 20) == [Window(at(60), at(60), CAP // 2 + 15, 10), Window(at(60), at(60), CAP // 2 + 15, 10)]
    windows = split(0, 30, 3 * CAP, 0)
    assert [w.active for w in windows] == [CAP, CAP, CAP] and [w.end for w in windows] == [at(15), at(30), at(30)]


def test_a_flush_dated_before_the_last_window_is_the_flush_instant():
    """A completion dated in the past (a backfill): its seconds land on the completion's time."""
    assert split(100, 40, 50, 10) == [Window(at(40), at(40), 50, 10)]


def test_windows_of_another_length():
    assert split(0, 120, 100, 0, length=60) == [Window(at(0), at(60), 40, 0), Window(at(60), at(120), 60, 0)]


def test_bad_arguments_are_refused():
    for args in ((-1, 0), (0, -1)):
        with pytest.raises(ValueError):
            split(0, 10, *args)
    with pytest.raises(ValueError):
        split(0, 10, 1, 1, length=0)


def test_spread_evenly_keeps_under_the_cap():
    assert spread_evenly([10, 10], 20, cap=100) == [20, 20]
    assert spread_evenly([10, 10], 21, cap=100) == [21, 20]
    assert spread_evenly([95, 0], 20, cap=100) == [100, 15]
    assert spread_evenly([100], 150, cap=100) == [100, 75, 75]  # new entries, shared evenly


def test_windows_stop_at_midnight_in_the_zone_given():
    zone = ZoneInfo("America/New_York")
    start = datetime(2026, 3, 10, 23, 59, 30, tzinfo=zone)
    windows = split_seconds(start, start + timedelta(seconds=60), 60, 0, length=15, cap=CAP, day_zone=zone)
    local = [(w.start.astimezone(zone).time().isoformat(), w.end.astimezone(zone).time().isoformat(), w.active)
             for w in windows]
    # The window before midnight ends a millisecond short of it: its eventTime is on the 10th.
    # So does a flush that comes exactly at midnight.
    at_midnight = split_seconds(start, start + timedelta(seconds=30), 30, 0, length=15, cap=CAP, day_zone=zone)
    assert [w.end.astimezone(zone).time().isoformat() for w in at_midnight] == ["23:59:44.999000", "23:59:59.999000"]
    # Where DST skips midnight (Santiago, 2026-09-06: 23:59:59 is followed by 01:00), the day starts at 01:00.
    santiago = ZoneInfo("America/Santiago")
    skip = datetime(2026, 9, 6, 4, tzinfo=UTC)  # 01:00 local, the first instant of the 6th
    windows = split_seconds(skip - timedelta(seconds=20), skip + timedelta(seconds=20), 40, 0, length=15, cap=CAP,
                            day_zone=santiago)
    assert [(w.start.astimezone(santiago).isoformat(), w.end.astimezone(santiago).isoformat()) for w in windows] == [
        ("2026-09-05T23:59:40-04:00", "2026-09-05T23:59:44.999000-04:00"),
        ("2026-09-05T23:59:44.999000-04:00", "2026-09-05T23:59:59.999000-04:00"),
        ("2026-09-06T01:00:00-03:00", "2026-09-06T01:00:05-03:00"),
        ("2026-09-06T01:00:05-03:00", "2026-09-06T01:00:20-03:00"),
    ]
    assert local == [
        ("23:59:30", "23:59:44.999000", 15), ("23:59:44.999000", "23:59:59.999000", 15),
        ("00:00:00", "00:00:15", 15), ("00:00:15", "00:00:30", 15),
    ]


@settings(max_examples=400, deadline=None)
@given(
    span=st.one_of(st.integers(-600, 0), st.integers(0, 400_000), st.floats(0, 100, allow_nan=False)),
    active=st.one_of(st.integers(0, 200), st.integers(0, 3 * CAP)),
    inactive=st.one_of(st.integers(0, 200), st.integers(0, 3 * CAP)),
    length=st.integers(1, 120),
    offset=st.integers(0, 86_399),
    # Santiago: DST begins at midnight on 2026-09-06 (there is no 00:00) and ends at midnight on 2026-04-05.
    base=st.sampled_from([T0, datetime(2026, 9, 5, 12, tzinfo=UTC), datetime(2026, 4, 4, 12, tzinfo=UTC)]),
    zone=st.sampled_from([None, UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"), ZoneInfo("America/Santiago")]),
)
def test_windows_always_carry_exactly_the_seconds(span, active, inactive, length, offset, base, zone):
    start = base + timedelta(seconds=offset)
    end = start + timedelta(seconds=span)
    windows = split_seconds(start, end, active, inactive, length=length, cap=CAP, day_zone=zone)
    assert sum(w.active for w in windows) == active
    assert sum(w.inactive for w in windows) == inactive
    if not active + inactive:
        assert windows == []
        return
    # The next window starts where this flush ends (a millisecond short of it, if it ends on a midnight).
    assert windows[-1].end == end or (zone is not None and windows[-1].end == end - MILLISECOND)
    for window, following in zip(windows, windows[1:]):
        assert window.end <= following.start  # consecutive, oldest first, never overlapping
    for w in windows:
        assert w.active or w.inactive  # no empty event
        assert 0 <= w.active <= CAP and 0 <= w.inactive <= CAP
        assert min(start, end) <= w.start <= w.end <= end
        assert (w.end - w.start).total_seconds() <= length
        if zone is not None:  # a window never spans two local days, by its start or its end
            assert w.start.astimezone(zone).date() == w.end.astimezone(zone).date()
    # Room is lost only to rounding (the oldest window, those around a midnight): if it clearly fits,
    # no window holds more than its own length (to the millisecond).
    if active + inactive <= math.floor(max(0, span)) - 3 - int(max(0, span) // 86_400):
        assert all(w.active + w.inactive <= (w.end - w.start + MILLISECOND).total_seconds() for w in windows)
