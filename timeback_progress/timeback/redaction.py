"""Blanking out a credential in text, in every form a server may echo it back in.

The client sends the secret form-encoded (``client_secret=Zq8%2Ba%2Fb%3D``),
and servers repeat what they got in their own ways: decoded, percent-encoded
in either case (maybe twice), inside JSON (``\\/``, ``\\u002b``, escaped again
when the JSON is quoted in more JSON), HTML-escaped by a proxy's error page,
or base64 as in HTTP Basic (``base64(client_id:client_secret)``, the id and
secret form-encoded or not) or the whole request body in base64. Matching one
spelling of the secret misses the others, so a secret becomes one pattern:
each of its characters may appear in any of those escapes, and its base64
appears at any of the three byte alignments. The same holds for bearer tokens.

Every text from Timeback that is kept or shown (error messages, hence logs,
``Delivery.last_error``, the admin, command output) passes through here.
"""

import base64
import functools
import re
import string
from urllib.parse import quote, quote_plus

from django.views.decorators.debug import sensitive_variables

MASK = "***"
# Shorter "secrets" would blank ordinary words; a real credential is far longer.
MIN_LENGTH = 4
# JSON's short escapes for the characters that have one.
JSON_SHORT = {"\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", '"': '"', "\\": "\\", "/": "/"}
UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
HTML_NAMED = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}


@sensitive_variables()
def redact(text, secrets, *, mask=MASK):
    """``text`` with every form of every secret in ``secrets`` replaced by ``mask``."""
    if not text:
        return text
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= MIN_LENGTH:
            text = pattern(secret).sub(mask, text)
            garbled = _as_latin1(secret)  # a UTF-8 echo read as Latin-1 (a text body without a charset)
            if garbled != secret:
                text = pattern(garbled).sub(mask, text)
    return text


def _as_latin1(secret):
    return secret.encode("utf-8").decode("latin-1")


@sensitive_variables()
def redact_configured(text, *, mask=MASK):
    """``text`` without the configured ``CLIENT_SECRET`` in any form: the last check before text is stored or shown."""
    from ..conf import app_settings

    return redact(text, (app_settings.CLIENT_SECRET,), mask=mask)


@sensitive_variables()
def redact_all(value, secrets, *, mask=MASK):
    """``redact`` applied to every string inside ``value`` (dicts, lists), e.g. a server's per-item errors."""
    if isinstance(value, str):
        return redact(value, secrets, mask=mask)
    if isinstance(value, dict):
        return {redact_all(k, secrets, mask=mask): redact_all(v, secrets, mask=mask) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_all(v, secrets, mask=mask) for v in value]
    return value


@functools.lru_cache(maxsize=32)
@sensitive_variables()
def pattern(secret):
    """One compiled pattern matching ``secret`` in any of the forms above (cached: tokens recur)."""
    chars = "".join(_char(c) for c in secret)
    cores = sorted(_base64_cores(secret), key=len, reverse=True)
    hexed = secret.encode().hex()
    return re.compile("|".join([chars, *("".join(map(_base64_char, core)) for core in cores), f"(?i:{hexed})"]))


@functools.lru_cache(maxsize=None)
def _wrapped(c):
    """``c`` as written or as a wrapping layer escapes it: JSON (``\\u002b``, ``\\/``, the backslash maybe
    doubled by quoting again), an HTML character reference, a Python bytes repr (``\\xc3``)."""
    forms = []  # the escapes first, the character as written last
    units = c.encode("utf-16-be")  # a surrogate pair beyond the BMP
    forms.append("".join(rf"\\+u{_hex_digits(int.from_bytes(units[i:i + 2], 'big'), 4)}" for i in range(0, len(units), 2)))
    if c in JSON_SHORT:
        forms.append(r"\\+" + re.escape(JSON_SHORT[c]))
    data = c.encode("utf-8")
    if len(data) > 1 or not c.isprintable():
        forms.append("".join(rf"\\+x{_hex_digits(b, 2)}" for b in data))
    forms.append(f"&#0*{ord(c)};")
    forms.append(f"&#[xX]0*{_hex_digits(ord(c), 1)};")
    if c in HTML_NAMED:
        forms.append(f"&{HTML_NAMED[c]};")
    forms.append(re.escape(c))
    return "(?:" + "|".join(forms) + ")"


@functools.lru_cache(maxsize=None)
def _percent(byte):
    """One byte percent-encoded, in either case, maybe encoded again (``%252B``), each character maybe wrapped."""
    digits = "".join(
        f"(?:{_wrapped(d.lower())}|{_wrapped(d.upper())})" if d.isalpha() else _wrapped(d) for d in f"{byte:02X}"
    )
    return f"{_wrapped('%')}(?:{_wrapped('2')}{_wrapped('5')})*{digits}"


@functools.lru_cache(maxsize=None)
def _char(c):
    """A pattern for one character of a secret: percent-encoded (a form's "+" for a space) or ``_wrapped``."""
    if c in UNRESERVED:  # never percent-encoded (RFC 3986): a long token stays a small pattern
        return _wrapped(c)
    forms = ["".join(_percent(b) for b in c.encode("utf-8"))]
    if c == " ":
        forms += [_percent(ord("+")), _wrapped("+")]
    forms.append(_wrapped(c))  # last: "%2525" is one "%", not "%" and "2525"
    return "(?:" + "|".join(forms) + ")"


def _base64_char(c):
    """A character of base64: letters and digits as written; + / = (and - _) maybe escaped as in ``_char``."""
    return _char(c) if c in "+/=-_" else c


def _hex_digits(value, width):
    """``value`` in hex, each letter matching either case (``2b`` and ``2B``)."""
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{value:0{width}X}")


def _base64_cores(secret):
    """The base64 characters fixed by ``secret``'s bytes at each alignment, standard and URL-safe.

    Inside any base64 text that contains the secret (alone, after ``client_id:``
    in Basic, or in a whole request body), its bytes start at one of three
    offsets modulo 3; each offset yields a run of characters that depends on
    the secret alone. Blanking that run leaves at most two characters of it.
    """
    cores = set()
    twice = quote_plus(quote_plus(secret))  # a form-encoded body form-encoded again (a Basic of the whole body)
    for form in {secret, quote_plus(secret), quote(secret, safe=""), twice, twice.replace("+", "%20")}:
        data = form.encode("utf-8")
        for offset in range(3):
            encoded = base64.b64encode(b"\0" * offset + data).decode().rstrip("=")
            first = -(-8 * offset // 6)  # the first character with no bit of the filler
            last = (8 * (offset + len(data))) // 6  # characters before it hold whole bits of the data only
            core = encoded[first:last]
            if len(core) >= MIN_LENGTH:
                cores.add(core)
                cores.add(core.translate(str.maketrans("+/", "-_")))
    return cores
