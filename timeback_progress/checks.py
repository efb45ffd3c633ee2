"""System checks for the ``TIMEBACK_PROGRESS`` settings (see docs/checks.md).

The checks of the host's setup around the app (URLs, ``Q_CLUSTER``, app order,
caches, ``USE_TZ``) are in ``host_checks``, registered on import here.
"""

import zoneinfo
from urllib.parse import urlsplit

from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string
from django.views.decorators.debug import sensitive_variables

from . import host_checks  # noqa: F401  (registers the checks of the host's setup)
from .conf import DEFAULTS, ENVIRONMENTS, PLATFORMS, RENAMED, SETTINGS_NAME, app_settings
from .host_checks import PER_PROCESS_CACHES
from .subjects import SUBJECTS
from .timeback import numeric_settings


def _hint(key):
    return f"Set {SETTINGS_NAME}['{key}'] (the example project reads it from the environment)."


@register(Tags.compatibility)
@sensitive_variables("user", "cfg")  # both hold CLIENT_SECRET
def check_settings(app_configs=None, **kwargs):
    errors = []
    user = app_settings.user_settings
    if not isinstance(user, dict):
        return [Error(f"{SETTINGS_NAME} must be a dict.", id="timeback_progress.E001")]
    unknown = sorted(set(user) - set(DEFAULTS))
    if unknown:
        errors.append(
            Warning(
                f"Unknown {SETTINGS_NAME} keys: {', '.join(unknown)}.",
                hint="Check the spelling against docs/settings.md.",
                id="timeback_progress.W001",
            )
        )
    cfg = app_settings.as_dict()
    for key, known, check_id in (("ENVIRONMENT", ENVIRONMENTS, "E002"), ("PLATFORM", PLATFORMS, "E008")):
        if cfg[key] not in known:
            errors.append(
                Error(
                    f"Unknown Timeback {key.lower()} {cfg[key]!r}.",
                    hint=f"Use one of: {', '.join(known)}.",
                    id=f"timeback_progress.{check_id}",
                )
            )
    if cfg["SYNC_ENABLED"]:
        for key in ("CLIENT_ID", "CLIENT_SECRET"):
            if not cfg[key]:
                errors.append(
                    Error(f"Timeback sync is enabled but {key} is empty.", hint=_hint(key), id="timeback_progress.E003")
                )
    for key in ("AUTH_URL", "CALIPER_URL", "API_URL", "SENSOR"):
        value = cfg.get(key) or ""
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(
                Error(f"{SETTINGS_NAME}['{key}'] is not an http(s) URL: {value!r}.", hint=_hint(key), id="timeback_progress.E004")
            )
        elif cfg["SYNC_ENABLED"] and parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1") and key != "SENSOR":
            errors.append(
                Warning(
                    f"{SETTINGS_NAME}['{key}'] uses plain http: credentials and tokens would travel unencrypted.",
                    id="timeback_progress.W002",
                )
            )
    try:
        policy = import_string(cfg["XP_POLICY"])
    except ImportError as exc:
        errors.append(Error(f"XP_POLICY cannot be imported: {exc}", id="timeback_progress.E005"))
    else:
        if not callable(policy):
            errors.append(Error("XP_POLICY must name a callable.", id="timeback_progress.E005"))
    for old, new in RENAMED.items():
        if user.get(old) is not None:
            errors.append(
                Warning(
                    f"{SETTINGS_NAME}['{old}'] is renamed {new!r}"
                    + (" and is ignored: both are set." if new in user else "; the old name still works for now."),
                    hint=f"Set {SETTINGS_NAME}['{new}'] instead (docs/settings.md).",
                    id="timeback_progress.W006",
                )
            )
    for key in ("BATCH_SIZE", "CLAIM_SIZE", "MAX_ATTEMPTS", "LEASE_SECONDS", "SEND_CONCURRENCY", "TIME_WINDOWS_PER_FLUSH",
                "STRUGGLING_ATTEMPTS", "INACTIVE_DAYS"):
        value = cfg[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors.append(Error(f"{SETTINGS_NAME}['{key}'] must be a positive integer, not {value!r}.", id="timeback_progress.E006"))
    flush = cfg["TIME_FLUSH_SECONDS"]
    if not isinstance(flush, (int, float)) or isinstance(flush, bool) or not 0 <= flush < float("inf"):
        errors.append(
            Error(f"{SETTINGS_NAME}['TIME_FLUSH_SECONDS'] must be a number of seconds >= 0, not {flush!r}.", id="timeback_progress.E006")
        )
    window = cfg["TIME_WINDOW_SECONDS"]
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 86_400:
        errors.append(Error(
            f"{SETTINGS_NAME}['TIME_WINDOW_SECONDS'] must be a whole number of seconds from 1 to 86400, not {window!r}.",
            id="timeback_progress.E006",
        ))
    if cfg["CALIPER_PROCESS"]:
        errors.append(
            Warning(
                "CALIPER_PROCESS is on: Timeback builds gradebook results from the events, so this app sends "
                "no line items or results, and an admin correction reaches Timeback only as an XP-difference event.",
                hint="Turn it off to let the app write the gradebook (the default).",
                id="timeback_progress.W003",
            )
        )
    if cfg["LINK_COMPONENT_RESOURCE"] and not cfg["CALIPER_PROCESS"]:
        errors.append(
            Warning(
                "LINK_COMPONENT_RESOURCE is on: every activity's line item carries its componentResource, so on "
                "Timeback the first fully graded result of a linked line item can mark the whole course complete.",
                hint="Leave it off (the vendor's choice): the course's mastery-completion entry marks completion. "
                "Silence this warning if your component resources are not the course's.",
                id="timeback_progress.W004",
            )
        )
    errors.extend(_check_subject_map(cfg["SUBJECT_MAP"]))
    errors.extend(_check_numbers(cfg))
    errors.extend(_check_time_zone(cfg["DASHBOARD_TIME_ZONE"]))
    return errors


def _check_time_zone(name):
    """E012: a dashboard time zone every dashboard page would fail on (``display.dashboard_zone``)."""
    if name is None:
        return []
    problem = None
    if not isinstance(name, str) or not name:
        problem = f"must be an IANA time zone name such as 'Europe/Madrid', or None, not {name!r}"
    else:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problem = f"names no known time zone: {name!r}"
    if problem is None:
        return []
    return [Error(
        f"{SETTINGS_NAME}['DASHBOARD_TIME_ZONE'] {problem}.",
        hint="Use a name from the IANA database (zoneinfo.available_timezones()), or None for the host's TIME_ZONE.",
        id="timeback_progress.E012",
    )]


def _check_numbers(cfg):
    """E010: the timeouts, the token margin, the roster page and the backoff, read by the client and the sender."""
    return [
        Error(text, hint="See docs/settings.md for what each number means.", id="timeback_progress.E010")
        for _key, text in numeric_settings.problems(cfg)
    ]


def _check_subject_map(mapping):
    """E007: a map that would refuse or ignore names is found at startup, not when a subject is entered."""
    hint = f"Map your subject names onto Timeback's: {', '.join(SUBJECTS)}."
    if not isinstance(mapping, dict):
        return [Error(f"{SETTINGS_NAME}['SUBJECT_MAP'] must be a dict, not {type(mapping).__name__}.", hint=hint,
                      id="timeback_progress.E007")]
    bad = [f"{k!r}: {v!r}" for k, v in mapping.items() if not (isinstance(v, str) and v in SUBJECTS)]
    # Timeback's own names (in any case) are taken as they are: an entry remapping one would silently do nothing.
    own = {s.lower(): s for s in SUBJECTS}
    ignored = [repr(k) for k, v in mapping.items() if isinstance(k, str) and own.get(k.strip().lower(), v) != v]
    problems = []
    if bad:
        problems.append(f"these values are not Timeback subjects: {', '.join(bad)}")
    if ignored:
        problems.append(f"these keys are Timeback subjects, which are never remapped: {', '.join(ignored)}")
    if not all(isinstance(k, str) for k in mapping):
        problems.append("keys must be strings")
    if not problems:
        return []
    return [Error(f"{SETTINGS_NAME}['SUBJECT_MAP'] is wrong: {'; '.join(problems)}.", hint=hint, id="timeback_progress.E007")]


# Backends the app runs on: SQLite (the embedded default) and PostgreSQL. Others
# lack what the outbox and the gradebook rely on (partial unique constraints,
# SELECT ... FOR UPDATE OF, ON CONFLICT upserts).
SUPPORTED_DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@register(Tags.compatibility)
def check_database(app_configs=None, **kwargs):
    """E009: the database the app writes to (``router.db_for_write``) is a supported backend.

    Reads the backend's vendor name only: no connection is opened.
    """
    from django.db import connections, router

    from .models import Attempt

    alias = router.db_for_write(Attempt) or "default"
    vendor = connections[alias].vendor
    if vendor in SUPPORTED_DATABASES:
        return []
    return [
        Error(
            f"timeback_progress does not support the {vendor!r} database backend (database {alias!r}).",
            hint=f"Route the app's models to a {' or '.join(SUPPORTED_DATABASES.values())} database.",
            id="timeback_progress.E009",
        )
    ]


API_SCOPES = ("timeback_write", "timeback_service", "timeback_read")


@register(Tags.compatibility, Tags.caches)
def check_throttles(app_configs=None, **kwargs):
    """E011: a throttle cache or rate every request would fail on; W005: counts kept per process.

    A per-process count multiplies every rate by the number of worker
    processes (four gunicorn workers: four times the rate), and the dummy
    cache counts nothing. Only with DEBUG off: runserver is one process.
    """
    from django.conf import settings
    from rest_framework.settings import api_settings

    from .ratelimit import parse_rate, rates

    errors = []
    alias = app_settings.API_THROTTLE_CACHE
    if not isinstance(app_settings.THROTTLE_RATES, dict):
        errors.append(Error(f"{SETTINGS_NAME}['THROTTLE_RATES'] must be a dict of scope: rate.", id="timeback_progress.E011"))
    unknown = sorted(set(app_settings.THROTTLE_RATES) - set(DEFAULTS["THROTTLE_RATES"])) if isinstance(
        app_settings.THROTTLE_RATES, dict) else []
    if unknown:
        errors.append(Error(
            f"Unknown throttle scopes in {SETTINGS_NAME}['THROTTLE_RATES']: {', '.join(map(repr, unknown))}.",
            hint=f"The scopes are: {', '.join(DEFAULTS['THROTTLE_RATES'])}.", id="timeback_progress.E011",
        ))
    drf = {s: r for s, r in (api_settings.DEFAULT_THROTTLE_RATES or {}).items() if s in API_SCOPES}
    for where, given in ((f"{SETTINGS_NAME}['THROTTLE_RATES']", rates()), ("DEFAULT_THROTTLE_RATES", drf)):
        for scope, rate in given.items():
            try:
                parse_rate(rate)
            except ValueError as exc:
                errors.append(Error(f"Throttle rate of {scope!r} in {where}: {exc}", id="timeback_progress.E011"))
    if alias not in settings.CACHES:
        errors.append(Error(
            f"{SETTINGS_NAME}['API_THROTTLE_CACHE'] is {alias!r}, which is not in CACHES: every throttled request would fail.",
            hint=f"Use one of: {', '.join(settings.CACHES)}.", id="timeback_progress.E011",
        ))
    elif not settings.DEBUG and settings.CACHES[alias].get("BACKEND") in PER_PROCESS_CACHES:
        errors.append(Warning(
            f"The throttles count in the cache {alias!r} ({settings.CACHES[alias]['BACKEND'].rsplit('.', 1)[-1]}), "
            "which is not shared between processes: with several worker processes each one counts alone, "
            "so every rate is multiplied by their number.",
            hint=f"Point {SETTINGS_NAME}['API_THROTTLE_CACHE'] at a cache every process shares (Redis, Memcached, "
            "the database cache); silence this warning only if the site runs as one process.",
            id="timeback_progress.W005",
        ))
    return errors
