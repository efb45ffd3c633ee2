"""Settings for the processes the integration tests start (``qcluster``,
``manage.py shell``): the suite's settings plus what the starting test hands
over in the child's environment, which it builds explicitly
(``tests/plugins/cluster.py``): the test database, the sandbox's URLs and
credentials, sync on, extra ``TIMEBACK_PROGRESS`` keys, the number of
django-q2 workers and the Redis broker. No ``.env`` file is read.
"""

import json
import os

from tests.settings import *  # noqa: F403 - the suite's settings, then the hand-over
from tests.settings import CACHES, Q_CLUSTER, TIMEBACK_PROGRESS

_given = {
    "AUTH_URL": os.environ.get("TIMEBACK_AUTH_URL"),
    "CALIPER_URL": os.environ.get("TIMEBACK_CALIPER_URL"),
    "API_URL": os.environ.get("TIMEBACK_API_URL"),
    "CLIENT_ID": os.environ.get("TIMEBACK_CLIENT_ID"),
    "CLIENT_SECRET": os.environ.get("TIMEBACK_CLIENT_SECRET"),
}
TIMEBACK_PROGRESS = {
    **TIMEBACK_PROGRESS,
    **{key: value for key, value in _given.items() if value},
    "SYNC_ENABLED": os.environ.get("TIMEBACK_SYNC_ENABLED", "").lower() == "true",
    **json.loads(os.environ.get("TIMEBACK_PROGRESS_EXTRA") or "{}"),
}

Q_CLUSTER = {**Q_CLUSTER, "workers": int(os.environ.get("Q_WORKERS") or Q_CLUSTER["workers"])}
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # Several clusters on the Redis broker share one token and throttle cache, as in production.
    Q_CLUSTER = {**{k: v for k, v in Q_CLUSTER.items() if k != "orm"}, "redis": REDIS_URL}
    CACHES = {
        alias: {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL} for alias in CACHES
    }
