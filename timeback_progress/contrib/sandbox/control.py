"""The ``/_sandbox/*`` control endpoints: what arrived, counters, reset, tokens, faults.

The index of routes (``GET /``) lives with the route table in ``routes``.
"""

from .messages import Response


def admin_events(state, request):
    with state.lock:
        events = list(state.events.values())
    kind = request.param("type")
    if kind:
        events = [e for e in events if e.get("type") == kind]
    return Response(200, {"count": len(events), "events": events, "envelopes": list(state.envelopes)})


def admin_results(state, request):
    with state.lock:
        return Response(200, {"count": len(state.results), "assessmentResults": list(state.results.values())})


def admin_line_items(state, request):
    with state.lock:
        return Response(200, {"count": len(state.line_items), "assessmentLineItems": list(state.line_items.values())})


def admin_rejections(state, request):
    with state.lock:
        return Response(200, {"count": len(state.rejections), "rejections": list(state.rejections)})


def admin_stats(state, request):
    return Response(200, state.snapshot_stats())


def admin_reset(state, request):
    state.reset()
    return Response(200, {"reset": True})


def admin_expire_tokens(state, request):
    state.expire_tokens()
    return Response(200, {"expired": True})


def admin_faults(state, request):
    if request.method == "POST":
        try:
            values = request.json()
            if not isinstance(values, dict):
                raise ValueError("send a JSON object of fault settings")
            with state.lock:
                state.faults.update(values)
                if "seed" in values:
                    state.random.seed(values["seed"])
        except ValueError as exc:
            return Response(400, {"error": "invalid_faults", "message": str(exc)})
    with state.lock:
        return Response(200, state.faults.as_dict())
