"""Hostile values: what an attacker (or a broken client) puts in a query string,
a URL segment, a JSON body or a header.

Query and path values are given percent-encoded, exactly as they go on the
wire, so raw bytes (``%FF``, ``%00``) reach the server undecoded.
"""

from urllib.parse import quote

HUGE = "1234567890123456789012345"  # 25 digits: past every integer column

_TEXT = [
    "", "abc", "-1", "0", "1.5", "1e400", "NaN", "inf", HUGE, "-" + HUGE, str(2**63),
    "0001-01-01", "9999-12-31", "10000-01-01", "2024-02-30", "9999", "true", "[]", " 1 ",
    "<script>alert(1)</script>", "' OR 1=1--", "%", "x" * 4000, "9" * 5000,
    "\u00e9\U0001f600", "\u00b2", "\u0661\u0662", "a\r\nb",
]
# Percent-encoded as a browser would, plus raw bytes a browser would not send.
QUERY_VALUES = [quote(v, safe="") for v in _TEXT] + ["%00", "a%00b", "%FF%FE", "%ED%A0%80", "%2"]
# For parameters only Django's machinery reads (the admin's own): its edges, not every string.
GENERIC_QUERY_VALUES = [quote(v, safe="") for v in ("", "abc", HUGE, "9999", "0001-01-01")] + ["%00", "%FF"]
# A few values for the cheap passes (every parameter at once).
SAMPLE_QUERY_VALUES = [quote(v, safe="") for v in ("abc", HUGE, "9999-12-31", "0001-01-01", "")] + ["%00", "%FF"]

# Segments for ``<int:…>`` routes: numbers out of range, and what does not match at all (a 404 from the resolver).
INT_SEGMENTS = ["0", HUGE, str(2**63), str(2**64), "abc", "-1", "1.5", "%C2%B2", "%00", "1e3"]
# Segments for ``<str:…>`` and ``<path:…>`` routes (admin object ids are ``<path:object_id>``).
TEXT_SEGMENTS = [
    "abc", "-1", HUGE, "%C2%B2", "%D9%A1", "%EF%BC%91", "%00", "a%00b", "%FF", "x" * 3000,
    "%C3%A9%F0%9F%98%80", "1%2F2", "%20", "..", "%3Cscript%3E",
]

# JSON values for one body field (the rest of the body valid).
BODY_VALUES = [
    None, "", " ", "x", "\x00", "a\x00b", "x" * 20000, "\ud800", "\u00e9\U0001f600", "1", "1.5", "abc",
    0, -1, 1.5, -0.0, 2**31, 2**53 + 1, 2**63, 2**64, 10**25, -(10**25), 1e308, 1e-308, True, False, [], {}, [1, 2],
    {"a": 1}, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00",
    "1970-01-01T00:00:00Z", "2024-13-45T99:99:99Z", "2999-01-01T00:00:00Z", "2024-01-01", "now",
]

# Whole bodies for a JSON write (raw bytes).
RAW_BODIES = [
    b"", b"null", b"[]", b"1", b'"x"', b"{", b"\xff\xfe\x00", b"NaN", b'{"a": NaN}', b"1e400", b'{"a": 1e400}',
    b"[" * 100_000 + b"]" * 100_000, b'{"a": ' * 5000 + b"1" + b"}" * 5000, b'{"\\ud800": 1}', b"\x00",
    b'{"items": ' + b"[" + b",".join([b"{}"] * 5000) + b"]}",
]

CHARSETS = ["base64", "rot13", "zlib", "hex", "uu", "bz2", "quopri", "punycode", "undefined", "utf-7", "utf-16",
            "no-such-charset", "a\x00b", "x" * 300, ""]

# (name, environ entries) of header cases; each is sent to every route with a query string.
HEADER_CASES = [
    *((f"charset={c}", {"CONTENT_TYPE": f"application/json; charset={c}"}) for c in CHARSETS),
    ("form charset=base64", {"CONTENT_TYPE": "application/x-www-form-urlencoded; charset=base64"}),
    ("multipart charset=zlib", {"CONTENT_TYPE": "multipart/form-data; boundary=x; charset=zlib"}),
    ("multipart no boundary", {"CONTENT_TYPE": "multipart/form-data"}),
    ("content-type garbage", {"CONTENT_TYPE": ";;;=\x01"}),
    ("huge content-length", {"CONTENT_LENGTH": "99999999999999999999999"}),
    ("negative content-length", {"CONTENT_LENGTH": "-5"}),
    ("garbage content-length", {"CONTENT_LENGTH": "abc"}),
    ("accept xml", {"HTTP_ACCEPT": "application/xml"}),
    ("accept garbage", {"HTTP_ACCEPT": "*/*;q=abc, \x01/\x02"}),
    ("accept html", {"HTTP_ACCEPT": "text/html"}),
    ("accept-language garbage", {"HTTP_ACCEPT_LANGUAGE": "x" * 500 + ";q=\x00"}),
    ("bad host", {"HTTP_HOST": "evil.example.com"}),
    ("host with port garbage", {"HTTP_HOST": "testserver:abc"}),
    ("x-forwarded garbage", {"HTTP_X_FORWARDED_FOR": "\x00" * 10, "HTTP_X_FORWARDED_PROTO": "gopher"}),
    ("cookie garbage", {"HTTP_COOKIE": "sessionid=\x00; csrftoken=" + "x" * 5000}),
    ("idempotency-key garbage", {"HTTP_IDEMPOTENCY_KEY": "\u00e9\x00" + "k" * 300}),
    ("authorization garbage", {"HTTP_AUTHORIZATION": "Token \x00\u00e9"}),
    ("basic auth garbage", {"HTTP_AUTHORIZATION": "Basic %%%"}),
    ("if-modified-since garbage", {"HTTP_IF_MODIFIED_SINCE": "0001-01-01"}),
    ("range garbage", {"HTTP_RANGE": "bytes=99999999999999999999-"}),
]
