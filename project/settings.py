"""Example host project for timeback_progress.

Everything deployment-specific comes from the environment (django-environ);
see .env.example and docs/deploy.md. Safe by default: DEBUG is off unless
DJANGO_DEBUG=true, there is no fallback SECRET_KEY with DEBUG off, and cookies
are secure and plain http is redirected unless the environment says otherwise.
Other defaults give the embedded demo: SQLite, the django-q2 ORM broker, sync
disabled. ``python -m project.demo_env`` writes the demo's .env.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Off unless asked for: the debug page shows the environment (DATABASE_URL with
# its password) and the URLconf to anyone who can make a request fail.
DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        # A published fallback would let anyone sign session cookies and reset tokens.
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it in the environment or in .env "
            "(`python -m project.demo_env` writes one into .env for the local demo), "
            "or set DJANGO_DEBUG=true for local development."
        )
    # DEBUG on only (never served to anyone else); `check --deploy` flags the prefix.
    SECRET_KEY = "django-insecure-local-development-only-not-for-any-server"

# Localhost only unless the deployment names its hosts.
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# Origins (scheme + host) allowed to POST from another origin, e.g. https://app.example.com.
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS. With DEBUG off the defaults assume it: cookies only over https, http
# redirected to https. The demo's .env (project/demo_env.py) turns them off for
# http://127.0.0.1:8000. HSTS is opt-in: browsers remember it for its whole
# lifetime, so a deployment turns it on once https works everywhere.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Behind a proxy that terminates TLS: "HTTP_X_FORWARDED_PROTO,https", and only
# if the proxy always sets (or strips) that header; otherwise a client could claim https.
_proxy_ssl_header = env.tuple("DJANGO_SECURE_PROXY_SSL_HEADER", default=())
if len(_proxy_ssl_header) not in (0, 2):
    raise ImproperlyConfigured(
        "DJANGO_SECURE_PROXY_SSL_HEADER must be a header and a value, e.g. HTTP_X_FORWARDED_PROTO,https."
    )
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header or None

INSTALLED_APPS = [
    # First, so its admin/index.html (sync health box) wraps the admin's own.
    "timeback_progress",
    # Before staticfiles: runserver leaves static files to WhiteNoise too, as in production.
    "whitenoise.runserver_nostatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Sign-in lockout (django-axes): failed sign-ins per username and address, see below.
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    # Developer tools, opt-in: the strict local Timeback (manage.py timeback_sandbox)
    # and the demo data loader (manage.py timeback_demo).
    "timeback_progress.contrib.sandbox",
    "project.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files with DEBUG off, from STATIC_ROOT (collectstatic), before anything touches the session.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of each request (Accept-Language, or the language cookie): after the session, before Common.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a sign-in refused by the lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# First: refuses a locked-out sign-in (even with the right password) before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

# Sign-in lockout (docs/deploy.md, "Sign-in"): after AXES_FAILURE_LIMIT failed
# sign-ins for one username from one address, that pair is refused for the
# cool-off, right password or not, and each further try restarts the wait.
# Per username *and* address: a whole school behind one NAT address is not
# locked out by one pupil, and nobody elsewhere can lock a teacher out.
# The counts live in the database (shared by every worker).
AXES_FAILURE_LIMIT = env.int("DJANGO_AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("DJANGO_AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Failures are what the lockout needs; a row per successful sign-in would grow without bound.
AXES_DISABLE_ACCESS_LOG = True
AXES_LOCKOUT_CALLABLE = "project.lockout.locked_out"
# The address the throttles use too: REMOTE_ADDR, or behind DJANGO_NUM_PROXIES proxies the one they saw.
AXES_CLIENT_IP_CALLABLE = "timeback_progress.ratelimit.client_ip"

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (runserver, qcluster) share the file: wait for locks
    # instead of failing, and let readers run beside the writer.
    # IMMEDIATE: a transaction takes the write lock when it begins, so one
    # that reads then writes (claiming outbox rows, completing an attempt)
    # waits its turn instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
    # The test database is a file (one per test run), not :memory:, so the
    # integration tests' qcluster and sandbox processes can share it.
    DATABASES["default"]["TEST"] = {
        "NAME": env("SQLITE_TEST_NAME", default=str(Path(tempfile.gettempdir()) / f"timeback_progress_test_{os.getpid()}.sqlite3"))
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
    # Prepared statements (psycopg 3): PostgreSQL plans a repeated statement
    # once per connection instead of on every execution, and an API completion
    # runs the same statements every time (README, "Deployment at scale").
    # Off by default, as in Django: PgBouncer in transaction mode needs >= 1.21
    # with max_prepared_statements set to carry them.
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=False):
        import psycopg  # noqa: F401 - psycopg 3 only: psycopg2 knows neither option
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
        "throttle": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
    }
else:
    # A database cache is shared by every worker process, unlike locmem: the
    # Timeback token is cached once for all of them, and the throttles count
    # once for all of them (locmem would multiply every rate by the number of
    # workers; check timeback_progress.W005). It costs a few queries per
    # throttled request: Redis (REDIS_URL) is the faster shared cache.
    # One table (manage.py createcachetable), with room for a school's
    # throttle counts before it is culled (Django's default keeps 300 rows).
    _database_cache = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "timeback_cache",
                       "OPTIONS": {"MAX_ENTRIES": 20_000}}
    CACHES = {"default": _database_cache, "throttle": dict(_database_cache)}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
# The languages pages and API messages may be shown in (docs/translations.md); a browser asking for
# another gets LANGUAGE_CODE's. timeback_progress ships Spanish; Django and DRF ship both.
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic adds gzip copies. Not the Manifest variant (hashed names):
    # with it a page whose static file is missing from STATIC_ROOT is a 500,
    # and collectstatic stops at a dangling sourceMappingURL in a bundled file.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "timeback_progress:course-list"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Behind a proxy: how many proxies set X-Forwarded-For (the throttles and
    # the sign-in lockout then count the address the outermost one saw).
    "NUM_PROXIES": env.int("DJANGO_NUM_PROXIES", default=None),
}
SPECTACULAR_SETTINGS = {
    # Swagger UI from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "TITLE": "timeback_progress API",
    "DESCRIPTION": "Start, time and complete activities; read XP and progress.",
    "VERSION": "1",
}

TIMEBACK_PROGRESS = {
    "PLATFORM": env("TIMEBACK_PLATFORM", default="timeback"),
    "ENVIRONMENT": env("TIMEBACK_ENVIRONMENT", default="staging"),
    "CLIENT_ID": env("TIMEBACK_CLIENT_ID", default=""),
    "CLIENT_SECRET": env("TIMEBACK_CLIENT_SECRET", default=""),
    "AUTH_URL": env("TIMEBACK_AUTH_URL", default=None),
    "CALIPER_URL": env("TIMEBACK_CALIPER_URL", default=None),
    "API_URL": env("TIMEBACK_API_URL", default=None),
    "SENSOR": env("TIMEBACK_SENSOR", default="http://localhost:8000"),
    "SYNC_ENABLED": env.bool("TIMEBACK_SYNC_ENABLED", default=False),
    "API_THROTTLE_CACHE": "throttle",
    # The app's rates (docs/api.md, "Throttling") unless set here or in TIMEBACK_PROGRESS_EXTRA.
    "THROTTLE_RATES": {
        scope: env(variable) for scope, variable in (("timeback_write", "TIMEBACK_API_WRITE_RATE"),
                                                     ("timeback_read", "TIMEBACK_API_READ_RATE"))
        if env(variable, default="")
    },
    # Any other key of the settings dict, as JSON, e.g. '{"BATCH_SIZE": 200}'.
    **env.json("TIMEBACK_PROGRESS_EXTRA", default={}),
}

# django-q2: the ORM broker needs no server (the demo); with REDIS_URL, Redis.
# The outbox owns retries, so django-q2 must never re-run a delivery task:
# max_attempts=1 and a retry longer than the timeout (django-q2 requires it).
Q_CLUSTER = {
    "name": "timeback",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 300,
    "retry": 360,
    "max_attempts": 1,
    "queue_limit": 50,
    "bulk": 10,
    "catch_up": False,
    "save_limit": 250,
    "ack_failures": True,
    "poll": 0.5,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        # Django prints request errors only with DEBUG on (and mails ADMINS);
        # with DEBUG off a 500's traceback goes to the console here.
        "errors": {"class": "logging.StreamHandler", "level": "ERROR", "filters": ["require_debug_false"]},
    },
    "loggers": {
        "timeback_progress": {"handlers": ["console"], "level": env("TIMEBACK_LOG_LEVEL", default="INFO")},
        "django.request": {"handlers": ["errors"], "level": "WARNING"},
    },
}
