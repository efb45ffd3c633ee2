"""The sandbox's payload rules: at least as strict as the vendor's pydantic models.

Each ``check_*`` returns a list of problems, ``"path: message"`` strings, empty
when the payload is acceptable. The rules follow ``timeback-caliper`` 0.4.0
(``ActivityCompletedEvent``, ``TimeSpentEvent``) and ``timeback-oneroster``
0.4.0 (``AssessmentLineItemCreateInput``, ``AssessmentResultCreateInput``) and
go further where the reference says what Timeback expects but the models do
not check it: ``urn:uuid`` ids, ISO 8601 times, finite non-negative metrics, the
``@context``/``profile`` values, no unknown fields. See docs/sandbox.md.
"""

import math
import re
import uuid
from datetime import date, datetime

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
MAX_EVENTS_PER_ENVELOPE = 1000

STATUSES = ("active", "tobedeleted")
SCORE_STATUSES = ("exempt", "fully graded", "not submitted", "partially graded", "submitted")
REF_FIELDS = ("sourcedId", "type", "href")
LINE_ITEM_FIELDS = (
    "sourcedId", "status", "dateLastModified", "title", "description", "class", "parentAssessmentLineItem",
    "scoreScale", "resultValueMin", "resultValueMax", "component", "componentResource",
    "learningObjectiveSet", "course", "metadata",
)
RESULT_FIELDS = (
    "sourcedId", "status", "dateLastModified", "assessmentLineItem", "student", "score", "textScore",
    "scoreDate", "scoreScale", "scorePercentile", "scoreStatus", "comment", "learningObjectiveSet",
    "inProgress", "incomplete", "late", "missing", "metadata",
)

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_IRI = re.compile(r"^(https?://[^\s/]+[^\s]*|urn:[a-z0-9][a-z0-9-]{0,31}:\S+)$", re.IGNORECASE)


class Problems(list):
    """Collects ``path: message`` strings."""

    def add(self, path, message):
        self.append(f"{path}: {message}" if path else message)


# -- primitives --------------------------------------------------------------


