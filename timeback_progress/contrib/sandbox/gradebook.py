"""The OneRoster gradebook endpoints: line items and results, PUT / POST / GET."""

import uuid

from . import validation
from .messages import Response, ims_error, paged, summary

COLLECTIONS = {
    # collection name: (wrap key, store attribute, validator)
    "assessmentLineItems": ("assessmentLineItem", "line_items", validation.check_line_item),
    "assessmentResults": ("assessmentResult", "results", validation.check_result),
}


def _gradebook_body(state, request, collection, url_id=None):
    """``(object, None)`` for a valid body, or ``(None, error Response)``."""
    wrap, _store, check = COLLECTIONS[collection]
    try:
        body = request.json()
    except ValueError as exc:
        state.reject("gradebook", request.method, request.path, [str(exc)])
        return None, ims_error(400, str(exc))
    obj, problems = validation.unwrap(body, wrap)
    if obj is not None:
        problems.extend(check(obj))
        if url_id is not None and obj.get("sourcedId") not in (None, url_id):
            problems.add(f"{wrap}.sourcedId", f"{obj.get('sourcedId')!r} does not match the URL ({url_id!r})")
        if collection == "assessmentResults" and isinstance(obj.get("assessmentLineItem"), dict):
            ref = obj["assessmentLineItem"].get("sourcedId")
            if validation.is_text(ref) and ref not in state.line_items:
                problems.add(f"{wrap}.assessmentLineItem.sourcedId", f"no assessmentLineItem {ref!r}")
    if problems:
        state.reject("gradebook", request.method, request.path, problems, body)
        return None, ims_error(400, f"Invalid {wrap}: {summary(problems)}")
    return obj, None


def gradebook_put(state, request, collection, sourced_id):
    wrap, store, _check = COLLECTIONS[collection]
    obj, error = _gradebook_body(state, request, collection, sourced_id)
    if error:
        return error
    with state.lock:
        items = getattr(state, store)
        if sourced_id not in items and not state.faults.put_creates:
            state.count("gradebook", "not_found")
            return ims_error(404, f"{wrap} {sourced_id!r} not found", "unknown_object")
        items[sourced_id] = {**obj, "sourcedId": sourced_id}
        state.count("gradebook", "accepted")
        return Response(200, {wrap: items[sourced_id]})


def gradebook_post(state, request, collection):
    wrap, store, _check = COLLECTIONS[collection]
    obj, error = _gradebook_body(state, request, collection)
    if error:
        return error
    sourced_id = obj.get("sourcedId") or str(uuid.uuid4())
    with state.lock:
        items = getattr(state, store)
        if sourced_id in items:
            state.count("gradebook", "conflicts")
            return ims_error(409, f"{wrap} {sourced_id!r} already exists", "server_busy")
        items[sourced_id] = {**obj, "sourcedId": sourced_id}
        state.count("gradebook", "accepted")
    return Response(201, {"sourcedIdPairs": {"suppliedSourcedId": obj.get("sourcedId"), "allocatedSourcedId": sourced_id}})


def gradebook_get(state, request, collection, sourced_id):
    wrap, store, _check = COLLECTIONS[collection]
    with state.lock:
        item = getattr(state, store).get(sourced_id)
    if item is None:
        return ims_error(404, f"{wrap} {sourced_id!r} not found", "unknown_object")
    return Response(200, {wrap: item})


def gradebook_list(state, request, collection):
    _wrap, store, _check = COLLECTIONS[collection]
    with state.lock:
        records = list(getattr(state, store).values())
    return paged(request, records, collection)
