"""Caliper as LearnWith.AI takes it: plain Caliper 1.2 in the ``AggregationProfile``.

The vendor's client rewrites every Timeback event before it reaches that
platform (``timeback-caliper`` 0.4.0, ``resources/event_transformers/lwai.py``)
and says why: the platform's schemas are strict (no ``email`` on a ``Person``,
no ``subject`` on an ``AssignableDigitalResource``), it wants ``.SSSZ`` times,
and it attributes events by ``session``. The vendor ships no model for this
form, so these rules are the transform's output, held strictly: a Timeback
form event (``TimebackProfile``, ``TimebackUser``...) is refused here, as the
Timeback checks (``caliper``) refuse this form.
"""

import re

from .caliper import ENTITY_EXTRAS, EVENT_KINDS, MAX_SECONDS_PER_METRIC, TIMEBACK_FORM, EventForm, _IRI, check_event_fields
from .fields import (
    Problems, check_types, is_datetime, is_number, is_text, is_urn_uuid, refuse_unknown, require_fields,
)

PROFILE = "AggregationProfile"
# Event type -> (generated collection type, its item type).
COLLECTIONS = {
    "ActivityEvent": ("ActivityMetricsCollection", "ActivityMetric"),
    "TimeSpentEvent": ("TimeSpentMetricsCollection", "TimeSpentMetric"),
}
# LearnWith.AI's one date-time form: UTC, exactly three fractional digits.
_PLATFORM_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def metric_name(timeback_type):
    """The platform's ``metricType`` for a Timeback metric type: ``xpEarned`` -> ``XpEarned``."""
    return timeback_type[:1].upper() + timeback_type[1:]


def timeback_name(metric_type):
    """The Timeback metric type for a ``metricType``: ``XpEarned`` -> ``xpEarned``."""
    return metric_type[:1].lower() + metric_type[1:]


def is_platform_datetime(value):
    return isinstance(value, str) and bool(_PLATFORM_DATETIME.match(value)) and is_datetime(value)


# The platform's event: a session to attribute it by, its profile, times in one form.
PLATFORM_FORM = EventForm(
    required=(*TIMEBACK_FORM.required, "session"), profile=PROFILE, is_time=is_platform_datetime,
    time_form="a UTC date-time with milliseconds: YYYY-MM-DDTHH:MM:SS.sssZ", profile_note=" on this platform",
)


def check_envelope_times(body):
    """A valid ``sendTime`` not in the platform's form: on top of the Timeback envelope checks."""
    problems = Problems()
    send_time = body.get("sendTime") if isinstance(body, dict) else None
    if is_datetime(send_time) and not is_platform_datetime(send_time):
        problems.add("sendTime", "must be a UTC date-time with milliseconds: YYYY-MM-DDTHH:MM:SS.sssZ")
    return problems


def check_event(event):
    """Problems with one ``ActivityEvent`` or ``TimeSpentEvent`` in the ``AggregationProfile``."""
    problems = Problems()
    kind = check_event_fields(event, PLATFORM_FORM, problems)
    if kind is False:
        return problems
    _check_person(event.get("actor"), problems)
    _check_resource(event.get("object"), problems)
    if kind:
        _check_collection(event.get("generated"), kind, problems, correction=is_correction(event))
    return problems


def is_correction(event):
    """A correction of an attempt already sent (``extensions.isCorrection``, kept by the transform): differences."""
    extensions = event.get("extensions")
    return isinstance(extensions, dict) and extensions.get("isCorrection") is True


def _entity(value, path, type_name, allowed, problems):
    """Common checks of an entity; False when ``value`` is not even an object."""
    if value is None:
        return False
    if not isinstance(value, dict):
        problems.add(path, f"must be a {type_name} object")
        return False
    refuse_unknown(value, path, ("id", "type", *allowed, *ENTITY_EXTRAS), problems)
    require_fields(value, path, ("id", "type"), problems)
    if "type" in value and value["type"] != type_name:
        problems.add(f"{path}.type", f"must be {type_name!r} on this platform")
    check_types(value, path, problems, name="text", extensions="dict")
    return True


