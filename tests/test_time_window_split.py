"""``outbox.windows.split_seconds``: where unsent seconds are placed between two instants (pure, no database).

The outbox tests (tests/test_time_windows.py) check the TimeSpentEvents built
from these windows; here the placement rules are checked on their own.
"""

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timeback_progress.outbox.windows import Window, split_seconds, spread_evenly

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


@settings(max_examples=400, deadline=None)
@given(
    span=st.one_of(st.integers(-600, 0), st.integers(0, 400_000), st.floats(0, 100, allow_nan=False)),
    active=st.one_of(st.integers(0, 200), st.integers(0, 3 * CAP)),
    inactive=st.one_of(st.integers(0, 200), st.integers(0, 3 * CAP)),
    length=st.integers(1, 120),
    offset=st.floats(0, 86_400, allow_nan=False),
)
def test_windows_always_carry_exactly_the_seconds(span, active, inactive, length, offset):
    start = T0 + timedelta(seconds=offset)
    end = start + timedelta(seconds=span)
    windows = split_seconds(start, end, active, inactive, length=length, cap=CAP)
    assert sum(w.active for w in windows) == active
    assert sum(w.inactive for w in windows) == inactive
    if not active + inactive:
        assert windows == []
        return
    assert windows[-1].end == end  # the next window starts where this flush ends
    for window, following in zip(windows, windows[1:]):
        assert window.end <= following.start  # consecutive, oldest first, never overlapping
    for w in windows:
        assert w.active or w.inactive  # no empty event
        assert 0 <= w.active <= CAP and 0 <= w.inactive <= CAP
        assert min(start, end) <= w.start <= w.end <= end
        assert (w.end - w.start).total_seconds() <= length
    # Room is lost only to rounding the oldest window down: if it fits, no window holds more than its length.
    if active + inactive <= math.floor(max(0, span)) - 1:
        assert all(w.active + w.inactive <= (w.end - w.start).total_seconds() for w in windows)
    # How many windows depends on the span and the seconds, never on the time of day.
    moved = split_seconds(start + timedelta(hours=7, seconds=0.3), end + timedelta(hours=7, seconds=0.3), active,
                          inactive, length=length, cap=CAP)
    assert [(w.active, w.inactive) for w in moved] == [(w.active, w.inactive) for w in windows]
