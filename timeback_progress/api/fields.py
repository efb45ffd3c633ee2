"""Input bounds the API applies before anything is written (``limits`` holds the values).

- ``TimestampField``: a client-given timestamp no earlier than
  ``limits.EARLIEST_TIMESTAMP`` and no later than now plus ``limits.CLOCK_SKEW``.
  Year-1 timestamps parse, but later break every read that converts them to
  a time zone west of UTC.
- ``check_time_totals``: a time report or completion that would take an
  attempt's active or inactive seconds past ``limits.MAX_ATTEMPT_SECONDS``
  is a 400 naming the field, never a database "integer out of range".
"""

from django.utils import timezone
from rest_framework import serializers

from ..limits import CLOCK_SKEW, EARLIEST_TIMESTAMP, MAX_ATTEMPT_SECONDS


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


class TimestampField(serializers.DateTimeField):
    """An ISO 8601 timestamp within ``EARLIEST_TIMESTAMP``..now + ``CLOCK_SKEW``."""

    default_error_messages = {
        "too_early": "Must be on or after {earliest}.",
        "too_late": "Cannot be in the future.",
    }

    def __init__(self, **kwargs):
        bounds = f"From {_iso(EARLIEST_TIMESTAMP)}; not in the future."
        kwargs["help_text"] = f"{kwargs['help_text']} {bounds}" if kwargs.get("help_text") else bounds
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        value = super().to_internal_value(value)
        if value < EARLIEST_TIMESTAMP:
            self.fail("too_early", earliest=_iso(EARLIEST_TIMESTAMP))
        if value > timezone.now() + CLOCK_SKEW:
            self.fail("too_late")
        return value


def time_total_errors(attempt, active_seconds, inactive_seconds):
    """Field errors for seconds that would take ``attempt``'s totals past ``MAX_ATTEMPT_SECONDS``."""
    errors = {}
    for field, current, added in (
        ("activeSeconds", attempt.active_seconds, active_seconds),
        ("inactiveSeconds", attempt.inactive_seconds, inactive_seconds),
    ):
        if added and current + added > MAX_ATTEMPT_SECONDS:
            errors[field] = [
                f"An attempt holds at most {MAX_ATTEMPT_SECONDS} seconds; "
                f"this one has {current}, so at most {max(MAX_ATTEMPT_SECONDS - current, 0)} more."
            ]
    return errors


def check_time_totals(attempt, active_seconds, inactive_seconds):
    """Raise a 400 (``ValidationError`` by field) if the seconds would pass the cap."""
    errors = time_total_errors(attempt, active_seconds, inactive_seconds)
    if errors:
        raise serializers.ValidationError(errors)
