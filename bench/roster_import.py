#!/usr/bin/env python
"""Benchmark the roster import: users/s for 10,000 users on SQLite and PostgreSQL.

Usage::

    python bench/roster_import.py                        # SQLite and PostgreSQL, 10,000 students
    python bench/roster_import.py --users 10000 --page-size 1000 --databases sqlite
    python bench/roster_import.py --pg-url postgres://postgres@127.0.0.1:5432/tbp_roster

Each database runs in its own process: a fresh database (a temporary SQLite
file; the PostgreSQL database is dropped and created again), migrated; an
in-process sandbox serves a generated school (``--users`` students, each in
one of three classes, 3 teachers); the import runs over real loopback HTTP.
Printed per database: the first (everything created) and a second run
(everything unchanged), wall time, users/s (users read / wall time of the
whole run, courses, classes and enrollments included) and database queries.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/tbp_roster"


def fresh_postgres(url):
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def measure(users, page_size):
    """Runs inside the child process, with DATABASE_URL set; prints one JSON line."""
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    # The example project wants a SECRET_KEY with DEBUG off and redirects plain http;
    # these runs are in-process on loopback (the test client speaks http).
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from timeback_progress.conf import app_settings
    from timeback_progress.roster.importer import import_roster
    from timeback_progress.contrib.sandbox import start_sandbox
    from timeback_progress.contrib.sandbox.rostering import generate_roster

    call_command("migrate", verbosity=0)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    data = generate_roster(users, courses_per_student=1)
    runs = []
    with start_sandbox(client_id="bench", client_secret="bench-secret") as server:
        server.state.seed_roster(data)
        settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "AUTH_URL": server.url, "API_URL": server.url,
                                      "CALIPER_URL": server.url, "CLIENT_ID": "bench", "CLIENT_SECRET": "bench-secret"}
        app_settings.reload()
        for label in ("first run (all created)", "second run (all unchanged)"):
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                summary = import_roster(full=True, page_size=page_size)
                seconds = time.perf_counter() - started
            runs.append({"run": label, "seconds": round(seconds, 2), "users": len(data["users"]),
                         "users_per_s": round(len(data["users"]) / seconds),
                         "queries": len(ctx.captured_queries), "totals": summary.as_dict()["totals"]})
    print(json.dumps({"vendor": connection.vendor, "runs": runs}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000, help="Students in the generated school.")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return measure(args.users, args.page_size)
    for database in args.databases:
        with tempfile.TemporaryDirectory() as tmp:
            if database == "sqlite":
                url = f"sqlite:///{tmp}/roster.sqlite3"
            else:
                url = args.pg_url
                fresh_postgres(url)
            child = subprocess.run(
                [sys.executable, __file__, "--child", "--users", str(args.users), "--page-size", str(args.page_size)],
                env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, cwd=ROOT,
            )
        if child.returncode:
            print(f"{database}: failed\n{child.stderr[-2000:]}")
            continue
        result = json.loads(child.stdout.strip().splitlines()[-1])
        for run in result["runs"]:
            print(f"{result['vendor']:<10} {run['run']:<28} {run['users']:>6} users in {run['seconds']:>5.2f} s "
                  f"= {run['users_per_s']:>6} users/s, {run['queries']} queries, {run['totals']}")


if __name__ == "__main__":
    main()
