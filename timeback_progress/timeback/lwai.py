"""The LearnWith.AI form of a Caliper envelope: what the vendor's client sends to that platform.

LearnWith.AI does not take Timeback's own Caliper profile. The vendor's client
(``timeback-caliper`` 0.4.0, ``resources/event_transformers/lwai.py``, applied
by ``resources/events.py`` to the serialized envelope just before the POST)
rewrites every envelope into plain Caliper 1.2 terms, and so does this module:

- ``profile`` ``TimebackProfile`` becomes ``AggregationProfile``;
- the ``TimebackUser`` actor becomes a ``Person`` with only ``type`` and ``id``
  (the platform's Person refuses ``email``, ``name`` and ``role``);
- a ``TimebackActivityContext`` object (on the learning-resource events) becomes
  an ``AssignableDigitalResource``: ``id``, ``name`` when it has one, the course
  as ``isPartOf`` (a ``CourseOffering``) and the app under ``extensions.app``;
  ``subject``, ``activity`` and ``process`` are not in that schema and go;
- the generated collections become ``ActivityMetricsCollection`` /
  ``TimeSpentMetricsCollection`` whose items are ``ActivityMetric`` /
  ``TimeSpentMetric`` entities with ``metricType`` (the Timeback type with its
  first letter upper-cased: ``xpEarned`` -> ``XpEarned``, ``active`` -> ``Active``)
  and ``metricValue``; other collection fields (``attempt``, ``extensions``) stay,
  an item's other fields (its window's start and end, ``subType``...) do not;
- ``eventTime`` and ``sendTime`` are written ``YYYY-MM-DDTHH:MM:SS.sssZ`` in UTC;
- an event without a ``session`` gets ``urn:tag:auto-attach``, which asks the
  platform to attach the learner's current session.

One deliberate difference: the vendor gives every metric item (and a
collection without an id) a random ``uuid4``; here they are UUIDv5 derived
from the collection's id (itself derived from the event id), so a resent
envelope is byte-for-byte the one sent before and the platform sees a true
duplicate. Event ids never change. Nothing is mutated: the outbox keeps the
Timeback form, so switching platform rewrites no history.
"""

import uuid
from datetime import UTC, datetime

from .caliper import CONTEXT

PLATFORM = "learnwith.ai"
PROFILE = "AggregationProfile"
# The platform attaches the learner's current session to an event carrying this.
SESSION_AUTO_ATTACH = "urn:tag:auto-attach"
# Events whose object is a learning resource; others (assessment items, sessions) keep theirs.
RESOURCE_EVENTS = frozenset(("ActivityEvent", "TimeSpentEvent", "AssignableEvent", "ViewEvent"))
# Event type -> (collection type, item type, metricType for an item without a type).
COLLECTIONS = {
    "ActivityEvent": ("ActivityMetricsCollection", "ActivityMetric", ""),
    "TimeSpentEvent": ("TimeSpentMetricsCollection", "TimeSpentMetric", "Active"),
}


def transform_envelope(envelope):
    """The envelope as LearnWith.AI takes it; anything without a ``data`` list is returned as is."""
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, list):
        return envelope
    out = {**envelope, "data": [transform_event(e) if isinstance(e, dict) else e for e in data]}
    if "sendTime" in out:
        out["sendTime"] = platform_datetime(out["sendTime"])
    return out


def transform_event(event):
    """One event in the platform's form (a new dict; ``event`` is left as it was)."""
    kind = event.get("type")
    out = dict(event)
    out.setdefault("@context", CONTEXT)
    if out.get("profile") == "TimebackProfile":
        out["profile"] = PROFILE
    actor = out.get("actor")
    if isinstance(actor, dict) and actor.get("type") == "TimebackUser":
        out["actor"] = person(actor)
    if isinstance(out.get("object"), dict):
        out["object"] = resource(out["object"], kind)
    if isinstance(out.get("generated"), dict) and kind in COLLECTIONS:
        out["generated"] = metrics_collection(out["generated"], kind, event.get("id"))
    if "eventTime" in out:
        out["eventTime"] = platform_datetime(out["eventTime"])
    if not out.get("session"):
        out["session"] = SESSION_AUTO_ATTACH
    return out


def person(actor):
    """A Caliper ``Person``: the platform's schema has no email, name or role."""
    return {"type": "Person", "id": actor.get("id")}


def resource(obj, kind):
    """An ``AssignableDigitalResource`` for a learning-resource event's Timeback context; any other object is copied."""
    if obj.get("type") != "TimebackActivityContext" or kind not in RESOURCE_EVENTS:
        return dict(obj)
    out = {"type": "AssignableDigitalResource", "id": obj.get("id")}
    if obj.get("name"):
        out["name"] = obj["name"]
    course = obj.get("course")
    if isinstance(course, dict):
        out["isPartOf"] = {"type": "CourseOffering", "id": course.get("id")}
        if course.get("name"):
            out["isPartOf"]["name"] = course["name"]
    app = obj.get("app")
    if isinstance(app, dict):
        out["extensions"] = {"app": {"name": app.get("name"), "type": app.get("type", "SoftwareApplication")}}
    return out


def metrics_collection(collection, kind, event_id):
    """The standard Caliper collection for an ActivityEvent / TimeSpentEvent's Timeback one."""
    collection_type, item_type, untyped = COLLECTIONS[kind]
    collection_id = collection["id"] if "id" in collection else derived_id(event_id, "generated")
    out = {"id": collection_id, "type": collection_type}
    if "items" in collection:
        out["items"] = [
            {
                "id": derived_id(collection_id, f"items/{index}"),
                "type": item_type,
                "metricType": metric_type(item.get("type")) or untyped,
                "metricValue": item.get("value"),
            }
            for index, item in enumerate(collection["items"])
        ]
    out.update((key, value) for key, value in collection.items() if key not in ("id", "type", "items"))
    return out


def metric_type(name):
    """``xpEarned`` -> ``XpEarned``: the platform's metric names start with a capital."""
    return name[:1].upper() + name[1:] if name else ""


def derived_id(seed, name):
    """A ``urn:uuid`` fixed by ``seed`` and ``name``: a resend carries the ids sent before."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{seed}#{name}')}"


def platform_datetime(value):
    """``2025-08-01T12:00:00.000Z``: UTC, milliseconds (truncated), a ``Z``.

    A value that is not an ISO 8601 date-time is returned unchanged (the
    vendor's rule); one without a zone is taken as UTC.
    """
    if not value or not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.isoformat(timespec="milliseconds") + "Z"


# Platform (the PLATFORM setting) -> the envelope transform its Caliper endpoint needs.
ENVELOPE_TRANSFORMS = {PLATFORM: transform_envelope}


def envelope_transform(platform):
    """The transform for ``platform``'s Caliper envelopes, or None when it takes the Timeback form."""
    return ENVELOPE_TRANSFORMS.get(platform)
