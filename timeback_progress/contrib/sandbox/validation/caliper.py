"""Caliper envelopes and Timeback's two events (``ActivityEvent``, ``TimeSpentEvent``)."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from .fields import Problems, check_types, is_datetime, is_number, is_text, is_urn_uuid, refuse_unknown, require_fields

CALIPER_CONTEXT = "http://purl.imsglobal.org/ctx/caliper/v1p2"
SUBJECTS = ("Reading", "Language", "Vocabulary", "Social Studies", "Writing", "Science", "FastMath", "Math", "None", "Other")
ROLES = ("student", "teacher", "admin", "guide")
EVENT_KINDS = {
    # type: (action, generated type, metric item types)
    "ActivityEvent": (
        "Completed",
        "TimebackActivityMetricsCollection",
        ("totalQuestions", "correctQuestions", "xpEarned", "masteredUnits"),
    ),
    "TimeSpentEvent": (
        "SpentTime",
        "TimebackTimeSpentMetricsCollection",
        ("active", "inactive", "waste", "unknown", "anti-pattern"),
    ),
}
# The Caliper Event properties (Caliper 1.2 section 4) a Timeback event may carry.
EVENT_FIELDS = frozenset((
    "@context", "id", "type", "action", "profile", "eventTime", "actor", "object", "generated",
    "edApp", "target", "referrer", "group", "membership", "session", "federatedSession", "extensions",
))
ENTITY_EXTRAS = ("description", "dateCreated", "dateModified", "extensions")
MAX_SECONDS_PER_METRIC = 86_400
# The window a time metric covers: the vendor's ``TimeSpentMetric`` reads these
# snake_case names only (no camelCase aliases), so ``startDate`` would be dropped.
WINDOW_FIELDS = ("start_date", "end_date")
MISSPELT_WINDOW_FIELDS = {"startDate": "start_date", "endDate": "end_date"}
MAX_EVENTS_PER_ENVELOPE = 1000

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_IRI = re.compile(r"^(https?://[^\s/]+[^\s]*|urn:[a-z0-9][a-z0-9-]{0,31}:\S+)$", re.IGNORECASE)


def check_envelope(body):
    """Envelope-level problems (events are checked one by one with ``check_event``)."""
    problems = Problems()
    if not isinstance(body, dict):
        problems.add("", "the body must be a Caliper envelope object")
        return problems
    refuse_unknown(body, "", ("sensor", "sendTime", "dataVersion", "data"), problems)
    require_fields(body, "", ("sensor", "sendTime", "dataVersion", "data"), problems)
    if "sensor" in body and not (is_text(body["sensor"]) and _IRI.match(body["sensor"])):
        problems.add("sensor", "must be an IRI (http(s) URL or URN)")
    if "sendTime" in body and not is_datetime(body["sendTime"]):
        problems.add("sendTime", "must be an ISO 8601 date-time with a time zone")
    if "dataVersion" in body and body["dataVersion"] != CALIPER_CONTEXT:
        problems.add("dataVersion", f"must be {CALIPER_CONTEXT!r}")
    data = body.get("data")
    if "data" in body:
        if not isinstance(data, list) or not data:
            problems.add("data", "must be a non-empty list of events")
        elif len(data) > MAX_EVENTS_PER_ENVELOPE:
            problems.add("data", f"at most {MAX_EVENTS_PER_ENVELOPE} events per envelope")
    return problems


@dataclass(frozen=True)
class EventForm:
    """What a platform asks of an event's own fields; the entities inside are each platform's checks."""

    required: tuple
    profile: str
    is_time: Callable
    time_form: str
    profile_note: str = ""


TIMEBACK_FORM = EventForm(
    required=("@context", "id", "type", "action", "profile", "eventTime", "actor", "object", "generated"),
    profile="TimebackProfile", is_time=is_datetime, time_form="an ISO 8601 date-time with a time zone",
)


def check_event_fields(event, form, problems):
    """The checks of an event's own fields every platform shares; its type if it is one of ``EVENT_KINDS``.

    False (after saying so) when ``event`` is not even an object.
    """
    if not isinstance(event, dict):
        problems.add("", "an event must be an object")
        return False
    refuse_unknown(event, "", EVENT_FIELDS, problems)
    require_fields(event, "", form.required, problems)
    if "@context" in event and event["@context"] != CALIPER_CONTEXT:
        problems.add("@context", f"must be {CALIPER_CONTEXT!r}")
    if "id" in event and not is_urn_uuid(event["id"]):
        problems.add("id", "must be 'urn:uuid:' followed by a UUID")
    kind = event["type"] if isinstance(event.get("type"), str) and event["type"] in EVENT_KINDS else None
    if "type" in event and kind is None:
        problems.add("type", f"must be one of {sorted(EVENT_KINDS)}")
    if kind and "action" in event and event["action"] != EVENT_KINDS[kind][0]:
        problems.add("action", f"a {kind} must have action {EVENT_KINDS[kind][0]!r}")
    if "profile" in event and event["profile"] != form.profile:
        problems.add("profile", f"must be {form.profile!r}{form.profile_note}")
    if "eventTime" in event and not form.is_time(event["eventTime"]):
        problems.add("eventTime", f"must be {form.time_form}")
    check_types(
        event, "", problems, edApp="iri_or_dict", target="iri_or_dict", referrer="iri_or_dict", group="iri_or_dict",
        membership="iri_or_dict", session="iri_or_dict", federatedSession="iri_or_dict", extensions="dict",
    )
    return kind


def check_event(event):
    """Problems with one ``ActivityEvent`` or ``TimeSpentEvent``."""
    problems = Problems()
    kind = check_event_fields(event, TIMEBACK_FORM, problems)
    if kind is False:
        return problems
    _check_actor(event.get("actor"), problems)
    _check_context(event.get("object"), problems)
    if kind:
        _check_generated(event.get("generated"), EVENT_KINDS[kind], problems, correction=is_correction(event))
    extensions = event.get("extensions")
    if isinstance(extensions, dict) and "courseId" in extensions and not is_text(extensions["courseId"]):
        problems.add("extensions.courseId", "must be a non-empty string (the course's sourcedId)")
    return problems


def _check_actor(actor, problems):
    if actor is None:
        return
    if not isinstance(actor, dict):
        problems.add("actor", "must be a TimebackUser object")
        return
    refuse_unknown(actor, "actor", ("id", "type", "email", "name", "role", *ENTITY_EXTRAS), problems)
    require_fields(actor, "actor", ("id", "type", "email"), problems)
    if "id" in actor and not (is_text(actor["id"]) and _IRI.match(actor["id"])):
        problems.add("actor.id", "must be an IRI (the OneRoster user URL)")
    if "type" in actor and actor["type"] != "TimebackUser":
        problems.add("actor.type", "must be 'TimebackUser'")
    if "email" in actor and not (isinstance(actor["email"], str) and _EMAIL.match(actor["email"])):
        problems.add("actor.email", "must be an email address")
    if actor.get("role") is not None and actor["role"] not in ROLES:
        problems.add("actor.role", f"must be one of {list(ROLES)}")
    check_types(actor, "actor", problems, name="str", extensions="dict")


def _check_named(value, path, problems, *, required):
    if value is None:
        if required:
            problems.add(path, "required")
        return
    if not isinstance(value, dict):
        problems.add(path, "must be an object")
        return
    refuse_unknown(value, path, ("id", "name", "extensions"), problems)
    if not is_text(value.get("name")):
        problems.add(f"{path}.name", "required, a non-empty string")
    check_types(value, path, problems, id="text", extensions="dict")


def _check_context(obj, problems):
    if obj is None:
        return
    if not isinstance(obj, dict):
        problems.add("object", "must be a TimebackActivityContext object")
        return
    refuse_unknown(obj, "object", ("id", "type", "subject", "app", "course", "activity", "process", "name", *ENTITY_EXTRAS), problems)
    require_fields(obj, "object", ("id", "type", "subject", "app"), problems)
    if "id" in obj and not is_text(obj["id"]):
        problems.add("object.id", "must be a non-empty string")
    if "type" in obj and obj["type"] != "TimebackActivityContext":
        problems.add("object.type", "must be 'TimebackActivityContext'")
    if "subject" in obj and obj["subject"] not in SUBJECTS:
        problems.add("object.subject", f"must be one of {list(SUBJECTS)}")
    if "app" in obj:
        _check_named(obj["app"], "object.app", problems, required=True)
    _check_named(obj.get("course"), "object.course", problems, required=False)
    _check_named(obj.get("activity"), "object.activity", problems, required=False)
    check_types(obj, "object", problems, process="bool", extensions="dict")


def is_correction(event):
    """A correction of an announced attempt (``extensions.isCorrection``): its metrics are differences."""
    extensions = event.get("extensions")
    return isinstance(extensions, dict) and extensions.get("isCorrection") is True


def _check_generated(generated, kind, problems, *, correction=False):
    _action, collection_type, item_types = kind
    if generated is None:
        return
    if not isinstance(generated, dict):
        problems.add("generated", f"must be a {collection_type} object")
        return
    activity = collection_type == "TimebackActivityMetricsCollection"
    allowed = ("id", "type", "items", "attempt", *ENTITY_EXTRAS) if activity else ("id", "type", "items", *ENTITY_EXTRAS)
    refuse_unknown(generated, "generated", allowed, problems)
    require_fields(generated, "generated", ("id", "type", "items"), problems)
    if "id" in generated and not is_text(generated["id"]):
        problems.add("generated.id", "must be a non-empty string")
    if "type" in generated and generated["type"] != collection_type:
        problems.add("generated.type", f"must be {collection_type!r}")
    attempt = generated.get("attempt")
    if activity and attempt is not None and (not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1):
        problems.add("generated.attempt", "must be an integer >= 1")
    items = generated.get("items")
    if "items" in generated:
        if not isinstance(items, list) or not items:
            problems.add("generated.items", "must be a non-empty list of metrics")
        else:
            _check_items(items, item_types, activity, problems, correction=correction)
    check_types(generated, "generated", problems, extensions="dict")


def _check_items(items, item_types, activity, problems, *, correction=False):
    seen = set()
    item_fields = ("type", "value", "extensions") if activity else (
        "type", "value", "subType", *WINDOW_FIELDS, "extensions")
    for i, item in enumerate(items):
        path = f"generated.items[{i}]"
        if not isinstance(item, dict):
            problems.add(path, "must be an object")
            continue
        refuse_unknown(item, path, item_fields, problems)
        kind, value = item.get("type"), item.get("value")
        if kind not in item_types:
            problems.add(f"{path}.type", f"must be one of {list(item_types)}")
        elif kind in seen:
            problems.add(f"{path}.type", f"{kind!r} appears twice")
        else:
            seen.add(kind)
        if not is_number(value):
            problems.add(f"{path}.value", "required, a number")
        elif value < 0 and kind != "xpEarned" and not (correction and kind == "masteredUnits"):
            problems.add(f"{path}.value", "must be >= 0 (only xpEarned, and masteredUnits in a correction, may be negative)")
        elif not activity and value > MAX_SECONDS_PER_METRIC:
            problems.add(f"{path}.value", f"at most {MAX_SECONDS_PER_METRIC} seconds")
        if not activity:
            _check_window(item, path, problems)
        check_types(item, path, problems, subType="str", extensions="dict")


def _check_window(item, path, problems):
    """``start_date`` / ``end_date``: optional ISO 8601 date-times, the start not after the end."""
    for camel, snake in MISSPELT_WINDOW_FIELDS.items():
        if camel in item:  # refused as unknown already; say what the vendor's model reads instead
            problems.add(f"{path}.{camel}", f"the vendor's model reads {snake!r} and drops {camel!r}")
    dates = {}
    for name in WINDOW_FIELDS:
        if item.get(name) is None:
            continue
        if is_datetime(item[name]):
            dates[name] = datetime.fromisoformat(item[name].replace("Z", "+00:00"))
        else:
            problems.add(f"{path}.{name}", "must be an ISO 8601 date-time with a time zone")
    if len(dates) == 2 and dates["start_date"] > dates["end_date"]:
        problems.add(f"{path}.start_date", "must not be after end_date")
