"""Caliper 1.2 ``TimebackProfile`` event and envelope builders.

Builders are pure: they read model instances and return JSON-ready dicts.
Event ids are UUIDv5 derived from the attempt (see ``Attempt.derived_uuid``), so
a retry re-sends the same id and Timeback can de-duplicate.
"""

import logging
import uuid
from datetime import UTC, datetime

from django.core.exceptions import ValidationError

from ..conf import app_settings
from ..subjects import to_timeback
from .formats import isoformat, number

logger = logging.getLogger("timeback_progress.caliper")

CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2"
PROFILE = "TimebackProfile"
# Seconds one time metric may carry (the vendor SDK's cap per TimeSpentEvent).
MAX_SECONDS_PER_METRIC = 86_400


def rostering_url(kind, sourced_id):
    return f"{app_settings.API_URL}{app_settings.ROSTERING_PATH}/{kind}/{sourced_id}"


def caliper_subject(activity):
    """The activity's subject, already a Timeback one since ``SubjectField`` refuses anything else.

    A row written around the model (raw SQL, data from before subjects were
    checked) is mapped if it can be; if not, the event still goes out as
    ``Other``, so a student's completion never fails on it, and the error is
    logged naming the activity to fix.
    """
    try:
        return to_timeback(activity.subject)
    except ValidationError as exc:
        logger.error("Activity %s has subject %r, sent as Other: %s", activity.activity_id, activity.subject,
                     " ".join(exc.messages))
        return "Other"


def actor(student):
    data = {"id": rostering_url("users", student.sourced_id), "type": "TimebackUser", "email": student.email}
    if student.full_name:
        data["name"] = student.full_name
    data["role"] = "student"
    return data


def activity_context(activity, *, with_activity=True):
    course = activity.course
    data = {
        "id": activity.activity_id,
        "type": "TimebackActivityContext",
        "subject": caliper_subject(activity),
        "app": {"name": activity.app_name},
        "course": {"id": rostering_url("courses", course.sourced_id), "name": course.title},
    }
    if with_activity:
        data["activity"] = {"id": activity.activity_id, "name": activity.name}
    if app_settings.CALIPER_PROCESS:
        data["process"] = True
    return data


def session_id(attempt):
    """The Caliper ``session`` of every event of an attempt: the vendor's ``urn:uuid:{runId}``, stable per attempt."""
    return f"urn:uuid:{attempt.derived_uuid('session')}"


def _event(kind, event_id, attempt, event_time):
    """The fields every event of ``attempt`` carries, as the vendor's server SDK sends them.

    ``session`` ties an attempt's events together (the SDK's run id) and
    ``extensions.courseId`` names the course (its sourcedId), as in the SDK's
    ``build_session`` / ``build_time_spent_event`` (``handlers/activity/caliper.py``).
    ``extensions`` is a fresh dict: a builder adds its own keys with ``update``,
    keeping ``courseId``.
    """
    return {
        "@context": CONTEXT,
        "id": f"urn:uuid:{event_id}",
        "type": kind,
        "profile": PROFILE,
        "eventTime": isoformat(event_time),
        "actor": actor(attempt.student),
        "edApp": {"id": app_settings.SENSOR, "type": "SoftwareApplication"},
        "session": session_id(attempt),
        "extensions": {"courseId": attempt.activity.course.sourced_id},
    }


def activity_event(attempt, *, pct_complete=None):
    """``ActivityEvent`` (Completed) for a completed attempt: one per attempt, ever.

    ``generated.attempt`` is the attempt as Timeback counts it (``attempt_number``).
    A passive activity (watched, read) sends no question counts, only its XP,
    as the vendor's SDK leaves out the metrics an activity does not have.
    Question counts are whole questions (the vendor's SDK refuses fractions
    there); a fractional ``correctQuestions`` (partial credit) is rounded down
    here and kept exact in the result's metadata. ``pct_complete``: the
    student's course progress after this completion (``pctCompleteApp``).
    """
    event_id = attempt.derived_uuid("activity-event")
    items = []
    if attempt.activity.is_graded:
        items += [
            {"type": "totalQuestions", "value": attempt.total_questions or 0},
            {"type": "correctQuestions", "value": whole_questions(attempt.correct_questions)},
        ]
    items.append({"type": "xpEarned", "value": number(attempt.xp_earned)})
    if attempt.activity.is_graded or attempt.mastered_units:
        items.append({"type": "masteredUnits", "value": attempt.mastered_units})
    return _activity_event(attempt, event_id, attempt.completed_at, items, pct_complete)


