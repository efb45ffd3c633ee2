"""Cutting an attempt's unsent seconds into bounded time windows (pure, no database).

Timeback counts time on the day its events fall on. The vendor's browser SDK
reports one TimeSpentEvent per 15 s heartbeat, so its windows are short and
dated. The app receives time in reports of any size and flushes it in batches
(``TIME_FLUSH_SECONDS``); this module decides where, between the end of the
last window sent and the flush, those seconds are placed. See
docs/semantics/time-windows.md.
"""

import math
from collections import namedtuple
from datetime import UTC, datetime, time, timedelta

Window = namedtuple("Window", "start end active inactive")
MILLISECOND = timedelta(milliseconds=1)


def split_seconds(start, end, active, inactive, *, length, cap, day_zone=None):
    """The windows, oldest first, that carry ``active`` + ``inactive`` seconds spent between ``start`` and ``end``.

    The span is cut into consecutive windows of at most ``length`` seconds,
    counted back from ``end``; with ``day_zone`` (a tzinfo) windows are also
    cut at each local midnight, so none spans two days (a window ends a
    millisecond short of a midnight, so that its end is on its day, even
    when the flush itself comes at midnight).
    Seconds fill the windows from the latest backwards, each window taking at
    most its own length (active first, then inactive): a report is about the
    time just before it. Windows that get nothing are left out, so a long gap costs no
    events. Seconds that do not fit (more reported than wall-clock time) are
    spread evenly over the span's windows, latest first for the remainder,
    never dropped; should even that exceed ``cap`` (the most one metric of
    one event may carry: ``caliper.MAX_SECONDS_PER_METRIC``) for a metric,
    further windows of no duration at ``end`` take the rest. A flush dated
    before ``start`` (a completion dated in the past) is the instant ``end``.

    The windows' seconds always add up to ``active`` and ``inactive``.
    """
    if active < 0 or inactive < 0 or length <= 0:
        raise ValueError("seconds must be >= 0 and the window length > 0")
    start = min(start, end)
    bounds, filled = [], []  # latest first
    rest_active, rest_inactive = active, inactive
    w_end = end
    while rest_active or rest_inactive:
        if day_zone is not None and w_end > start and is_day_start(w_end, day_zone):
            # A window never ends on a midnight but a millisecond (the wire's precision) short of
            # it: its end, and so its eventTime, falls on the day it covers.
            w_end = max(start, w_end - MILLISECOND)
        w_start = max(start, w_end - timedelta(seconds=length))
        midnight = midnight_before(w_end, day_zone) if day_zone is not None else None
        if midnight is not None and midnight >= w_start:
            w_start = midnight
        # Whole seconds the window holds, to the millisecond: the one before a midnight loses none.
        room = math.floor((w_end - w_start + MILLISECOND).total_seconds())
        took_active = min(rest_active, room)
        took_inactive = min(rest_inactive, room - took_active)
        rest_active, rest_inactive = rest_active - took_active, rest_inactive - took_inactive
        bounds.append((w_start, w_end))
        filled.append([took_active, took_inactive])
        if w_start <= start:
            break
        w_end = w_start
    if rest_active or rest_inactive:  # every window of the span is full (all were visited)
        count = len(bounds)
        for metric, rest in ((0, rest_active), (1, rest_inactive)):
            column = spread_evenly([row[metric] for row in filled], rest, cap=cap)
            while len(filled) < len(column):
                bounds.append((end, end))
                filled.append([0, 0])
            for row, value in zip(filled, column):
                row[metric] = value
        # Extra instants (appended last) are the latest of all: move them to the front of this latest-first list.
        bounds, filled = bounds[count:] + bounds[:count], filled[count:] + filled[:count]
    return [
        Window(w_start, w_end, a, i)
        for (w_start, w_end), (a, i) in reversed(list(zip(bounds, filled)))
        if a or i
    ]


def is_day_start(moment, zone):
    """Whether ``moment`` is the first instant of a day in ``zone`` (its midnight, or 01:00 where DST skips it)."""
    return midnight_before(moment + timedelta(microseconds=1), zone) == moment


def midnight_before(moment, zone):
    """The latest start of a day in ``zone`` strictly before ``moment`` (an aware datetime), in UTC.

    Where a DST change skips midnight, the day starts at the first instant it has.
    """
    day = moment.astimezone(zone).date()
    midnight = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    if midnight >= moment:
        midnight = datetime.combine(day - timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return midnight


def spread_evenly(values, extra, *, cap):
    """``values`` (latest first) with ``extra`` added evenly, none above ``cap``.

    The remainder of an uneven share goes to the latest. Entries are appended
    (starting at 0) while the existing ones cannot take the rest under ``cap``.
    """
    values = list(values)
    while extra > sum(cap - v for v in values):
        values.append(0)
    while extra > 0:
        open_ = [i for i, v in enumerate(values) if v < cap]
        share, remainder = divmod(extra, len(open_))
        for n, i in enumerate(open_):
            add = min(cap - values[i], share + (1 if n < remainder else 0))
            values[i] += add
            extra -= add
    return values
