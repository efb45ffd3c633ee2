"""Idempotency keys of line item and result rows: ``lineitem:<sourcedId>``, ``result:<sourcedId>``.

One waiting row per key (the model's constraint) is what folds a re-sync into
a row that already waits; the send side reads the sourcedId back from the key.
"""


def line_item_key(activity):
    return f"lineitem:{activity.line_item_sourced_id}"


def result_key(result):
    return f"result:{result.sourced_id}"


def line_item_key_of(result_row):
    """The key of the line item a result row belongs to (None: neither a result nor a completion entry).

    An attempt's result names it; a course completion result carries it in its
    payload (``outbox.completion``).
    """
    if result_row.result_id:
        return f"lineitem:{result_row.result.line_item_sourced_id}"
    line_item = (result_row.payload or {}).get("completion", {}).get("lineItem")
    return f"lineitem:{line_item}" if line_item else None


def sourced_id(key):
    """The sourcedId a line item or result key names."""
    return key.split(":", 1)[1]
