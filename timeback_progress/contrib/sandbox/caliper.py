"""The Caliper events endpoint: all or nothing per envelope, de-duplicated by event id.

Each platform has its own event form (``validation.caliper`` for Timeback,
``validation.lwai`` for LearnWith.AI): the endpoint refuses the other one, so a
client that sends the wrong form for the platform fails against the sandbox.
"""

import time
import uuid
from decimal import Decimal

from . import validation
from .messages import Response, summary
from .validation import lwai


def _lwai_envelope(body):
    return validation.check_envelope(body) + lwai.check_envelope_times(body)


# Platform -> (envelope rules, event rules); the default platform's are Timeback's.
PLATFORM_RULES = {"learnwith.ai": (_lwai_envelope, lwai.check_event)}


def platform_rules(platform):
    """The envelope and event checks for the platform the sandbox plays."""
    return PLATFORM_RULES.get(platform, (validation.check_envelope, validation.check_event))


def caliper_events(state, request):
    check_envelope, check_event = platform_rules(state.platform)
    try:
        body = request.json()
    except ValueError as exc:
        state.reject("caliper", request.method, request.path, [str(exc)])
        return Response(400, {"error": "invalid_request", "message": str(exc), "errors": []})
    problems = check_envelope(body)
    if problems:
        state.reject("caliper", request.method, request.path, problems, body)
        return Response(400, {"error": "invalid_envelope", "message": f"Invalid envelope: {summary(problems)}", "errors": []})
    bad = []
    for index, event in enumerate(body["data"]):
        event_problems = check_event(event)
        if event_problems:
            event_id = event.get("id") if isinstance(event, dict) else None
            bad.append({"index": index, "id": event_id, "message": summary(event_problems), "problems": event_problems})
    if bad:
        # All or nothing: nothing in this envelope is stored; the caller resends the rest.
        state.reject("caliper", request.method, request.path, [f"data[{b['index']}].{p}" for b in bad for p in b["problems"]], body)
        message = f"{len(bad)} of {len(body['data'])} events invalid: " + "; ".join(
            f"data[{b['index']}] {b['message']}" for b in bad[:3]
        )
        return Response(400, {"error": "invalid_events", "message": message, "errors": bad})
    accepted = duplicates = 0
    with state.lock:
        for event in body["data"]:
            stored = state.events.get(event["id"])
            if stored is None:
                state.events[event["id"]] = event
                accepted += 1
            else:
                duplicates += 1
                if stored != event:
                    state.count("caliper", "conflicting_duplicates")
        state.envelopes.append({"sensor": body["sensor"], "sendTime": body["sendTime"], "events": len(body["data"]),
                                "receivedAt": time.time()})
        state.count("caliper", "accepted", accepted)
        state.count("caliper", "duplicates", duplicates)
    return Response(200, {"jobId": str(uuid.uuid4()), "accepted": accepted, "duplicates": duplicates})


def metric_sums(events):
    """Per actor id, each metric summed over ``events``: ``{actor_id: {"xpEarned": Decimal, ...}}``.

    Reads both forms: Timeback's items (``type``/``value``) and LearnWith.AI's
    (``metricType``/``metricValue``, named back to Timeback's ``xpEarned``...),
    so a test compares what the platform holds with the app's totals either way.
    Decimal sums: no float drift over many corrections.
    """
    sums = {}
    for event in events:
        per_actor = sums.setdefault((event.get("actor") or {}).get("id"), {})
        for item in (event.get("generated") or {}).get("items") or ():
            if "metricType" in item:
                name, value = lwai.timeback_name(item["metricType"]), item["metricValue"]
            else:
                name, value = item["type"], item["value"]
            per_actor[name] = per_actor.get(name, Decimal(0)) + Decimal(str(value))
    return sums
