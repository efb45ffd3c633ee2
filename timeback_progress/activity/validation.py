"""The request rules of ``activity/heartbeat`` and ``activity/submit``: pure functions.

First the vendor's own rules, in its order (``timeback/server/handlers/
activity/schema.py``: ``validate_heartbeat_request``, ``validate_submit_request``),
so every body its validators refuse is refused here too, with the same field
and message (``tests/test_activity_vendor.py`` holds the vendor to it on
Python >= 3.12). Then this app's bounds, which the vendor leaves to its
server (each refuses what the gradebook could not take, before anything is
written): an activity id the mirror can hold, windows that end after they
start and hold no more time than they last, timestamps neither before 2000
nor in the future, and the question counts a completion needs.
"""

import datetime as dt
import math
import re
import uuid
from dataclasses import dataclass

from django.utils.translation import gettext as _

from .. import limits
from ..conf import app_settings
from ..gradebook.attempts import MAX_SECONDS_PER_CALL
from .errors import invalid

# The vendor's patterns, with [0-9] for \d (which also matches other scripts' digits) and
# fullmatch for $ (which also matches before a final newline): both refuse strictly more.
ISO_DATETIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
SUBJECTS = ("Math", "Reading", "Science", "Social Studies", "Writing", "Other")  # the vendor's enum, as it lists it
MAX_ID_LENGTH = 255  # Activity.activity_id
MAX_WINDOW_MS = MAX_SECONDS_PER_CALL * 1000
# A window's reported milliseconds may pass its length by this much (the page times both with one clock).
WINDOW_SLACK_MS = 1000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Selector:
    """The course selector: ``{subject, grade}`` (grade-based) or ``{code}`` (grade-less)."""

    subject: str = ""
    grade: int | None = None
    code: str = ""


@dataclass(frozen=True)
class Heartbeat:
    activity_id: str
    selector: Selector
    run_id: uuid.UUID
    started_at: dt.datetime
    ended_at: dt.datetime
    start_ms: int  # the vendor's window key: ``{runId}:{windowStartMs}``
    active_ms: int
    inactive_ms: int


@dataclass(frozen=True)
class Submit:
    activity_id: str
    selector: Selector
    run_id: uuid.UUID
    ended_at: dt.datetime
    total_questions: int
    correct_questions: int
    xp_earned: float  # the page's figure: used only with ACTIVITY_TRUST_CLIENT_XP


def _str(body, field):
    value = body.get(field)
    if not isinstance(value, str) or value.strip() == "":
        raise invalid(field, _("Required"))
    return value.strip()


def _moment(body, field):
    value = body.get(field)
    if value is None:
        raise invalid(field, _("Required"))
    match = ISO_DATETIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise invalid(field, _("Invalid datetime"))
    whole, fraction, offset = match.groups()
    try:
        moment = dt.datetime.fromisoformat(
            f"{whole}.{(fraction or '').ljust(6, '0')[:6]}{'+00:00' if offset == 'Z' else offset}"
        )
    except ValueError:  # the pattern admits month 13, hour 25
        raise invalid(field, _("Invalid datetime")) from None
    problem = limits.timestamp_problem(moment, dt.datetime.now(dt.timezone.utc), app_settings.TIME_TOLERANCE_SECONDS)
    if problem:
        raise invalid(field, _("Before 2000") if problem == "too_early" else _("In the future"))
    return moment


def _count(mapping, field, shown, *, required=True):
    """A nonnegative integer (not a bool); ``shown`` is the field's name in the error."""
    if field not in mapping or (not required and mapping.get(field) is None):
        if required:
            raise invalid(shown, _("Required"))
        return None
    value = mapping[field]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise invalid(shown, _("Expected nonnegative integer"))
    return value


def _selector(course):
    code = course.get("code")
    if "code" in course and code:
        if not isinstance(code, str) or code.strip() == "":
            raise invalid("course.code", _("Expected non-empty string"))
        return Selector(code=code.strip())
    subject = course.get("subject")
    if not subject or not isinstance(subject, str):
        raise invalid("course.subject", _("Required"))
    grade = course.get("grade")
    if grade is None:
        raise invalid("course", _("Must have either 'code' (grade-less) or 'subject'+'grade' (grade-based)"))
    if not isinstance(grade, int) or isinstance(grade, bool):
        raise invalid("course.grade", _("Expected integer"))
    if subject not in SUBJECTS:
        raise invalid("course.subject", _("Invalid enum value. Expected %(values)s")
                      % {"values": " | ".join(repr(s) for s in sorted(SUBJECTS))})
    if not 0 <= grade <= 12:
        raise invalid("course.grade", _("Number must be between 0 and 12"))
    return Selector(subject=subject, grade=grade)


