"""Streamed CSV with spreadsheet formula injection escaped.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return as a formula, so a student named ``=HYPERLINK(...)``
could attack the teacher who opens the export. ``escape_cell`` prefixes such
cells with an apostrophe (OWASP's advice); ``csv_rows`` yields encoded lines
one at a time so a ``StreamingHttpResponse`` never holds the whole file.

Public API (the admin's CSV export uses it too)::

    escape_cell(value) -> str
    csv_rows(header, rows) -> iterator of str lines
    streaming_csv_response(filename, header, rows) -> StreamingHttpResponse
"""

import csv
from datetime import datetime
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import timezone

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value):
    """The text of ``value`` for a CSV cell, neutralised if it could run as a formula.

    ``None`` becomes an empty cell; aware datetimes are written in ISO 8601.
    Numbers are left alone (a negative number is data, not a formula).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return _timestamp(value)
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _timestamp(moment):
    """ISO 8601 in local time; in UTC if local time is past Python's range (a stored year 1 or 9999),
    so one such row cannot break a download half-way (the stream has started: no error page then)."""
    if timezone.is_aware(moment):
        try:
            moment = timezone.localtime(moment)
        except OverflowError:
            pass
    return moment.isoformat(timespec="seconds")


class _Echo:
    """A file-like object whose ``write`` returns what it was given."""

    def write(self, value):
        return value


def csv_rows(header, rows):
    """Yield the CSV lines of ``header`` then each row, every cell escaped."""
    writer = csv.writer(_Echo())
    if header:
        yield writer.writerow([escape_cell(c) for c in header])
    for row in rows:
        yield writer.writerow([escape_cell(c) for c in row])


def streaming_csv_response(filename, header, rows):
    """A streamed ``text/csv`` download of ``rows`` (any iterable, read lazily)."""
    response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv; charset=utf-8")
    safe = "".join(c for c in filename if c.isalnum() or c in "-_.") or "export.csv"
    response["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response
