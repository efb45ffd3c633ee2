"""Example host project for timeback_progress.

Everything deployment-specific comes from the environment (django-environ);
see .env.example. Defaults give the embedded demo: SQLite, the django-q2 ORM
broker, sync disabled.
"""

import os
import tempfile
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

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
    # Developer tools, opt-in: the strict local Timeback (manage.py timeback_sandbox)
    # and the demo data loader (manage.py timeback_demo).
    "timeback_progress.contrib.sandbox",
    "project.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
    CACHES = {
        # A database cache is shared by every worker process, unlike locmem:
        # the Timeback token is cached once for all of them.
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "timeback_cache"},
        # API throttle counters: per process without Redis (a database cache
        # would cost queries on every request).
        "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "timeback-throttle"},
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("DJANGO_TIME_ZONE", default="UTC")
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
    "DEFAULT_THROTTLE_RATES": {
        "timeback_write": env("TIMEBACK_API_WRITE_RATE", default="6000/min"),
        "timeback_read": env("TIMEBACK_API_READ_RATE", default="6000/min"),
    },
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
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"timeback_progress": {"handlers": ["console"], "level": env("TIMEBACK_LOG_LEVEL", default="INFO")}},
}
