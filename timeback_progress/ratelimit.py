"""Rate limits counted in a Django cache, shared by the API throttles and the dashboards.

Each (scope, caller, window) is one integer in the cache, raised with ``incr``.
``incr`` is atomic in Redis, Memcached and local memory, so requests of one
user served at the same moment by different workers are all counted. DRF's
own ``SimpleRateThrottle`` reads a list of timestamps and writes it back: two
workers serving the same user at once both read the same list, one write wins,
and the other request goes uncounted, which is exactly when a client hammers
the site from many connections. Its list also holds one entry per allowed
request (6,000 floats at 6,000/min, read and written on every request).

Windows are fixed (aligned on the epoch): a caller may spend one window's
allowance at its end and the next one's at the start, so up to twice the rate
can pass in a short burst across a boundary, never more; over any two windows
the rate holds. A client that keeps retrying gets in again when the window
turns: a new window is a new counter.

Counts are only as shared as the cache: a per-process cache (locmem) counts
per process, which system check W005 reports (docs/checks.md).
"""

import logging
import math
import re
import time
from dataclasses import dataclass

from django.utils.translation import gettext

from .conf import DEFAULTS, app_settings

logger = logging.getLogger(__name__)

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# DRF's rate format: "<count>/<period>", the period read from its first letter
# (s, m, h, d), so "60/min", "60/minute" and "60/m" are the same rate.
RATE = re.compile(r"\s*(\d+)\s*/\s*([smhd])[a-z]*\s*", re.IGNORECASE)


# The time windows are counted in (tests freeze it).
clock = time.time


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0  # seconds until the window turns (refused requests only)


def parse_rate(rate):
    """``"60/min"`` -> ``(60, 60)``: requests per window and the window in seconds; None for None (off).

    Anything else is a ValueError naming the format, so a mistyped rate is found
    by ``manage.py check`` (E011) instead of failing every request.
    """
    if rate is None:
        return None
    match = RATE.fullmatch(rate) if isinstance(rate, str) else None
    if not match or int(match.group(1)) < 1:
        raise ValueError(gettext(
            "%(rate)r is not a rate: use a positive count and a period, e.g. \"60/min\", \"1000/hour\", or None for no limit."
        ) % {"rate": rate})
    return int(match.group(1)), UNITS[match.group(2).lower()]


def rates():
    """The app's rate for each scope: ``THROTTLE_RATES`` over the defaults, scope by scope."""
    given = app_settings.THROTTLE_RATES
    return {**DEFAULTS["THROTTLE_RATES"], **(given if isinstance(given, dict) else {})}


def rate_for(scope):
    return rates().get(scope)


def window(now, seconds):
    """The index of the window ``now`` falls in, and the seconds left in it."""
    index = int(now // seconds)
    return index, (index + 1) * seconds - now


def hit(cache, key, limit, seconds, now=None):
    """Count one request against ``limit`` per ``seconds`` for ``key``: allowed while the window's count is within it."""
    now = clock() if now is None else now
    index, left = window(now, seconds)
    bucket = f"{key}:{seconds}:{index}"
    try:
        # Kept past its window so an increment never meets an expiring key; a new window is a new key.
        count = _increment(cache, bucket, timeout=seconds * 2 + 1)
    except Exception:
        # A guard, not a dependency: with the cache down (Redis gone, no cache
        # table yet) requests are served uncounted rather than all failing.
        logger.exception("The throttle cache failed; request %s served without counting it.", bucket)
        return Verdict(True)
    if count <= limit:
        return Verdict(True)
    return Verdict(False, left)


def _increment(cache, key, timeout):
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request
        if cache.add(key, 1, timeout):
            return 1
        return cache.incr(key)  # another worker added it first


def retry_after_header(seconds):
    """Whole seconds for a ``Retry-After`` header: rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))


def client_ip(request):
    """The caller's address, for callers that are not signed in.

    ``REMOTE_ADDR`` unless ``REST_FRAMEWORK["NUM_PROXIES"]`` says how many
    proxies the site trusts: then the address the outermost of them saw in
    ``X-Forwarded-For``. Never the header's first entry, which the client
    writes itself (a new value per request would be a new caller each time).
    """
    from rest_framework.settings import api_settings

    remote = request.META.get("REMOTE_ADDR") or "unknown"
    proxies = api_settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not proxies or not forwarded:
        return remote
    hops = [part.strip() for part in forwarded.split(",") if part.strip()]
    return hops[-min(proxies, len(hops))] if hops else remote
