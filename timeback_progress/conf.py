"""The one ``TIMEBACK_PROGRESS`` settings dict, with defaults merged in.

Read settings through ``app_settings`` (``from timeback_progress.conf import
app_settings``); the merged dict is cached and rebuilt when tests change
``TIMEBACK_PROGRESS`` with ``override_settings``.
"""

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.views.decorators.debug import sensitive_variables

SETTINGS_NAME = "TIMEBACK_PROGRESS"

# Where each platform lives and the paths it serves (see docs/timeback-api.md,
# "Environments"; the LearnWith.AI profile is the vendor's timeback-common 0.4.0
# config). ENVIRONMENT picks the hosts; every key below is also a setting of its
# own, None by default, so one can be overridden without restating the rest.
PLATFORMS = {
    # The seed's hosts and the IMS paths: the default.
    "timeback": {
        "hosts": {
            "staging": {
                "AUTH_URL": "https://staging-beyond-timeback-api-2-idp.auth.us-east-1.amazoncognito.com",
                "CALIPER_URL": "https://caliper-staging.alpha-1edtech.ai",
                "API_URL": "https://api.staging.alpha-1edtech.ai",
            },
            "production": {
                "AUTH_URL": "https://prod-beyond-timeback-api-2-idp.auth.us-east-1.amazoncognito.com",
                "CALIPER_URL": "https://caliper.alpha-1edtech.ai",
                "API_URL": "https://api.alpha-1edtech.ai",
            },
        },
        "TOKEN_PATH": "/oauth2/token",
        "TOKEN_SCOPE": None,
        "CALIPER_EVENTS_PATH": "/ims/caliper/v1p2/events",
        "GRADEBOOK_PATH": "/ims/oneroster/gradebook/v1p2",
        "ROSTERING_PATH": "/ims/oneroster/rostering/v1p2",
    },
    # The vendor's second platform: one host for everything, and a token endpoint that wants a scope.
    "learnwith.ai": {
        "hosts": {
            "staging": {
                "AUTH_URL": "https://platform.dev.timeback.com",
                "CALIPER_URL": "https://platform.dev.timeback.com",
                "API_URL": "https://platform.dev.timeback.com",
            },
            "production": {
                "AUTH_URL": "https://platform.timeback.com",
                "CALIPER_URL": "https://platform.timeback.com",
                "API_URL": "https://platform.timeback.com",
            },
        },
        "TOKEN_PATH": "/auth/1.0/token",
        "TOKEN_SCOPE": "https://purl.imsglobal.org/spec/caliper/v1p2/scope/events.write",
        "CALIPER_EVENTS_PATH": "/caliper/v1p2",
        "GRADEBOOK_PATH": "/gradebook/1.0",
        "ROSTERING_PATH": "/rostering/1.0",
    },
}
DEFAULT_PLATFORM = "timeback"
# The default platform's hosts per environment (the names ENVIRONMENT accepts).
ENVIRONMENTS = PLATFORMS[DEFAULT_PLATFORM]["hosts"]
HOST_KEYS = ("AUTH_URL", "CALIPER_URL", "API_URL")
# Renamed settings: old name -> new name. A host's value under the old name is
# used when the new one is not set (check W006 names the new key).
RENAMED = {"STUCK_FAILED_ATTEMPTS": "STRUGGLING_ATTEMPTS", "STUCK_INACTIVE_DAYS": "INACTIVE_DAYS"}
PATH_KEYS = ("TOKEN_PATH", "TOKEN_SCOPE", "CALIPER_EVENTS_PATH", "GRADEBOOK_PATH", "ROSTERING_PATH")

