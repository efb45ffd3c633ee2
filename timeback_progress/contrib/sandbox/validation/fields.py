"""The shared pieces of the payload rules: the problem list and the value tests.

Each ``check_*`` in ``caliper`` and ``oneroster`` returns a ``Problems`` list of
``"path: message"`` strings, empty when the payload is acceptable.
"""

import math
import re
import uuid
from datetime import date, datetime

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Problems(list):
    """Collects ``path: message`` strings."""

    def add(self, path, message):
        self.append(f"{path}: {message}" if path else message)


def is_number(value):
    """A JSON number a double can hold: not a bool, not NaN or Infinity (JSON has none), not beyond 1.8e308."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a double: the vendor's float fields refuse it
        return False


def is_datetime(value):
    if not isinstance(value, str) or not _DATETIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def is_date(value):
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_urn_uuid(value):
    if not isinstance(value, str) or not value.startswith("urn:uuid:"):
        return False
    raw = value[len("urn:uuid:"):]
    try:
        return str(uuid.UUID(raw)) == raw.lower() and len(raw) == 36
    except ValueError:
        return False


def is_text(value):
    return isinstance(value, str) and bool(value.strip())


def require_fields(obj, path, fields, problems):
    for name in fields:
        if name not in obj or obj[name] is None:
            problems.add(f"{path}.{name}" if path else name, "required")


def refuse_unknown(obj, path, allowed, problems):
    for name in obj:
        if name not in allowed:
            problems.add(f"{path}.{name}" if path else name, "unknown field")


def check_types(obj, path, problems, **kinds):
    """``kinds`` maps field name to 'text', 'str', 'dict', 'bool', 'number', 'iri_or_dict'."""
    checks = {
        "text": (is_text, "must be a non-empty string"),
        "str": (lambda v: isinstance(v, str), "must be a string"),
        "dict": (lambda v: isinstance(v, dict), "must be an object"),
        "bool": (lambda v: isinstance(v, bool), "must be true or false"),
        "number": (is_number, "must be a number"),
        "iri_or_dict": (lambda v: isinstance(v, dict) or is_text(v), "must be an IRI string or an object"),
    }
    for name, kind in kinds.items():
        value = obj.get(name)
        if value is not None:
            ok, message = checks[kind]
            if not ok(value):
                problems.add(f"{path}.{name}" if path else name, message)
