"""Settings for the test suite, fixed here: they read no ``.env`` file and none
of the example project's environment variables (``project/settings.py`` reads
both, for people running the demo; a developer's ``.env`` with
``TIMEBACK_SYNC_ENABLED=true`` must not change what the suite runs against).

One exception, the database, read from the process environment only so CI can
run the same suite on PostgreSQL, through the same code path as the example
project (django-environ's ``db_url`` parsing):

- ``DATABASE_URL``: default SQLite; e.g. ``postgres://postgres@127.0.0.1:5432/test``
  (pytest-django creates ``test_test``).
- ``DATABASE_PREPARED_STATEMENTS=true``: psycopg 3 server-side binding and
  prepared statements, as the README's "Deployment at scale" describes.

Processes the integration tests start (``qcluster``, ``manage.py shell``) run
on ``tests.process_settings``, which adds the few variables those tests pass.
"""

import os
import tempfile
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

_env = environ.Env()  # never read_env(): only the two database variables come from outside

SECRET_KEY = "tests-only-insecure-secret-key"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    # First, so its admin/index.html (sync health box) wraps the admin's own.
    "timeback_progress",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    # The opt-in developer tools, under test too.
    "timeback_progress.contrib.sandbox",
    "project.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of each request (Accept-Language, or the language cookie): after the session, before Common.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The example project's URLs (login page, admin, dashboards, API, schema): they read no settings of their own.
ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # the example project's login page, used by the browser tests
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

DATABASES = {"default": _env.db("DATABASE_URL", default=f"sqlite:///{Path(tempfile.gettempdir()) / 'timeback_progress_tests.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # As in the example project: the integration tests' qcluster processes
    # share the file, so wait for locks and take the write lock up front.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
    # A file (one per test run), not :memory:, so spawned processes can share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"timeback_progress_test_{os.getpid()}.sqlite3")
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    if _env.bool("DATABASE_PREPARED_STATEMENTS", default=False):
        import psycopg  # noqa: F401 - psycopg 3 only: psycopg2 knows neither option
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)

# A second alias onto the same database (a test mirror), for tests/test_routing.py:
# with DATABASE_ROUTERS sending the app there, no query of an operation may use "default".
DATABASES["gradebook"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}

CACHES = {
    # Per process, and cleared before every test (tests/conftest.py).
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "timeback-tests"},
    "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "timeback-tests-throttle"},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Fast hashing: the suite creates many users; no test is about password storage.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
# The languages pages and API messages may be shown in (docs/translations.md); a browser asking for
# another gets LANGUAGE_CODE's. timeback_progress ships Spanish; Django and DRF ship both.
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
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
    "DEFAULT_THROTTLE_RATES": {"timeback_write": "6000/min", "timeback_read": "6000/min"},
}
SPECTACULAR_SETTINGS = {
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "TITLE": "timeback_progress API",
    "DESCRIPTION": "Start, time and complete activities; read XP and progress.",
    "VERSION": "1",
}

TIMEBACK_PROGRESS = {
    "PLATFORM": "timeback",
    "ENVIRONMENT": "staging",
    "CLIENT_ID": "",
    "CLIENT_SECRET": "",
    "SENSOR": "http://localhost:8000",
    "SYNC_ENABLED": False,  # tests that sync turn it on themselves (the sandbox fixtures)
    "API_THROTTLE_CACHE": "throttle",
    # One TimeSpentEvent per flush for the tests that count events; the tests of
    # windows themselves (test_time_windows, test_wire_formats, the contract's
    # "windows" scenario, the scripted runs) set the default 15 s explicitly.
    "TIME_WINDOW_SECONDS": 3600,
    # Tests send many requests as one user: only tests/test_throttles.py runs into the rates.
    "THROTTLE_RATES": {"timeback_service": "6000/min", "timeback_dashboard": "6000/min", "timeback_export": "6000/min"},
}

# django-q2 on the ORM broker; the outbox owns retries, so a task never re-runs.
Q_CLUSTER = {
    "name": "timeback",
    "workers": 2,
    "timeout": 300,
    "retry": 360,
    "max_attempts": 1,
    "queue_limit": 50,
    "bulk": 10,
    "catch_up": False,
    "save_limit": 250,
    "ack_failures": True,
    "poll": 0.5,
    "orm": "default",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"timeback_progress": {"handlers": ["console"], "level": "INFO"}},
}