def _check_person(actor, problems):
    # A Person has no email or role: the platform's schema is strict about it.
    if not _entity(actor, "actor", "Person", ("name",), problems):
        return
    if actor.get("id") is not None and not (is_text(actor["id"]) and _IRI.match(actor["id"])):
        problems.add("actor.id", "must be an IRI (the OneRoster user URL)")


def _check_resource(obj, problems):
    if not _entity(obj, "object", "AssignableDigitalResource", ("name", "isPartOf"), problems):
        return
    if obj.get("id") is not None and not is_text(obj["id"]):
        problems.add("object.id", "must be a non-empty string")
    part_of = obj.get("isPartOf")
    is_part_of = _entity(part_of, "object.isPartOf", "CourseOffering", ("name",), problems)
    if is_part_of and part_of.get("id") is not None and not is_text(part_of["id"]):
        problems.add("object.isPartOf.id", "must be a non-empty string")
    extensions = obj.get("extensions")
    app = extensions.get("app") if isinstance(extensions, dict) else None
    if app is not None and not (isinstance(app, dict) and is_text(app.get("name"))):
        problems.add("object.extensions.app", "must be an object with a non-empty name")


def _check_collection(generated, kind, problems, *, correction=False):
    collection_type, item_type = COLLECTIONS[kind]
    activity = kind == "ActivityEvent"
    if not _entity(generated, "generated", collection_type, ("items", "attempt") if activity else ("items",), problems):
        return
    require_fields(generated, "generated", ("items",), problems)
    if generated.get("id") is not None and not is_text(generated["id"]):
        problems.add("generated.id", "must be a non-empty string")
    attempt = generated.get("attempt")
    if activity and attempt is not None and (not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1):
        problems.add("generated.attempt", "must be an integer >= 1")
    items = generated.get("items")
    if "items" in generated:
        if not isinstance(items, list) or not items:
            problems.add("generated.items", "must be a non-empty list of metrics")
        else:
            _check_metrics(items, item_type, EVENT_KINDS[kind][2], activity, problems, correction=correction)


def _check_metrics(items, item_type, timeback_types, activity, problems, *, correction=False):
    names = tuple(metric_name(t) for t in timeback_types)
    seen = set()
    for i, item in enumerate(items):
        path = f"generated.items[{i}]"
        if not isinstance(item, dict):
            problems.add(path, "must be an object")
            continue
        refuse_unknown(item, path, ("id", "type", "metricType", "metricValue"), problems)
        require_fields(item, path, ("id", "type", "metricType", "metricValue"), problems)
        if item.get("id") is not None and not is_urn_uuid(item["id"]):
            problems.add(f"{path}.id", "must be 'urn:uuid:' followed by a UUID")
        if "type" in item and item["type"] != item_type:
            problems.add(f"{path}.type", f"must be {item_type!r}")
        name, value = item.get("metricType"), item.get("metricValue")
        if name is None:
            pass  # required, said above
        elif name not in names:
            problems.add(f"{path}.metricType", f"must be one of {list(names)}")
        elif name in seen:
            problems.add(f"{path}.metricType", f"{name!r} appears twice")
        else:
            seen.add(name)
        if value is None:
            pass
        elif not is_number(value):
            problems.add(f"{path}.metricValue", "must be a number")
        elif value < 0 and name != "XpEarned" and not (correction and name == "MasteredUnits"):
            problems.add(f"{path}.metricValue", "must be >= 0 (only XpEarned, and MasteredUnits in a correction, may be negative)")
        elif not activity and value > MAX_SECONDS_PER_METRIC:
            problems.add(f"{path}.metricValue", f"at most {MAX_SECONDS_PER_METRIC} seconds")
