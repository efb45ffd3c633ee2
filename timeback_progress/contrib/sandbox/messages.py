"""What handlers take and return: the request, the response, a route, and the
OneRoster error and paging shapes every endpoint family shares."""

import json
import re
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: object
    body: bytes

    def json(self):
        """The parsed JSON body; raises ValueError with a readable reason."""
        if not self.body:
            raise ValueError("the request has no body")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ValueError(f"Content-Type must be application/json, not {ctype or 'missing'!r}")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"the body is not valid JSON: {exc}") from None

    def param(self, name, default=None):
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: object = None
    headers: dict = field(default_factory=dict)


@dataclass
class Route:
    method: str
    pattern: str
    handler: object
    endpoint: str  # counters and fault targeting: token, caliper, gradebook, rostering, admin
    auth: bool = True

    def __post_init__(self):
        self.regex = re.compile(f"^{self.pattern}$")


def ims_error(status, description, code_minor="invalid_data"):
    """The OneRoster (IMS) status payload."""
    return Response(status, {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {"imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": code_minor}
        ]},
    })


def paged(request, records, key):
    """A OneRoster collection page (limit/offset) with X-Total-Count, or a 400."""
    try:
        limit = int(request.param("limit", 100))
        offset = int(request.param("offset", 0))
    except ValueError:
        return ims_error(400, "limit and offset must be integers")
    if limit < 1 or offset < 0:
        return ims_error(400, "limit must be >= 1 and offset >= 0")
    page = records[offset:offset + limit]
    return Response(200, {key: page}, {"X-Total-Count": str(len(records))})


def summary(problems, limit=5):
    """The first ``limit`` problems on one line, for an error message."""
    head = "; ".join(problems[:limit])
    return head + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")
