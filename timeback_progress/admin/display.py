"""Small display helpers for admin pages: secrets masked, JSON pretty-printed,
audit diffs, minutes."""

import json

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from ..timeback.redaction import redact_configured

REDACTED = "********"
SENSITIVE_KEY_PARTS = ("secret", "password", "token", "authorization", "api_key", "apikey")


# -- secrets never reach a page -------------------------------------------------


def redact(value):
    """``value`` with secret-looking keys masked and the configured client secret removed.

    Payloads hold no secret by construction; this is the second line of defence
    for error texts and anything a future payload might carry.
    """
    if isinstance(value, dict):
        return {
            k: REDACTED if any(p in str(k).lower() for p in SENSITIVE_KEY_PARTS) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_configured(value, mask=REDACTED)  # as written and in every encoding a server may echo
    return value


def pretty_json(value):
    return format_html("<pre class=\"tbp-json\">{}</pre>", json.dumps(redact(value), indent=2, sort_keys=True, default=str))


def diff(before, after):
    """``(key, before, after)`` for each value an audit row shows changing."""
    return [
        (key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def minutes(seconds):
    return f"{(seconds or 0) / 60:.0f}"


def short_datetime(value):
    """"2025-03-04 14:05" in the current time zone: a list column that keeps its row on one line."""
    return value and date_format(timezone.localtime(value), "Y-m-d H:i")


def clipped(text, limit):
    """``text`` cut to ``limit`` characters, the whole of it in a tooltip (a list cell stays narrow)."""
    text = text or ""
    if len(text) <= limit:
        return text
    return format_html('<span title="{}">{}…</span>', text, text[: limit - 1])
