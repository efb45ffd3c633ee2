"""API throttles: ``timeback_write`` and ``timeback_read`` per user, ``timeback_service`` for service accounts.

A scope's rate is ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope]`` when the
host sets it (None turns the scope off), else ``TIMEBACK_PROGRESS["THROTTLE_RATES"]``,
else the app's default (``conf.DEFAULTS``; why those numbers: docs/api.md).
A scope nobody configures is throttled at the default rate: an unthrottled API
is not a safe default.

Counts live in the cache ``API_THROTTLE_CACHE``, one atomic counter per user
and window (``timeback_progress.ratelimit``): shared by every worker process
when the cache is (check W005 warns when it is per process).

A user holding ``timeback_progress.add_attempt`` (a server writing for many
students) counts against ``timeback_service`` instead of the per-user rate.
Writes look the permission up anyway (``permissions.may_act_in``), so this
costs no query; for reads only staff pay for the lookup, since only they can
read for others.
"""

from django.core.cache import caches
from rest_framework.throttling import UserRateThrottle

from .. import ratelimit
from ..conf import app_settings
from .permissions import is_service

SERVICE_SCOPE = "timeback_service"


class _CountingThrottle(UserRateThrottle):
    """DRF's per-user throttle (the address for anonymous callers), counted with ``ratelimit.hit``."""

    retry_after = None

    @property
    def cache(self):
        return caches[app_settings.API_THROTTLE_CACHE]

    def get_rate(self):
        if self.scope in self.THROTTLE_RATES:
            return self.THROTTLE_RATES[self.scope]
        return ratelimit.rate_for(self.scope)

    def parse_rate(self, rate):
        return ratelimit.parse_rate(rate) or (None, None)

    def get_ident(self, request):
        return ratelimit.client_ip(request)

    def is_service(self, user):
        return False

    def allow_request(self, request, view):
        user = request.user
        if user and user.is_authenticated and self.is_service(user):
            self.scope = SERVICE_SCOPE
            self.rate = self.get_rate()
            self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        verdict = ratelimit.hit(self.cache, key, self.num_requests, self.duration)
        self.retry_after = verdict.retry_after
        return verdict.allowed

    def wait(self):
        return self.retry_after


class TimebackWriteThrottle(_CountingThrottle):
    scope = "timeback_write"

    def is_service(self, user):
        return is_service(user)


class TimebackReadThrottle(_CountingThrottle):
    scope = "timeback_read"

    def is_service(self, user):
        return user.is_staff and is_service(user)
