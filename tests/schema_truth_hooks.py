"""schemathesis hooks for tests/test_schema_truth.py: rules the schema states that a generator missed.

A ``filter_case`` hook (it runs in every phase, coverage included; ``filter_body``
does not run in the coverage phase) keeps *positive* cases to bodies the
schema really allows:

* JSON Schema cannot compare two fields or a timestamp with the clock, so
  "correctQuestions: at most totalQuestions", "startedAt: not after
  completedAt" and "from 2000-01-01T00:00:00Z; not in the future" are in the
  fields' descriptions; a client reads them there, and so does this filter.
* The coverage phase labels a body positive without honouring an ``anyOf`` of
  ``required`` lists (the time report's "activeSeconds, inactiveSeconds or
  both"); the filter applies the schema's own ``anyOf``.

Negative cases pass through untouched. Everything else the server refuses must
be in the schema itself, and the test fails on it.
"""

import datetime as dt

import schemathesis

# TimestampField's documented bounds: "From 2000-01-01T00:00:00Z; not in the future."
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
TIMESTAMPS = ("startedAt", "completedAt")


def _moment(value):
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _keeps_documented_rules(item):
    if not isinstance(item, dict):
        return True
    correct, total = item.get("correctQuestions"), item.get("totalQuestions")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (correct, total))
    if numbers and correct > total:
        return False
    started, completed = (_moment(item.get(name)) for name in TIMESTAMPS)
    now = dt.datetime.now(dt.timezone.utc)
    if any(moment is not None and not EARLIEST <= moment <= now for moment in (started, completed)):
        return False
    if started is not None and completed is not None and started > completed:
        return False
    return True


def _request_schema(case):
    """The operation's JSON request body schema from the served document, ``$ref`` followed."""
    raw = case.operation.schema.raw_schema
    operation = raw.get("paths", {}).get(case.operation.path, {}).get(case.operation.method.lower(), {})
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    while isinstance(schema, dict) and "$ref" in schema:
        node = raw
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node.get(part, {})
        schema = node
    return schema if isinstance(schema, dict) else {}


def _meets_any_of(schema, body):
    """An ``anyOf`` of ``required`` lists at the body's top level holds."""
    choices = [c.get("required", []) for c in schema.get("anyOf", []) if isinstance(c, dict)]
    if not choices or not isinstance(body, dict):
        return True
    return any(all(name in body for name in names) for names in choices)


def _positive(case):
    meta = getattr(case, "meta", None)
    return meta is None or meta.generation.mode.is_positive


@schemathesis.hook
def filter_case(ctx, case):
    body = case.body
    if not _positive(case) or not isinstance(body, (dict, list)):
        return True
    if not _meets_any_of(_request_schema(case), body):
        return False
    items = body.get("items") if isinstance(body, dict) else None
    if isinstance(items, list):
        return all(_keeps_documented_rules(item) for item in items)
    return _keeps_documented_rules(body)
