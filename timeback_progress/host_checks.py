"""System checks of the host project's setup around the app (docs/checks.md).

``checks.py`` checks the ``TIMEBACK_PROGRESS`` dict; these check what the
host wires around it, as django-debug-toolbar checks its environment: the
sign-in and sign-out URLs the dashboards link to, django-q2's ``Q_CLUSTER``,
the order of ``INSTALLED_APPS``, the cache that holds the access token,
``USE_TZ``, and the apps the API's pages render with. Each rule is a small
function of the settings and the URLconf; each problem names the keys to fix.
"""

from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from .conf import SETTINGS_NAME, app_settings

ID = "timeback_progress.{}".format
ADMIN_APP = "django.contrib.admin"
DASHBOARDS_URL = "timeback_progress:course-list"
API_DOCS_URL = "timeback_progress_api:docs"
# The Q_CLUSTER keys that choose a django-q2 broker; with none of them it is Redis on localhost.
BROKER_KEYS = ("orm", "redis", "django_redis", "iron_mq", "sqs", "mongo", "broker_class")
# Cache backends whose contents are not shared between processes: per process
# (local memory), or nothing at all (the dummy cache never holds anything).
PER_PROCESS_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache")


def _reverses(name):
    try:
        reverse(name)
    except NoReverseMatch:
        return False
    return True


def _resolves(url):
    """Whether ``url`` (a path, or a URL naming another host) leads somewhere: another host is trusted."""
    parts = urlsplit(str(url))
    if parts.netloc:
        return True
    try:
        resolve(parts.path or "/")
    except Resolver404:
        return False
    return True


def _login_url():
    """``LOGIN_URL`` as the dashboards' redirect computes it (a URL name reversed, else the string)."""
    try:
        return reverse(settings.LOGIN_URL)
    except NoReverseMatch:
        return str(settings.LOGIN_URL)


@register(Tags.urls)
def check_sign_in_urls(app_configs=None, **kwargs):
    """W007: the dashboards' sign-in redirect leads nowhere; W008: no URL named ``logout``.

    Only where the host includes the dashboards: an API-only host needs neither.
    """
    if not _reverses(DASHBOARDS_URL):
        return []
    problems = []
    login = _login_url()
    if not _resolves(login):
        hint = "Include the app's sign-in pages: path(\"accounts/\", include(\"timeback_progress.auth_urls\"))"
        if _reverses("login"):
            hint = f"A URL named 'login' exists ({reverse('login')}): set LOGIN_URL = \"login\""
        problems.append(Warning(
            f"LOGIN_URL is {settings.LOGIN_URL!r}, which no URL pattern matches: anyone not signed in who "
            f"opens the dashboards is sent to {login}, a 404.",
            hint=hint + " (docs/quickstart.md).",
            id=ID("W007"),
        ))
    if not _reverses("logout"):
        problems.append(Warning(
            "No URL is named 'logout': the dashboards hide their \"Sign out\" button.",
            hint="Include django.contrib.auth.urls or timeback_progress.auth_urls, or name your own "
            "sign-out view 'logout' (docs/quickstart.md).",
            id=ID("W008"),
        ))
    return problems


@register(Tags.compatibility)
def check_q_cluster(app_configs=None, **kwargs):
    """W009: django-q2 without a ``Q_CLUSTER``; W010: a ``Q_CLUSTER`` that lets django-q2 re-run a task.

    The outbox owns retries (docs/sync.md): a delivery task never raises for a
    failed row, so django-q2 must run each task once (``max_attempts: 1``) and
    must not hand a running task to a second worker (``retry`` above ``timeout``).
    """
    if not apps.is_installed("django_q"):
        return []
    config = getattr(settings, "Q_CLUSTER", None)
    if not config:
        return [Warning(
            "django_q is installed but Q_CLUSTER is not set: django-q2 then looks for Redis on localhost, "
            "prints \"Retry and timeout are misconfigured\" on every command, and retries a failed task forever.",
            hint='Set Q_CLUSTER = {"name": "timeback", "orm": "default", "timeout": 300, "retry": 360, '
            '"max_attempts": 1} (the ORM broker) or name your Redis (docs/quickstart.md).',
            id=ID("W009"),
        )]
    if not isinstance(config, dict):
        return [Warning("Q_CLUSTER must be a dict.", id=ID("W010"))]
    problems = q_cluster_problems(config)
    if not problems:
        return []
    return [Warning(
        f"Q_CLUSTER lets django-q2 run the outbox's tasks again: {'; '.join(problems)}.",
        hint='The outbox retries deliveries itself: set "max_attempts": 1, a "timeout" (e.g. 300) and a '
        '"retry" larger than it (e.g. 360) (docs/sync.md).',
        id=ID("W010"),
    )]


