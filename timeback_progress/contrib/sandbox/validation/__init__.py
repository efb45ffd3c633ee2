"""The sandbox's payload rules: at least as strict as the vendor's pydantic models.

Each ``check_*`` returns a list of problems, ``"path: message"`` strings, empty
when the payload is acceptable. The rules follow ``timeback-caliper`` 0.4.0
(``ActivityCompletedEvent``, ``TimeSpentEvent``; in ``caliper``) and
``timeback-oneroster`` 0.4.0 (``AssessmentLineItemCreateInput``,
``AssessmentResultCreateInput``; in ``oneroster``) and go further where the
reference says what Timeback expects but the models do not check it:
``urn:uuid`` ids, ISO 8601 times, finite non-negative metrics, the
``@context``/``profile`` values, no unknown fields. See docs/sandbox.md.
"""

from .caliper import check_envelope, check_event
from .fields import Problems, is_date, is_datetime, is_number, is_text, is_urn_uuid
from .oneroster import check_line_item, check_result, unwrap

__all__ = [
    "Problems", "check_envelope", "check_event", "check_line_item", "check_result", "is_date", "is_datetime",
    "is_number", "is_text", "is_urn_uuid", "unwrap",
]