DEFAULTS = {
    # Which platform ("timeback" or "learnwith.ai") and where: "staging" or
    # "production". Hosts, paths and scope left as None follow these two.
    "PLATFORM": DEFAULT_PLATFORM,
    "ENVIRONMENT": "staging",
    "AUTH_URL": None,
    "CALIPER_URL": None,
    "API_URL": None,
    "TOKEN_PATH": None,
    # OAuth2 scope sent with the token request; "" sends none.
    "TOKEN_SCOPE": None,
    "CALIPER_EVENTS_PATH": None,
    "GRADEBOOK_PATH": None,
    "ROSTERING_PATH": None,
    # OAuth2 client credentials; read them from the environment, never commit them.
    "CLIENT_ID": "",
    "CLIENT_SECRET": "",
    # The Caliper envelope's ``sensor``: your learning app's URL.
    "SENSOR": "http://localhost:8000",
    # Master switch: with False, outbox rows stay pending and nothing is sent.
    "SYNC_ENABLED": False,
    # HTTP client.
    "CONNECT_TIMEOUT": 5.0,
    "READ_TIMEOUT": 30.0,
    "TOKEN_CACHE_ALIAS": "default",
    "TOKEN_REFRESH_MARGIN": 60,
    # XP rules: dotted path to a function with calculate_xp's signature.
    "XP_POLICY": "timeback_progress.xp.calculate_xp",
    # Map the app's own subject names onto Caliper subjects, e.g. {"Maths": "Math"}.
    "SUBJECT_MAP": {},
    # Ask Timeback to build gradebook entries from events (then the app writes none).
    "CALIPER_PROCESS": False,
    # Regular line items carry their activity's componentResource (the seed's example form).
    # Off, as the vendor's SDK: on the real platform the first fully graded result of a
    # linked line item can mark the course complete; the course's mastery-completion entry
    # (docs/semantics/course-completion.md) is the one that does.
    "LINK_COMPONENT_RESOURCE": False,
    # Time of an open attempt goes out as a TimeSpentEvent once this many seconds
    # (active + inactive) are unsent, or once none was reported for this long
    # (the sweeper, for attempts never completed); completion sends the rest.
    # 0 sends every report at once.
    "TIME_FLUSH_SECONDS": 60,
    # Reported time may run ahead of the wall clock since the attempt started by
    # this many seconds (client clocks, request latency); beyond it, a report is refused.
    "TIME_TOLERANCE_SECONDS": 120,
    # A TimeSpentEvent covers at most this many seconds of wall-clock time (the
    # vendor's browser heartbeat: one event per 15 s), so time lands on its day.
    "TIME_WINDOW_SECONDS": 15,
    # A flush writes at most this many TimeSpentEvents: a larger backlog (a recorded
    # long attempt) gets longer windows rather than one row per 15 s (an hour's worth).
    "TIME_WINDOWS_PER_FLUSH": 240,
    # Outbox delivery.
    "BATCH_SIZE": 100,
    "CLAIM_SIZE": 500,
    "LEASE_SECONDS": 120,
    "MAX_ATTEMPTS": 12,
    "BACKOFF_BASE_SECONDS": 2.0,
    "BACKOFF_MAX_SECONDS": 3600.0,
    "SWEEP_INTERVAL_MINUTES": 1,
    # Days sent outbox rows and API idempotency records are kept (daily purge).
    "SENT_RETENTION_DAYS": 30,
    "IDEMPOTENCY_RETENTION_DAYS": 7,
    # A delivery task keeps draining while a retry falls due this soon...
    "DRAIN_WAIT_SECONDS": 10.0,
    # ...for at most this long (keep it under Q_CLUSTER's timeout).
    "TASK_TIME_BUDGET_SECONDS": 120.0,
    "SEND_CONCURRENCY": 24,
    # Admin sync health: an unsent row older than this many minutes flags sync as stale.
    "ADMIN_SYNC_STALE_MINUTES": 15,
    # Dashboards' flags: "struggling" after this many completed attempts in a row
    # under the XP policy's pass mark; "inactive" after this many days without activity.
    "STRUGGLING_ATTEMPTS": 3,
    "INACTIVE_DAYS": 7,
    # The old names of those two (before the flags were split): read when a host
    # sets them and not the new names, with a warning (W006). None: not set.
    "STUCK_FAILED_ATTEMPTS": None,
    "STUCK_INACTIVE_DAYS": None,
    "DASHBOARD_PAGE_SIZE": 50,
    # Attempts per page on a student's dashboard page.
    "DASHBOARD_ATTEMPTS_PAGE_SIZE": 20,
    # Days the class XP chart shows when no date range is chosen.
    "DASHBOARD_CHART_DAYS": 30,
    # The time zone dashboard pages show times in (an IANA name, "Europe/Madrid");
    # None keeps the current zone: the host's TIME_ZONE, or one its middleware activated.
    "DASHBOARD_TIME_ZONE": None,
    # "Where the class struggles" flags an activity when more than this percent of the
    # students who completed it never reached the XP policy's pass mark there.
    "DASHBOARD_STRUGGLING_ACTIVITY_PERCENT": 50,
    # REST API (timeback_progress.api): list page size, items per batch record
    # call, the largest totalQuestions accepted, and the cache alias every
    # throttle (API, dashboards, export) counts in: one all worker processes
    # share (Redis, Memcached, the database), or each process counts alone (W005).
    "API_PAGE_SIZE": 50,
    "API_BATCH_LIMIT": 100,
    "API_MAX_QUESTIONS": 10_000,
    "API_THROTTLE_CACHE": "default",
    # Requests per caller per window ("count/s|min|hour|day"; None: no limit),
    # per signed-in user, per address for anyone else. Keys given replace these
    # one by one; REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] wins for the API scopes.
    # Why these numbers: docs/api.md, "Throttling".
    "THROTTLE_RATES": {
        # A student's app: a time report every 15 s is 4/min, plus starts and completions.
        "timeback_write": "60/min",
        # A server writing for a whole school through one account (timeback_progress.add_attempt):
        # 4/min for each of 750 students timed at once.
        "timeback_service": "3000/min",
        # Reads: a page load of a learning app makes a handful at once.
        "timeback_read": "120/min",
        # Dashboard pages: a teacher clicking through filters, sorting and pages.
        "timeback_dashboard": "120/min",
        # The CSV export reads a whole class: a few courses in a row, not a loop.
        "timeback_export": "10/min",
    },
    # Students may record completed attempts themselves (record, record/batch);
    # by default only users holding timeback_progress.add_attempt may.
    "API_STUDENTS_MAY_RECORD": False,
    # True serves /api/schema/ and /api/docs/ to anyone; by default they need a signed-in user.
    "API_SCHEMA_PUBLIC": False,
    # The vendor's activity protocol (timeback_progress.activity, docs/activity-protocol.md):
    # False computes XP by the rules and ignores the page's xpEarned; True applies it as an
    # audited correction of the rules' XP. Seconds between heartbeats, and of no input after
    # which visible time counts as inactive (the browser kit reads both).
    "ACTIVITY_TRUST_CLIENT_XP": False,
    "ACTIVITY_HEARTBEAT_SECONDS": 15,
    "ACTIVITY_IDLE_SECONDS": 60,
    # Roster import: teacher emails to host usernames when emails do not match.
    "ROSTER_USER_MAP": {},
    "ROSTER_PAGE_SIZE": 1000,
}