def q_cluster_problems(config):
    """What in ``config`` lets django-q2 retry or re-deliver a task, key by key."""
    problems = []
    if config.get("max_attempts", 0) != 1:
        problems.append(f"'max_attempts' is {config.get('max_attempts', 0)!r} (django-q2's default 0 retries "
                        "a failed task forever), not 1")
    timeout, retry = config.get("timeout"), config.get("retry", 60)
    if not timeout:
        problems.append("'timeout' is not set, so django-q2 cannot keep 'retry' above it")
    elif not isinstance(timeout, (int, float)) or not isinstance(retry, (int, float)) or retry <= timeout:
        problems.append(f"'retry' ({retry!r}) is not larger than 'timeout' ({timeout!r}): a task still running "
                        "is handed to another worker")
    return problems


@register(Tags.templates)
def check_app_order(app_configs=None, **kwargs):
    """W011: the app listed after ``django.contrib.admin``, whose templates then win over the app's overrides."""
    names = [config.name for config in apps.get_app_configs()]
    if ADMIN_APP not in names or names.index("timeback_progress") < names.index(ADMIN_APP):
        return []
    return [Warning(
        "timeback_progress is listed after django.contrib.admin in INSTALLED_APPS: the admin's own templates "
        "win, so the admin home page has no sync-health box and the app's admin pages lose their additions.",
        hint="List \"timeback_progress\" before \"django.contrib.admin\" in INSTALLED_APPS.",
        id=ID("W011"),
    )]


@register(Tags.compatibility, Tags.caches)
def check_token_cache(app_configs=None, **kwargs):
    """E014: the token cache is not in ``CACHES``; W012: it is per process where several processes send.

    The access token is cached once for every worker (docs/timeback-client.md);
    W005 says the same of the throttles' cache. Only with sync on and DEBUG off.
    """
    alias = app_settings.TOKEN_CACHE_ALIAS
    if alias not in settings.CACHES:
        return [Error(
            f"{SETTINGS_NAME}['TOKEN_CACHE_ALIAS'] is {alias!r}, which is not in CACHES: every delivery would fail.",
            hint=f"Use one of: {', '.join(settings.CACHES)}.",
            id=ID("E014"),
        )]
    backend = settings.CACHES[alias].get("BACKEND")
    if settings.DEBUG or not app_settings.SYNC_ENABLED or backend not in PER_PROCESS_CACHES:
        return []
    return [Warning(
        f"The Timeback access token is cached in {alias!r} ({backend.rsplit('.', 1)[-1]}), which processes do "
        "not share: every web and qcluster process asks Timeback for its own token (the dummy cache: one "
        "before every send).",
        hint=f"Point {SETTINGS_NAME}['TOKEN_CACHE_ALIAS'] at a cache every process shares (Redis, Memcached, the "
        "database cache); silence this warning only if one process sends.",
        id=ID("W012"),
    )]


@register(Tags.compatibility)
def check_use_tz(app_configs=None, **kwargs):
    """E013: ``USE_TZ`` off: the app compares and shows aware datetimes, and Timeback needs times with a zone."""
    if settings.USE_TZ:
        return []
    return [Error(
        "USE_TZ is False: timeback_progress stores, compares and sends time-zone-aware datetimes; with naive "
        "ones the API's time checks and the dashboards' times fail.",
        hint="Set USE_TZ = True (Django's default since 5.0).",
        id=ID("E013"),
    )]


@register(Tags.compatibility)
def check_api_apps(app_configs=None, **kwargs):
    """W013: the API is routed but an app its pages render with is not installed."""
    if not _reverses(API_DOCS_URL):
        return []
    missing = [name for name in ("rest_framework", "drf_spectacular") if not apps.is_installed(name)]
    if not missing:
        return []
    return [Warning(
        f"The API is routed but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in "
        "INSTALLED_APPS: the Swagger page (/api/docs/) and the browsable API fail for want of their templates.",
        hint=f"Add {', '.join(repr(m) for m in missing)} to INSTALLED_APPS (docs/quickstart.md).",
        id=ID("W013"),
    )]