def correction_event(attempt, *, xp_delta, mastered_delta, event_id, event_time, pct_complete=None):
    """A correction of an attempt already announced: the differences, marked as a correction.

    Sent events cannot change, so Timeback's sums move by what this one
    carries: ``xpEarned`` and ``masteredUnits`` differences (negative to take
    back; the vendor's Caliper model takes any number there), no question
    counts (those went with the completion). ``extensions.isCorrection`` and
    ``correctionOf`` (the completion's event id) say it is not a second
    completion of the run; ``generated.attempt`` and ``session`` stay the run's.
    """
    items = [
        {"type": "xpEarned", "value": number(xp_delta)},
        {"type": "masteredUnits", "value": mastered_delta},
    ]
    event = _activity_event(attempt, event_id, event_time, items, pct_complete)
    event.setdefault("extensions", {}).update(
        isCorrection=True, correctionOf=f"urn:uuid:{attempt.derived_uuid('activity-event')}"
    )
    # Never for Timeback to process: it would replace the attempt's result with the difference.
    event["object"].pop("process", None)
    return event


def whole_questions(value):
    """Whole questions for a Caliper metric: partial credit (8.5) rounds down (8)."""
    return int(value or 0)


def _activity_event(attempt, event_id, event_time, items, pct_complete):
    event = _event("ActivityEvent", event_id, attempt, event_time)
    event["action"] = "Completed"
    event["object"] = activity_context(attempt.activity)
    event["generated"] = {
        "id": f"urn:uuid:{uuid.uuid5(event_id, 'metrics')}",
        "type": "TimebackActivityMetricsCollection",
        "attempt": attempt.attempt_number or attempt.number,
        "items": items,
    }
    if pct_complete is not None:
        event["generated"]["extensions"] = {"pctCompleteApp": pct_complete}
    return event


def time_spent_event(attempt, *, active_seconds, inactive_seconds, window, start, end):
    """``TimeSpentEvent`` (SpentTime) for the seconds spent between ``start`` and ``end``.

    ``window`` numbers the attempt's windows (0, 1, ...): the id is
    deterministic per attempt and window, so a resend never double counts.
    Each metric carries the window as ``start_date`` / ``end_date``: the
    names the vendor's ``TimeSpentMetric`` reads (it has no camelCase aliases,
    so ``startDate`` would be dropped). The event is dated at the window's end.
    """
    event_id = attempt.derived_uuid(f"time-spent/{window}")
    event = _event("TimeSpentEvent", event_id, attempt, end)
    event["action"] = "SpentTime"
    event["object"] = activity_context(attempt.activity)
    dates = {"start_date": isoformat(start), "end_date": isoformat(end)}
    event["generated"] = {
        "id": f"urn:uuid:{uuid.uuid5(event_id, 'metrics')}",
        "type": "TimebackTimeSpentMetricsCollection",
        "items": [
            {"type": "active", "value": number(active_seconds), **dates},
            {"type": "inactive", "value": number(inactive_seconds), **dates},
        ],
    }
    return event


def envelope(events, *, send_time=None):
    """Wrap events for ``POST {CALIPER}/ims/caliper/v1p2/events``."""
    return {
        "sensor": app_settings.SENSOR,
        "sendTime": isoformat(send_time or datetime.now(UTC)),
        "dataVersion": CONTEXT,
        "data": list(events),
    }
