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
from datetime import timedelta

Window = namedtuple("Window", "start end active inactive")


def split_seconds(start, end, active, inactive, *, length, cap):
    """The windows, oldest first, that carry ``active`` + ``inactive`` seconds spent between ``start`` and ``end``.

    The span is cut into consecutive windows of at most ``length`` seconds,
    counted back from ``end`` (only the oldest may be shorter), so how many
    there are depends on the span, not on the time of day. Seconds fill the
    windows from the latest backwards, each window taking at most its own
    length in whole seconds (active first, then inactive): a report is about
    the time just before it. Windows that get nothing are left out, so a long
    gap costs no events. Seconds that do not fit (more reported than
    wall-clock time) are spread evenly over the span's windows, latest first
    for the remainder, never dropped; should even that exceed ``cap`` (the
    most one metric of one event may carry: ``caliper.MAX_SECONDS_PER_METRIC``)
    for a metric, further windows of no duration at ``end`` take the rest. A
    flush dated before ``start`` (a completion dated in the past) is the
    instant ``end``.

    The windows' seconds always add up to ``active`` and ``inactive``.
    """
    if active < 0 or inactive < 0 or length <= 0:
        raise ValueError("seconds must be >= 0 and the window length > 0")
    start = min(start, end)
    bounds, filled = [], []  # latest first
    rest_active, rest_inactive = active, inactive
    w_end = end
    while rest_active or rest_inactive:
        w_start = max(start, w_end - timedelta(seconds=length))
        room = math.floor((w_end - w_start).total_seconds())
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
