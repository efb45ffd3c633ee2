"""schemathesis hooks for tests/test_schema_truth.py: the rules the schema states in words.

JSON Schema cannot compare two fields, so "correctQuestions: at most
totalQuestions" and "startedAt: not after completedAt" are in the fields'
descriptions; a client reads them there, and so does this filter: a body that
breaks one is not generated. Everything else the server refuses must be in
the schema itself.
"""

import schemathesis


def _keeps_documented_rules(item):
    if not isinstance(item, dict):
        return True
    correct, total = item.get("correctQuestions"), item.get("totalQuestions")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (correct, total))
    if numbers and correct > total:
        return False
    started, completed = item.get("startedAt"), item.get("completedAt")
    if isinstance(started, str) and isinstance(completed, str) and started > completed:
        return False
    return True


@schemathesis.hook
def filter_body(ctx, body):
    items = body.get("items") if isinstance(body, dict) else None
    if isinstance(items, list):
        return all(_keeps_documented_rules(item) for item in items)
    return _keeps_documented_rules(body)
