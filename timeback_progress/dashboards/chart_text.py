"""The text alternative of an XP chart: a one-sentence summary and the table of the numbers it draws.

A chart drawn on a canvas says nothing to a screen reader, and nothing to
anyone when JavaScript or Chart.js is off. The pages therefore render, from
the very dict they hand to the chart (``{"labels": [iso days], "xp": [...],
"cumulative": [...]?}``), a sentence (range, total, best day) that the
canvas points to with ``aria-describedby``, and the day-by-day numbers in a
table behind a ``<details>``. Pure functions: no query, no template.
"""

import datetime as dt
from decimal import Decimal

from django.utils import formats
from django.utils.translation import gettext, gettext_lazy as _

# The chart dict's series, in the order the table shows them, with their column heading.
SERIES = (("xp", _("XP that day")), ("cumulative", _("Total XP")))


def day(label):
    return formats.date_format(dt.date.fromisoformat(label), "SHORT_DATE_FORMAT")


def number(value):
    return formats.number_format(Decimal(str(value)), decimal_pos=1, use_l10n=True, force_grouping=True)


def summary(chart, title):
    """``"XP per day, 11/01/2026 – 11/30/2026: total 1,234.0, highest 98.0 on 11/12/2026."``

    The total is the sum of the daily values (what the bars add up to); the
    highest day is the first one with the largest value. None for an empty chart.
    """
    labels, values = chart.get("labels") or [], chart.get("xp") or []
    if not labels:
        return None
    total = sum(Decimal(str(v)) for v in values)
    peak = max(range(len(values)), key=lambda i: (values[i], -i)) if values else None
    params = {"title": title, "first": day(labels[0]), "last": day(labels[-1]), "total": number(total)}
    if peak is None or not values[peak]:
        return gettext("%(title)s, %(first)s – %(last)s: total %(total)s.") % params
    params.update(peak=number(values[peak]), peak_day=day(labels[peak]))
    return gettext("%(title)s, %(first)s – %(last)s: total %(total)s, highest %(peak)s on %(peak_day)s.") % params


def table(chart):
    """``(headings, rows)``: the day column's and each present series' headings, and one row per day."""
    series = [(key, heading) for key, heading in SERIES if chart.get(key) is not None]
    headings = [gettext("Day")] + [str(heading) for _key, heading in series]
    rows = [
        [day(label)] + [number(chart[key][i]) for key, _heading in series]
        for i, label in enumerate(chart.get("labels") or [])
    ]
    return headings, rows
