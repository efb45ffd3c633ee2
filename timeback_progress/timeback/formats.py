"""How Timeback writes dates and numbers on the wire (Caliper, OneRoster gradebook and rostering)."""

from datetime import UTC


def isoformat(value):
    """ISO 8601 in UTC with a ``Z`` and millisecond precision: 2025-08-01T12:00:00.000Z."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def number(value):
    """JSON number: ints stay ints, Decimals become floats only when fractional."""
    if value is None:
        return 0
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float