def _common(body):
    """``id``, ``name``, ``course``, ``runId``: the vendor's ``_validate_common_fields``."""
    if not isinstance(body, dict):
        raise invalid("body", _("Expected object"))
    activity_id = _str(body, "id")
    _str(body, "name")  # required by the vendor; the mirror's Activity.name is what is sent
    if not body.get("course"):
        raise invalid("course", _("Required"))
    if not isinstance(body["course"], dict):
        raise invalid("course", _("Expected object"))
    selector = _selector(body["course"])
    run_id = body.get("runId")
    if run_id is None:
        raise invalid("runId", _("Required"))
    if not isinstance(run_id, str) or not UUID_TEXT.fullmatch(run_id):
        raise invalid("runId", _("Expected UUID"))
    if len(activity_id) > MAX_ID_LENGTH:
        raise invalid("id", _("At most %(n)d characters") % {"n": MAX_ID_LENGTH})
    return activity_id, selector, uuid.UUID(run_id)


def heartbeat(body):
    """A ``Heartbeat``, or ``ProtocolError`` (400).

    Active time is ``elapsedMs`` (the vendor's "active time, excluding paused
    time", sent as Caliper's ``active``). Inactive time is ``pausedMs``, as the
    vendor sends it (Caliper's ``inactive``; this app's kit sends visible but
    idle time there and leaves hidden time out), unless the page also sends
    ``idleMs``: then inactive is ``idleMs`` (visible, no input) and
    ``pausedMs`` (hidden, paused, asleep) is not counted.
    """
    activity_id, selector, run_id = _common(body)
    started_at, ended_at = _moment(body, "startedAt"), _moment(body, "endedAt")
    elapsed, paused = _count(body, "elapsedMs", "elapsedMs"), _count(body, "pausedMs", "pausedMs")
    idle = _count(body, "idleMs", "idleMs", required=False)
    if ended_at < started_at:
        raise invalid("endedAt", _("Before startedAt"))
    length_ms = (ended_at - started_at) // dt.timedelta(milliseconds=1)
    if elapsed + paused + (idle or 0) > length_ms + WINDOW_SLACK_MS:
        raise invalid("elapsedMs", _("More time than the window from startedAt to endedAt holds"))
    inactive = paused if idle is None else idle
    if max(elapsed, inactive) > MAX_WINDOW_MS:
        raise invalid("elapsedMs", _("At most %(n)d per heartbeat") % {"n": MAX_WINDOW_MS})
    return Heartbeat(
        activity_id=activity_id, selector=selector, run_id=run_id, started_at=started_at, ended_at=ended_at,
        start_ms=(started_at - EPOCH) // dt.timedelta(milliseconds=1), active_ms=elapsed, inactive_ms=inactive,
    )


def submit(body):
    """A ``Submit``, or ``ProtocolError`` (400): the vendor's rules, then the counts a completion needs."""
    activity_id, selector, run_id = _common(body)
    ended_at = _moment(body, "endedAt")
    process = body.get("process")
    if process is not None and not isinstance(process, bool):
        raise invalid("process", _("Expected boolean"))
    pct = body.get("pctComplete")
    if pct is not None and (not isinstance(pct, (int, float)) or isinstance(pct, bool)):
        raise invalid("pctComplete", _("Expected number"))
    if "metrics" not in body:
        raise invalid("metrics", _("Required"))
    metrics = body["metrics"]
    if not isinstance(metrics, dict):
        raise invalid("metrics", _("Expected object"))
    xp = metrics.get("xpEarned")
    if xp is None:
        raise invalid("metrics.xpEarned", _("Required"))
    if not isinstance(xp, (int, float)) or isinstance(xp, bool):
        raise invalid("metrics.xpEarned", _("Expected number"))
    counts = {f: _count(metrics, f, f"metrics.{f}", required=False) for f in ("totalQuestions", "correctQuestions", "masteredUnits")}
    total, correct = counts["totalQuestions"], counts["correctQuestions"]
    if (total is None) != (correct is None):
        raise invalid("metrics", _("totalQuestions and correctQuestions must be provided together."))
    if total is not None and correct > total:
        raise invalid("metrics.correctQuestions", _("correctQuestions cannot exceed totalQuestions."))
    # This app's bounds: XP is computed from the counts, so a completion needs them.
    if total is None:
        raise invalid("metrics", _("totalQuestions and correctQuestions are required by this server (XP is computed from them)."))
    if total > app_settings.API_MAX_QUESTIONS:
        raise invalid("metrics.totalQuestions", _("At most %(n)d") % {"n": app_settings.API_MAX_QUESTIONS})
    if not math.isfinite(xp):
        raise invalid("metrics.xpEarned", _("Expected a finite number"))
    return Submit(
        activity_id=activity_id, selector=selector, run_id=run_id, ended_at=ended_at,
        total_questions=total, correct_questions=correct, xp_earned=xp,
    )
