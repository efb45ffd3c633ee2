"""A JSON parser that turns every malformed body into a 4xx, never a 500."""

import codecs
import json

from django.conf import settings
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser

# ASCII text that any charset a JSON body can be sent in decodes as itself.
_ASCII = b'{"a": [1, -2.5e+3, true, null]}\t\r\n'


def _reject_constant(name):
    raise ValueError(_("%(name)s is not valid JSON (numbers must be finite)") % {"name": name})


def body_charset(media_type):
    """The charset to decode a JSON body with: the ``charset`` parameter, else the default.

    Raises ``UnsupportedMediaType`` (415) for a name Python does not know, a
    codec that is not a text encoding (``base64``, ``rot13``, ``zlib``, ``hex``:
    ``bytes.decode`` raises ``LookupError``) and one that does not read ASCII
    as ASCII (UTF-16, UTF-7, EBCDIC): JSON is UTF-8 (RFC 8259), and such a
    charset is a client bug or an attempt to smuggle something past a filter.
    """
    try:
        params = parse_header_parameters(media_type or "")[1]
    except ValueError:
        params = {}
    name = params.get("charset")
    if name is None:
        return settings.DEFAULT_CHARSET
    try:
        codecs.lookup(name)
        usable = _ASCII.decode(name) == _ASCII.decode("ascii")
    except Exception:  # LookupError, UnicodeError, ValueError (a NUL in the name)
        usable = False
    if not usable:
        shown = name[:40].encode("ascii", "backslashreplace").decode("ascii")
        raise UnsupportedMediaType(
            media_type, detail=_("Unsupported charset %(name)r: send JSON in UTF-8.") % {"name": shown}
        )
    return name


class StrictJSONParser(JSONParser):
    """DRF's JSONParser, plus: a size cap, a usable charset, and deep nesting or huge integers as 400s.

    Python's ``json`` raises ``RecursionError`` for deeply nested input and
    turns ``1e400`` into ``inf``; the first is caught here, the second by the
    serializers' finite-number fields.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = body_charset(media_type)  # before reading: a refused charset reads nothing
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise ParseError(_("Request body larger than %(limit)d bytes.") % {"limit": limit})
        try:
            return json.loads(raw.decode(encoding), parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ParseError(_("JSON parse error - %(error)s") % {"error": str(exc)[:200]}) from None
