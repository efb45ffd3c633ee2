"""Idempotency keys of line item and result rows: ``lineitem:<sourcedId>``, ``result:<sourcedId>``.

One waiting row per key (the model's constraint) is what folds a re-sync into
a row that already waits; the send side reads the sourcedId back from the key.
"""


def line_item_key(activity):
    return f"lineitem:{activity.line_item_sourced_id}"


def result_key(result):
    return f"result:{result.sourced_id}"


def line_item_key_of(result_row):
    """The key of the line item a result row's result belongs to."""
    return f"lineitem:{result_row.result.line_item_sourced_id}"


def sourced_id(key):
    """The sourcedId a line item or result key names."""
    return key.split(":", 1)[1]