def is_number(value):
    """A JSON number a double can hold: not a bool, not NaN or Infinity (JSON has none), not beyond 1.8e308."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a double: the vendor's float fields refuse it
        return False


def is_datetime(value):
    if not isinstance(value, str) or not _DATETIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def is_date(value):
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_urn_uuid(value):
    if not isinstance(value, str) or not value.startswith("urn:uuid:"):
        return False
    raw = value[len("urn:uuid:"):]
    try:
        return str(uuid.UUID(raw)) == raw.lower() and len(raw) == 36
    except ValueError:
        return False


def is_text(value):
    return isinstance(value, str) and bool(value.strip())


def _required(obj, path, fields, problems):
    for name in fields:
        if name not in obj or obj[name] is None:
            problems.add(f"{path}.{name}" if path else name, "required")


def _unknown(obj, path, allowed, problems):
    for name in obj:
        if name not in allowed:
            problems.add(f"{path}.{name}" if path else name, "unknown field")


def _optional_types(obj, path, problems, **kinds):
    """``kinds`` maps field name to 'text', 'str', 'dict', 'bool', 'number', 'iri_or_dict'."""
    checks = {
        "text": (is_text, "must be a non-empty string"),
        "str": (lambda v: isinstance(v, str), "must be a string"),
        "dict": (lambda v: isinstance(v, dict), "must be an object"),
        "bool": (lambda v: isinstance(v, bool), "must be true or false"),
        "number": (is_number, "must be a number"),
        "iri_or_dict": (lambda v: isinstance(v, dict) or is_text(v), "must be an IRI string or an object"),
    }
    for name, kind in kinds.items():
        value = obj.get(name)
        if value is not None:
            ok, message = checks[kind]
            if not ok(value):
                problems.add(f"{path}.{name}" if path else name, message)


# -- Caliper -----------------------------------------------------------------


def check_envelope(body):
    """Envelope-level problems (events are checked one by one with ``check_event``)."""
    problems = Problems()
    if not isinstance(body, dict):
        problems.add("", "the body must be a Caliper envelope object")
        return problems
    _unknown(body, "", ("sensor", "sendTime", "dataVersion", "data"), problems)
    _required(body, "", ("sensor", "sendTime", "dataVersion", "data"), problems)
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


def check_event(event):
    """Problems with one ``ActivityEvent`` or ``TimeSpentEvent``."""
    problems = Problems()
    if not isinstance(event, dict):
        problems.add("", "an event must be an object")
        return problems
    _unknown(event, "", EVENT_FIELDS, problems)
    _required(event, "", ("@context", "id", "type", "action", "profile", "eventTime", "actor", "object", "generated"), problems)
    if "@context" in event and event["@context"] != CALIPER_CONTEXT:
        problems.add("@context", f"must be {CALIPER_CONTEXT!r}")
    if "id" in event and not is_urn_uuid(event["id"]):
        problems.add("id", "must be 'urn:uuid:' followed by a UUID")
    kind = EVENT_KINDS.get(event["type"]) if isinstance(event.get("type"), str) else None
    if "type" in event and kind is None:
        problems.add("type", f"must be one of {sorted(EVENT_KINDS)}")
    if kind and "action" in event and event["action"] != kind[0]:
        problems.add("action", f"a {event['type']} must have action {kind[0]!r}")
    if "profile" in event and event["profile"] != "TimebackProfile":
        problems.add("profile", "must be 'TimebackProfile'")
    if "eventTime" in event and not is_datetime(event["eventTime"]):
        problems.add("eventTime", "must be an ISO 8601 date-time with a time zone")
    _check_actor(event.get("actor"), problems)
    _check_context(event.get("object"), problems)
    if kind:
        _check_generated(event.get("generated"), kind, problems)
    _optional_types(
        event, "", problems, edApp="iri_or_dict", target="iri_or_dict", referrer="iri_or_dict", group="iri_or_dict",
        membership="iri_or_dict", session="iri_or_dict", federatedSession="iri_or_dict", extensions="dict",
    )
    return problems


def _check_actor(actor, problems):
    if actor is None:
        return
    if not isinstance(actor, dict):
        problems.add("actor", "must be a TimebackUser object")
        return
    _unknown(actor, "actor", ("id", "type", "email", "name", "role", *ENTITY_EXTRAS), problems)
    _required(actor, "actor", ("id", "type", "email"), problems)
    if "id" in actor and not (is_text(actor["id"]) and _IRI.match(actor["id"])):
        problems.add("actor.id", "must be an IRI (the OneRoster user URL)")
    if "type" in actor and actor["type"] != "TimebackUser":
        problems.add("actor.type", "must be 'TimebackUser'")
    if "email" in actor and not (isinstance(actor["email"], str) and _EMAIL.match(actor["email"])):
        problems.add("actor.email", "must be an email address")
    if actor.get("role") is not None and actor["role"] not in ROLES:
        problems.add("actor.role", f"must be one of {list(ROLES)}")
    _optional_types(actor, "actor", problems, name="str", extensions="dict")


def _check_named(value, path, problems, *, required):
    if value is None:
        if required:
            problems.add(path, "required")
        return
    if not isinstance(value, dict):
        problems.add(path, "must be an object")
        return
    _unknown(value, path, ("id", "name", "extensions"), problems)
    if not is_text(value.get("name")):
        problems.add(f"{path}.name", "required, a non-empty string")
    _optional_types(value, path, problems, id="text", extensions="dict")


def _check_context(obj, problems):
    if obj is None:
        return
    if not isinstance(obj, dict):
        problems.add("object", "must be a TimebackActivityContext object")
        return
    _unknown(obj, "object", ("id", "type", "subject", "app", "course", "activity", "process", "name", *ENTITY_EXTRAS), problems)
    _required(obj, "object", ("id", "type", "subject", "app"), problems)
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
    _optional_types(obj, "object", problems, process="bool", extensions="dict")


def _check_generated(generated, kind, problems):
    _action, collection_type, item_types = kind
    if generated is None:
        return
    if not isinstance(generated, dict):
        problems.add("generated", f"must be a {collection_type} object")
        return
    activity = collection_type == "TimebackActivityMetricsCollection"
    allowed = ("id", "type", "items", "attempt", *ENTITY_EXTRAS) if activity else ("id", "type", "items", *ENTITY_EXTRAS)
    _unknown(generated, "generated", allowed, problems)
    _required(generated, "generated", ("id", "type", "items"), problems)
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
            _check_items(items, item_types, activity, problems)
    _optional_types(generated, "generated", problems, extensions="dict")


def _check_items(items, item_types, activity, problems):
    seen = set()
    item_fields = ("type", "value", "extensions") if activity else (
        "type", "value", "subType", "startDate", "endDate", "extensions")
    for i, item in enumerate(items):
        path = f"generated.items[{i}]"
        if not isinstance(item, dict):
            problems.add(path, "must be an object")
            continue
        _unknown(item, path, item_fields, problems)
        kind, value = item.get("type"), item.get("value")
        if kind not in item_types:
            problems.add(f"{path}.type", f"must be one of {list(item_types)}")
        elif kind in seen:
            problems.add(f"{path}.type", f"{kind!r} appears twice")
        else:
            seen.add(kind)
        if not is_number(value):
            problems.add(f"{path}.value", "required, a number")
        elif value < 0 and kind != "xpEarned":
            problems.add(f"{path}.value", "must be >= 0 (only xpEarned may be negative)")
        elif not activity and value > MAX_SECONDS_PER_METRIC:
            problems.add(f"{path}.value", f"at most {MAX_SECONDS_PER_METRIC} seconds")
        for name in ("startDate", "endDate"):
            if item.get(name) is not None and not is_datetime(item[name]):
                problems.add(f"{path}.{name}", "must be an ISO 8601 date-time with a time zone")
        _optional_types(item, path, problems, subType="str", extensions="dict")


# -- OneRoster gradebook -----------------------------------------------------


def unwrap(body, key):
    """``(object, problems)`` for a body that must be ``{key: {...}}``."""
    problems = Problems()
    if not isinstance(body, dict) or key not in body:
        problems.add("", f"the body must wrap the object: {{{key!r}: {{...}}}}")
        return None, problems
    _unknown(body, "", (key,), problems)
    if not isinstance(body[key], dict):
        problems.add(key, "must be an object")
        return None, problems
    return body[key], problems


def _check_ref(value, path, problems, *, required=False):
    if value is None:
        if required:
            problems.add(path, "required")
        return
    if not isinstance(value, dict):
        problems.add(path, "must be a reference object {'sourcedId': ...}")
        return
    _unknown(value, path, REF_FIELDS, problems)
    if not is_text(value.get("sourcedId")):
        problems.add(f"{path}.sourcedId", "required, a non-empty string")
    _optional_types(value, path, problems, type="str", href="str")


def _check_common(obj, path, problems):
    if obj.get("status") is not None and obj["status"] not in STATUSES:
        problems.add(f"{path}.status", f"must be one of {list(STATUSES)}")
    if "sourcedId" in obj and not is_text(obj["sourcedId"]):
        problems.add(f"{path}.sourcedId", "must be a non-empty string")
    if obj.get("dateLastModified") is not None and not is_datetime(obj["dateLastModified"]):
        problems.add(f"{path}.dateLastModified", "must be an ISO 8601 date-time with a time zone")
    _optional_types(obj, path, problems, metadata="dict")


def check_line_item(obj):
    path = "assessmentLineItem"
    problems = Problems()
    _unknown(obj, path, LINE_ITEM_FIELDS, problems)
    _required(obj, path, ("status", "title"), problems)
    _check_common(obj, path, problems)
    if "title" in obj and not is_text(obj["title"]):
        problems.add(f"{path}.title", "must be a non-empty string")
    for name in ("class", "parentAssessmentLineItem", "scoreScale", "component", "componentResource", "course"):
        _check_ref(obj.get(name), f"{path}.{name}", problems)
    _optional_types(obj, path, problems, description="str", resultValueMin="number", resultValueMax="number")
    low, high = obj.get("resultValueMin"), obj.get("resultValueMax")
    if is_number(low) and is_number(high) and low > high:
        problems.add(f"{path}.resultValueMin", "must not exceed resultValueMax")
    sets = obj.get("learningObjectiveSet")
    if sets is not None:
        if not isinstance(sets, list):
            problems.add(f"{path}.learningObjectiveSet", "must be a list")
        else:
            for i, entry in enumerate(sets):
                p = f"{path}.learningObjectiveSet[{i}]"
                if not isinstance(entry, dict) or not isinstance(entry.get("source"), str) or not (
                    isinstance(entry.get("learningObjectiveIds"), list)
                    and all(isinstance(x, str) for x in entry["learningObjectiveIds"])
                ):
                    problems.add(p, "must be {'source': str, 'learningObjectiveIds': [str, ...]}")
                else:
                    _unknown(entry, p, ("source", "learningObjectiveIds"), problems)
    return problems


def check_result(obj):
    path = "assessmentResult"
    problems = Problems()
    _unknown(obj, path, RESULT_FIELDS, problems)
    _required(obj, path, ("status", "assessmentLineItem", "student", "scoreDate", "scoreStatus"), problems)
    _check_common(obj, path, problems)
    _check_ref(obj.get("assessmentLineItem"), f"{path}.assessmentLineItem", problems)
    _check_ref(obj.get("student"), f"{path}.student", problems)
    _check_ref(obj.get("scoreScale"), f"{path}.scoreScale", problems)
    if obj.get("scoreStatus") is not None and obj["scoreStatus"] not in SCORE_STATUSES:
        problems.add(f"{path}.scoreStatus", f"must be one of {list(SCORE_STATUSES)}")
    if obj.get("scoreDate") is not None and not (is_date(obj["scoreDate"]) or is_datetime(obj["scoreDate"])):
        problems.add(f"{path}.scoreDate", "must be an ISO 8601 date or date-time with a time zone")
    _optional_types(
        obj, path, problems, score="number", scorePercentile="number", textScore="str", comment="str",
        inProgress="str", incomplete="str", late="str", missing="str",
    )
    sets = obj.get("learningObjectiveSet")
    if sets is not None:
        if not isinstance(sets, list):
            problems.add(f"{path}.learningObjectiveSet", "must be a list")
        else:
            for i, entry in enumerate(sets):
                _check_objective_scores(entry, f"{path}.learningObjectiveSet[{i}]", problems)
    return problems


def _check_objective_scores(entry, path, problems):
    if not isinstance(entry, dict) or not isinstance(entry.get("source"), str):
        problems.add(path, "must be {'source': str, 'learningObjectiveResults': [...]}")
        return
    _unknown(entry, path, ("source", "learningObjectiveResults"), problems)
    results = entry.get("learningObjectiveResults")
    if not isinstance(results, list):
        problems.add(f"{path}.learningObjectiveResults", "required, a list")
        return
    for j, item in enumerate(results):
        p = f"{path}.learningObjectiveResults[{j}]"
        if not isinstance(item, dict) or not isinstance(item.get("learningObjectiveId"), str):
            problems.add(p, "must have a learningObjectiveId string")
            continue
        _unknown(item, p, ("learningObjectiveId", "score", "textScore"), problems)
        for name in ("score", "textScore"):
            if name in item and item[name] is None:  # optional, but the vendor's model does not take null
                problems.add(f"{p}.{name}", "leave it out rather than null")
        _optional_types(item, p, problems, score="number", textScore="str")