class AppSettings:
    """Attribute access to the merged settings; unknown names raise AttributeError."""

    def __init__(self, defaults):
        self.defaults = defaults
        self._cached = None

    @property
    def user_settings(self):
        return getattr(settings, SETTINGS_NAME, None) or {}

    @sensitive_variables("merged")  # holds CLIENT_SECRET: never in an error report
    def as_dict(self):
        if self._cached is None:
            merged = dict(self.defaults)
            merged.update(self.user_settings)
            for old, new in RENAMED.items():
                if new not in self.user_settings and merged.get(old) is not None:
                    merged[new] = merged[old]
            # An unknown platform or environment resolves nothing: the checks name it.
            profile = PLATFORMS.get(merged["PLATFORM"], {})
            hosts = profile.get("hosts", {}).get(merged["ENVIRONMENT"], {})
            for key in HOST_KEYS:
                if not merged.get(key):  # "" too: the example project reads unset URLs as empty
                    merged[key] = hosts.get(key)
            for key in PATH_KEYS:
                if merged.get(key) is None:  # "" is a value here (no scope, no path prefix)
                    merged[key] = profile.get(key)
            for key in HOST_KEYS:
                if merged.get(key):
                    merged[key] = merged[key].rstrip("/")
            self._cached = merged
        return self._cached

    def __getattr__(self, name):
        if name.startswith("_") or name not in self.defaults:
            raise AttributeError(f"Invalid {SETTINGS_NAME} setting: {name!r}")
        return self.as_dict()[name]

    def reload(self):
        self._cached = None


app_settings = AppSettings(DEFAULTS)


@receiver(setting_changed)
def _reload(*, setting, **kwargs):
    if setting == SETTINGS_NAME:
        app_settings.reload()
