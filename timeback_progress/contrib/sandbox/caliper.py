"""The Caliper events endpoint: all or nothing per envelope, de-duplicated by event id."""

import time
import uuid

from . import validation
from .messages import Response, summary


def caliper_events(state, request):
    try:
        body = request.json()
    except ValueError as exc:
        state.reject("caliper", request.method, request.path, [str(exc)])
        return Response(400, {"error": "invalid_request", "message": str(exc), "errors": []})
    problems = validation.check_envelope(body)
    if problems:
        state.reject("caliper", request.method, request.path, problems, body)
        return Response(400, {"error": "invalid_envelope", "message": f"Invalid envelope: {summary(problems)}", "errors": []})
    bad = []
    for index, event in enumerate(body["data"]):
        event_problems = validation.check_event(event)
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
