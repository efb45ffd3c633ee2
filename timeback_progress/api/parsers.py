"""A JSON parser that turns every malformed body into a 400, never a 500."""

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


class StrictJSONParser(JSONParser):
    """DRF's JSONParser, plus: a size cap, and deep nesting or huge integers as 400s.

    Python's ``json`` raises ``RecursionError`` for deeply nested input and
    turns ``1e400`` into ``inf``; the first is caught here, the second by the
    serializers' finite-number fields.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise ParseError(f"Request body larger than {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(raw.decode(encoding), parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ParseError(f"JSON parse error - {str(exc)[:200]}") from None
