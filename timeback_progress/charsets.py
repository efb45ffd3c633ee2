"""Refuse request charsets that cannot decode text, before Django reads the request.

Django adopts the ``charset`` of a request's ``Content-Type`` if Python knows
a codec by that name, and decodes the query string and form bodies with it.
Some codecs are not text encodings (``base64``, ``rot13``, ``zlib``, ``hex``)
or fail on any input (``punycode``, ``undefined``), and a name holding a NUL
makes the codec lookup itself fail: each of these raises while Django builds
the request, before any middleware runs, so the server answers 500 to a
header anyone can send. ``CharsetGuard`` (WSGI) and ``AsgiCharsetGuard``
(ASGI) answer such requests with a JSON 415 instead; wrap the project's
application with one (``project/wsgi.py`` and ``project/asgi.py`` do)::

    application = CharsetGuard(get_wsgi_application())

Unknown names are left alone: Django ignores them and decodes UTF-8 (the
API's JSON parser refuses them itself, see ``api.parsers``).
"""

import codecs
import json

from django.utils.http import parse_header_parameters

# Bytes every usable charset decodes (or refuses with UnicodeDecodeError, which Django
# handles): ASCII as in a query string, and non-ASCII (punycode fails only on the first).
_PROBES = (b"q=a%C3%A9&b=1+2;x", b"\xc3\xa9\xff")
STATUS = "415 Unsupported Media Type"


def unusable_charset(content_type):
    """The ``charset`` of ``content_type`` if Django would adopt it but it cannot decode text, else None."""
    try:
        _, params = parse_header_parameters(content_type or "")
    except ValueError:
        return None
    name = params.get("charset")
    if name is None:
        return None
    try:
        codecs.lookup(name)
    except LookupError:
        return None  # unknown: Django ignores it
    except Exception:  # e.g. ValueError for an embedded NUL, which Django does not catch
        return name
    for probe in _PROBES:
        try:
            probe.decode(name)
        except UnicodeDecodeError:
            pass
        except Exception:  # LookupError ("not a text encoding"), UnicodeError, ...
            return name
    return None


def refusal(name):
    """The JSON body of the 415 (the name shown escaped and cut short)."""
    shown = name[:40].encode("ascii", "backslashreplace").decode("ascii")
    detail = f"Unsupported charset {shown!r}: send text in UTF-8."
    return json.dumps({"detail": detail}).encode()


class CharsetGuard:
    """WSGI middleware: a JSON 415 for a request whose charset would crash Django."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        name = unusable_charset(environ.get("CONTENT_TYPE", ""))
        if name is None:
            return self.application(environ, start_response)
        body = refusal(name)
        start_response(STATUS, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class AsgiCharsetGuard:
    """ASGI middleware: the same refusal for HTTP requests."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            # As Django's ASGIRequest: repeated headers are joined with commas.
            values = [value for key, value in scope.get("headers") or [] if key.lower() == b"content-type"]
            name = unusable_charset(b",".join(values).decode("latin-1"))
            if name is not None:
                body = refusal(name)
                await send({
                    "type": "http.response.start",
                    "status": 415,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                })
                await send({"type": "http.response.body", "body": body})
                return
        await self.application(scope, receive, send)
