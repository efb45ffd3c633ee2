"""Reading one OneRoster record: its fields checked one by one, its subject and role mapped.

Each reader raises ``Invalid`` with a message that says what is wrong, so the
import skips that record alone, reports why, and goes on.
"""

from datetime import datetime, timezone as dt_timezone

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ..subjects import SETTING as SUBJECT_SETTING, SUBJECTS, to_timeback


class RosterError(Exception):
    """The import cannot run as asked (bad --since, for instance)."""


class Invalid(Exception):
    """One record is unusable; the message says why."""


def parse_since(text):
    """An aware datetime from an ISO 8601 date or date-time (naive means UTC); raises RosterError."""
    try:
        value = parse_datetime(text)
        if value is None and parse_date(text) is not None:
            value = datetime.combine(parse_date(text), datetime.min.time())
    except ValueError:
        value = None
    if value is None:
        raise RosterError(f"--since must be an ISO 8601 date or date-time (e.g. 2025-08-01T00:00:00Z), not {text!r}")
    return value if timezone.is_aware(value) else value.replace(tzinfo=dt_timezone.utc)


def record_text(record, key, *, required=False, max_length=255):
    value = record.get(key)
    if value is None or value == "":
        if required:
            raise Invalid(f"{key} is missing")
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{key} must be a string, not {type(value).__name__}")
    if len(value) > max_length:
        raise Invalid(f"{key} is longer than {max_length} characters")
    return value


def record_ref(record, key):
    """The sourcedId a reference (``{"sourcedId": ...}``) points at; raises Invalid."""
    value = record.get(key)
    sourced_id = value.get("sourcedId") if isinstance(value, dict) else None
    if not isinstance(sourced_id, str) or not sourced_id:
        raise Invalid(f"{key}.sourcedId is missing")
    return sourced_id


def record_ref_or_none(record, key):
    """Like ``record_ref``, but None for a bad reference (to gather ids before validating)."""
    value = record.get(key)
    return value.get("sourcedId") if isinstance(value, dict) and isinstance(value.get("sourcedId"), str) else None


def record_header(record):
    """``(sourcedId, is_active, dateLastModified)`` of any OneRoster record."""
    if not isinstance(record, dict):
        raise Invalid(f"the record is a {type(record).__name__}, not an object")
    sourced_id = record_text(record, "sourcedId", required=True)
    status = record.get("status")
    if status not in ("active", "tobedeleted"):
        raise Invalid(f"status must be 'active' or 'tobedeleted', not {status!r}")
    stamp = record.get("dateLastModified")
    try:
        modified = parse_datetime(stamp) if isinstance(stamp, str) else None
    except ValueError:
        modified = None
    if modified is None or timezone.is_naive(modified):
        raise Invalid(f"dateLastModified must be an ISO 8601 date-time with a zone, not {stamp!r}")
    return sourced_id, status == "active", modified


def record_count(record, key):
    """A metadata count (``totalXp``...): an integer >= 0, or None when absent."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid(f"metadata.{key} must be an integer >= 0, not {value!r}")
    return value


def map_subject(subjects):
    """The Timeback subject of a course: the first of its ``subjects`` that maps (``subjects.to_timeback``).

    No subjects (OneRoster does not require them) is ``Other``; a list none of
    which maps is refused, so the course is skipped and reported here rather
    than its events being rejected by Timeback later.
    """
    if subjects is None or subjects == []:
        return "Other"
    if not isinstance(subjects, list) or not all(isinstance(s, str) for s in subjects):
        raise Invalid("subjects must be a list of strings")
    for subject in subjects:
        try:
            return to_timeback(subject)
        except ValidationError:
            continue
    shown = repr(subjects)
    shown = shown if len(shown) <= 200 else shown[:197] + "..."
    raise Invalid(f"no subject in {shown} is a Timeback subject ({', '.join(SUBJECTS)}) "
                  f"or a {SUBJECT_SETTING} key whose value is one")


def user_role(record):
    """The primary role of a OneRoster 1.2 user (``roles``), or 1.1's ``role``."""
    roles = record.get("roles")
    if isinstance(roles, list) and roles:
        entries = [r for r in roles if isinstance(r, dict)]
        primary = [r for r in entries if r.get("roleType") == "primary"] or entries
        return primary[0].get("role") if primary else None
    return record.get("role")
