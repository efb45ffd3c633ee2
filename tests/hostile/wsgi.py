"""Call the example project's WSGI application the way a server does.

Django's test client builds its own ``WSGIRequest`` and skips whatever wraps
the application in ``project/wsgi.py``, and it turns CSRF off; this driver
sends a raw environ to ``project.wsgi.application``, so a request fails here
exactly as it would under gunicorn. Any exception that escapes the application
(or its response iterator, e.g. a streamed CSV) counts as a server error.

Each request runs in a savepoint, rolled back if the application raised, so a
database error cannot poison the test's transaction for the cases after it.
The driver counts the rows each request inserted, updated or deleted (SQLite's
``total_changes()``, PostgreSQL's ``pg_stat_xact_user_tables``), and for a
refused request (4xx) that wrote any, whether its writes outlived it: the
app's rows with them and after rolling them back must be equal.
"""

import io
import sys
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from django.apps import apps
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections, connection, transaction

APP = "timeback_progress"
_savepoint = getattr(transaction, "savepoint_create", None) or transaction.savepoint  # renamed in Django 6.1


def writes():
    """Rows inserted, updated or deleted on this connection so far (rolled back or not)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT total_changes()")
        else:
            cursor.execute(
                "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables "
                "WHERE relname LIKE %s",
                [f"{APP}%"],
            )
        return cursor.fetchone()[0]


def digest():
    """Every row of the app's tables."""
    return tuple(
        tuple(model._default_manager.order_by("pk").values_list()) for model in apps.get_app_config(APP).get_models()
    )


def _transaction_broken():
    """Whether PostgreSQL refuses further statements in this transaction (a statement failed)."""
    raw = connection.connection
    info = getattr(raw, "info", None)
    status = getattr(info, "transaction_status", None)
    return status is not None and getattr(status, "name", "") == "INERROR"


@dataclass
class Answer:
    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    error: BaseException | None = None
    writes: int = 0  # rows inserted, updated or deleted while it ran (even if rolled back)
    persisted: bool = False  # a refused request whose writes outlived it

    @property
    def content_type(self):
        return self.headers.get("content-type", "")

    @property
    def is_json(self):
        return self.content_type.split(";")[0].strip().endswith("json")


class Driver:
    """``driver(method, path, query="", body=b"", **environ)`` -> ``Answer``.

    ``path`` and ``query`` are given percent-encoded, as on the wire.
    """

    def __init__(self, application):
        self.application = application
        self.count = 0

    def __enter__(self):
        # As Django's test client: a request must not close the test's database connection.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        got_request_exception.connect(self._caught)
        return self

    def _caught(self, sender, request=None, **kwargs):
        # Django answered 500 for an exception: keep it for the failure report.
        self.caught = sys.exc_info()[1]

    def __exit__(self, *exc):
        got_request_exception.disconnect(self._caught)
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)

    def environ(self, method, path, query, body, extra):
        environ = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            # PEP 3333: PATH_INFO holds the decoded bytes, as latin-1 text.
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "testserver",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        environ.update(extra)
        return environ

    def __call__(self, method, path, query="", body=b"", **extra):
        self.count += 1
        self.caught = None
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"] = int(status.split()[0])
            captured["headers"] = {k.lower(): v for k, v in headers}

        savepoint = _savepoint()
        counted = method != "GET"  # reads are counted per route by the caller (the query is not free)
        before = writes() if counted else 0
        try:
            result = self.application(self.environ(method, path, query, body, extra), start_response)
            try:
                content = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception as exc:  # an exception out of the application is what a server answers 500 for
            transaction.savepoint_rollback(savepoint)
            return Answer(500, error=exc)
        answer = Answer(captured["status"], captured["headers"], content, self.caught)
        if answer.status >= 500 or _transaction_broken():
            transaction.savepoint_rollback(savepoint)
            return answer
        answer.writes = writes() - before if counted else 0
        if answer.writes and 400 <= answer.status < 500:
            # A refused request ran writes: were they undone? Compare the app's rows with and without them.
            after = digest()
            transaction.savepoint_rollback(savepoint)
            answer.persisted = digest() != after
        else:
            transaction.savepoint_commit(savepoint)
        return answer
