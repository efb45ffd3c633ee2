"""Scoped throttles for the API: ``timeback_write`` and ``timeback_read``.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``; a scope the host
leaves out is not throttled (rather than failing every request). Counts are kept
in the cache named by ``TIMEBACK_PROGRESS["API_THROTTLE_CACHE"]``.
"""

from django.core.cache import caches
from rest_framework.throttling import UserRateThrottle

from ..conf import app_settings


class _ScopedUserThrottle(UserRateThrottle):
    @property
    def cache(self):
        return caches[app_settings.API_THROTTLE_CACHE]

    def get_rate(self):
        return self.THROTTLE_RATES.get(self.scope)


class TimebackWriteThrottle(_ScopedUserThrottle):
    scope = "timeback_write"


class TimebackReadThrottle(_ScopedUserThrottle):
    scope = "timeback_read"
