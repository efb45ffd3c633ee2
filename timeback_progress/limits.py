"""The bounds input must stay within, in one place (docs/api.md, docs/dashboards.md: "Input limits").

Python's dates end at year 1 and 9999 and the database's integers at 2**31 - 1
or 2**63 - 1; a value near an edge passes parsing and then breaks the
arithmetic after it (a day added to 9999-12-31, a time zone applied to
0001-01-01, a sum past the column). Each value is refused at the edge of the
system instead, with a message naming the bound.
"""

import datetime as dt

# Dashboard and export date filters (inclusive). Wide enough for any real school
# year, far enough from Python's and the databases' edges that a day or a
# time-zone offset added to either bound still computes.
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)

# Attempt timestamps given by a client (``startedAt``, ``completedAt``): nothing
# earlier is accepted, nothing later than now plus the ``TIME_TOLERANCE_SECONDS``
# setting (client clocks run a little ahead): ``timestamp_problem``.
EARLIEST_TIMESTAMP = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)

# An attempt's active and inactive seconds, each: one week. Far below the
# column's range (PositiveIntegerField, 2**31 - 1 on PostgreSQL: 68 years), so
# no sequence of time reports can overflow it; far above any real attempt.
# ``gradebook.attempts`` enforces it for every caller (and time never runs
# ahead of the wall clock since the start, ``TIME_TOLERANCE_SECONDS``).
MAX_ATTEMPT_SECONDS = 7 * 24 * 60 * 60

# Largest primary key or id a URL or query string may name (BigAutoField).
MAX_ID = 2**63 - 1


def timestamp_problem(moment, now, tolerance_seconds):
    """Why a client's timestamp is refused: ``"too_early"``, ``"too_late"`` or None.

    The one bound of ``startedAt``/``completedAt``, for the API's fields and the
    gradebook services alike, so both refuse the same instants.
    """
    if moment < EARLIEST_TIMESTAMP:
        return "too_early"
    if moment > now + dt.timedelta(seconds=tolerance_seconds):
        return "too_late"
    return None


def parse_id(value):
    """``value`` as a positive database id, or None (ASCII digits only: ``int("²")`` raises)."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None  # also spares int() a 5,000-digit string (Python refuses those with ValueError)
    number = int(text)
    return number if 0 < number <= MAX_ID else None
