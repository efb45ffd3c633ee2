"""Strict request fields, and what the published schema says about them.

Numbers are strict: JSON numbers only (no strings, no booleans), finite, and
within bounds, so a typo never becomes XP. The schema states each field's
whole rule (type, bounds, decimal places, non-blank ids), so a client
generated from ``/api/schema/`` sends only what the server accepts.

Input bounds the API applies before anything is written (``limits`` holds the values):

- ``TimestampField``: a client-given timestamp no earlier than
  ``limits.EARLIEST_TIMESTAMP`` and no later than now plus ``TIME_TOLERANCE_SECONDS``
  (``limits.timestamp_problem``, the services' bound too).
  Year-1 timestamps parse, but later break every read that converts them to
  a time zone west of UTC.
- ``check_time_totals``: a time report or completion that would take an
  attempt's active or inactive seconds past ``limits.MAX_ATTEMPT_SECONDS``
  is a 400 naming the field, never a database "integer out of range".
"""


import math

from django.utils import timezone
from django.utils.translation import gettext as _, gettext_lazy
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from ..conf import app_settings
from ..limits import EARLIEST_TIMESTAMP, MAX_ATTEMPT_SECONDS, timestamp_problem

# A string DRF's CharField keeps: not blank once trimmed (trim_whitespace), no NUL.
NOT_BLANK_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (``5`` or ``5.0``), never ``"5"``, ``true``, ``5.5`` or NaN."""

    default_error_messages = {"invalid": gettext_lazy("A JSON integer is required.")}

    def to_internal_value(self, data):
        if isinstance(data, float) and math.isfinite(data) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictDecimalField(serializers.DecimalField):
    """A finite JSON number with at most ``decimal_places`` places (partial credit).

    It takes a JSON number, so it is one in the schema too (``coerce_to_string``
    off: drf-spectacular documents a coerced DecimalField as a string, which a
    generated client then sends and the server refuses).
    """

    default_error_messages = {"invalid": gettext_lazy("A finite JSON number is required.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("coerce_to_string", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        if isinstance(data, float) and not math.isfinite(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictDecimalFieldSchema(OpenApiSerializerFieldExtension):
    """``type: number`` with the bounds and ``multipleOf`` for the decimal places the field keeps."""

    target_class = StrictDecimalField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        schema["multipleOf"] = 10 ** -self.target.decimal_places if self.target.decimal_places else 1
        schema.pop("format", None)  # "decimal"/"double": a plain JSON number
        return schema


class SourcedIdField(serializers.CharField):
    """A OneRoster sourcedId or activity id: 1 to 255 characters, not blank."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 255)
        kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)


class SourcedIdFieldSchema(OpenApiSerializerFieldExtension):
    target_class = SourcedIdField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        schema["pattern"] = NOT_BLANK_PATTERN
        return schema


def printable(value, limit=50):
    """Client input safe to echo in an error (a lone surrogate cannot be encoded as UTF-8)."""
    return str(value)[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


class StrictChoiceField(serializers.ChoiceField):
    """A JSON string among the choices (DRF's own would match ``str(data)``)."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or data not in self.choice_strings_to_values:
            self.fail("invalid_choice", input=printable(data))
        return self.choice_strings_to_values[data]


# -- timestamps and time totals ---------------------------------------------------


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


class TimestampField(serializers.DateTimeField):
    """An ISO 8601 timestamp within ``EARLIEST_TIMESTAMP``..now + ``TIME_TOLERANCE_SECONDS``."""

    default_error_messages = {
        "too_early": gettext_lazy("Must be on or after {earliest}."),
        "too_late": gettext_lazy("Cannot be in the future."),
    }

    def __init__(self, **kwargs):
        bounds = f"From {_iso(EARLIEST_TIMESTAMP)}; not in the future."
        kwargs["help_text"] = f"{kwargs['help_text']} {bounds}" if kwargs.get("help_text") else bounds
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        value = super().to_internal_value(value)
        problem = timestamp_problem(value, timezone.now(), app_settings.TIME_TOLERANCE_SECONDS)
        if problem:
            self.fail(problem, earliest=_iso(EARLIEST_TIMESTAMP))
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
                _("An attempt holds at most %(maximum)d seconds; this one has %(current)d, so at most %(more)d more.")
                % {"maximum": MAX_ATTEMPT_SECONDS, "current": current, "more": max(MAX_ATTEMPT_SECONDS - current, 0)}
            ]
    return errors


def check_time_totals(attempt, active_seconds, inactive_seconds):
    """Raise a 400 (``ValidationError`` by field) if the seconds would pass the cap."""
    errors = time_total_errors(attempt, active_seconds, inactive_seconds)
    if errors:
        raise serializers.ValidationError(errors)
