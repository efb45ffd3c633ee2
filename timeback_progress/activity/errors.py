"""The vendor's error body, and the refusals this package raises.

The vendor answers every refusal as ``{"error": {"code": ..., "message": ...,
"details"?: ...}}`` (``timeback/server/lib/utils.py`` ``error_response``);
a page written for it reads ``error.code``. The codes are the vendor's where
the vendor has one for the case, and this app's own otherwise (listed in
docs/activity-protocol.md).
"""

from django.utils.translation import gettext as _


class ProtocolError(Exception):
    """A refusal: ``status`` and the vendor-shaped body; raised before anything is written, or rolls it back."""

    def __init__(self, code, message, status, details=None):
        super().__init__(message)
        self.code, self.message, self.status, self.details = code, message, status, details

    def body(self):
        error = {"code": self.code, "message": str(self.message)}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


def invalid(field, message):
    """The vendor's validation refusal: 400 ``INVALID_PAYLOAD`` naming the field."""
    return ProtocolError("INVALID_PAYLOAD", _("Invalid payload"), 400, {"field": field, "message": str(message)})


# DRF's refusals (authentication, CSRF, throttling, parsing) -> the vendor's codes where it has one.
STATUS_CODES = {
    400: "INVALID_PAYLOAD",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    415: "INVALID_PAYLOAD",
    429: "RATE_LIMITED",
}


def from_drf(status, detail):
    """A DRF exception's answer in the vendor's shape (its ``detail`` as the message)."""
    message = detail if isinstance(detail, str) else _("Invalid request.")
    return ProtocolError(STATUS_CODES.get(status, "INTERNAL_ERROR"), message, status).body()
