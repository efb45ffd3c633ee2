#!/usr/bin/env python
"""Benchmark heartbeats through the vendor's activity protocol, against a bare DRF endpoint.

Usage::

    python bench/activity_heartbeat.py -n 600          # SQLite, and PostgreSQL if DATABASE_URL is set
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tbp_bench python bench/activity_heartbeat.py

Each backend runs in its own process on a fresh test database. In-process,
through the Django test client, 50 students each signed in with their own DRF
token (the kit's token mode; a session costs the same two reads) play one run
each. It times, taking turns every five requests so the machine's drift weighs
on all alike:

- ``heartbeat``: ``POST /api/timeback/activity/heartbeat``, a new 15 s window
  of the student's run each time (the first of each run, which starts the
  attempt, is done before timing);
- ``api time``: ``POST /api/v1/attempts/{id}/time/`` with 15 seconds, the REST
  API's own time report, for comparison;
- ``bare``: a DRF endpoint defined here, same authentication, that inserts one row.

Throttles count as in production (the project's throttle cache) at a rate
high enough never to refuse. It prints requests per second, the ratio to
bare, queries per request with a breakdown, and how many students playing at
once one process sustains at one heartbeat per ``ACTIVITY_HEARTBEAT_SECONDS``.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter

import bare  # bench/bare.py: Django set up, the bare DRF insert
from bare import ROOT, setup_django
SLICE = 5
STUDENTS = 50


def bench_urlconf():
    """The API's routes plus ``bench/bare/``: a DRF view that inserts one row (``bench/bare.py``)."""
    return bare.urlconf("bench_activity_urls", ("api/", "timeback_progress.api.urls"), ("api/timeback/", "timeback_progress.activity.urls"))


def classify(sql):
    low = sql.lower()
    if "authtoken_token" in low or "auth_user" in low:
        return "authentication"
    if "timeback_cache" in low:
        return "throttle cache"
    if low.startswith(("begin", "commit", "savepoint", "release", "rollback")):
        return "transaction control"
    if "activityrun" in low or "heartbeatwindow" in low:
        return "run and window"
    return "lookups + gradebook"


def run_backend(count):
    setup_django()
    from decimal import Decimal

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.runner import DiscoverRunner
    from django.test.utils import CaptureQueriesContext, override_settings, setup_test_environment
    from django.utils import timezone
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from timeback_progress.conf import app_settings
    from timeback_progress.gradebook import attempts
    from timeback_progress.models import Activity, Course, Enrollment, Student

    rates = {"timeback_write": "1000000/min", "timeback_service": "1000000/min", "timeback_read": "1000000/min"}
    overrides = override_settings(
        ROOT_URLCONF=bench_urlconf(),
        TIMEBACK_PROGRESS={**settings.TIMEBACK_PROGRESS, "THROTTLE_RATES": rates},
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates},
    )
    setup_test_environment(debug=False)
    runner = DiscoverRunner(verbosity=0, interactive=False)
    old = runner.setup_databases()
    try:
        with overrides:
            course = Course.objects.create(sourced_id="bench-math-3", title="Bench", subject="Math", grade="03")
            Activity.objects.create(
                activity_id="bench-quiz", name="Quiz", course=course, app_name="Bench", expected_xp=Decimal(10)
            )
            other = Activity.objects.create(
                activity_id="bench-api", name="API", course=course, app_name="Bench", expected_xp=Decimal(10)
            )
            begin = timezone.now() - dt.timedelta(hours=3)  # room for 700 windows of 15 s per run
            players = []
            for i in range(STUDENTS):
                user = get_user_model().objects.create_user(f"bench-{i}", password=None)
                student = Student.objects.create(sourced_id=f"bench-{i}", email=f"b{i}@example.com", user=user)
                Enrollment.objects.create(course=course, student=student, role=Enrollment.Role.STUDENT)
                client = APIClient()
                client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
                api_attempt = attempts.start_attempt(student, other, started_at=begin)
                players.append({"client": client, "run": str(uuid.uuid4()), "windows": 0, "api": api_attempt.pk})

            def window(player):
                start = begin + dt.timedelta(seconds=15 * player["windows"])
                player["windows"] += 1
                iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
                return {
                    "id": "bench-quiz", "name": "Quiz", "course": {"subject": "Math", "grade": 3}, "runId": player["run"],
                    "startedAt": iso(start), "endedAt": iso(start + dt.timedelta(seconds=15)),
                    "elapsedMs": 13_000, "pausedMs": 2_000,
                }

            def heartbeat(i):
                player = players[i % STUDENTS]
                response = player["client"].post("/api/timeback/activity/heartbeat", window(player), format="json")
                assert response.status_code == 204, response.content

            def api_time(i):
                player = players[i % STUDENTS]
                response = player["client"].post(
                    f"/api/v1/attempts/{player['api']}/time/", {"activeSeconds": 13, "inactiveSeconds": 2}, format="json"
                )
                assert response.status_code == 200, response.content

            rows = iter(range(10**9))

            def bare(i):
                response = players[i % STUDENTS]["client"].post("/bench/bare/", {"name": f"row-{next(rows)}"}, format="json")
                assert response.status_code == 201, response.content

            for i in range(STUDENTS):  # each run's first heartbeat starts its attempt: not what is timed
                heartbeat(i)
            calls = {"heartbeat": heartbeat, "api time": api_time, "bare": bare}
            out = {"vendor": connection.vendor}
            for name, call in calls.items():
                call(STUDENTS)
                with CaptureQueriesContext(connection) as queries:
                    call(STUDENTS + 1)
                captured = list(queries.captured_queries)
                out[name] = {"queries": len(captured), "breakdown": dict(Counter(classify(q["sql"]) for q in captured))}
            elapsed = dict.fromkeys(calls, 0.0)
            for start in range(0, count, SLICE):
                for name, call in calls.items():
                    began = time.perf_counter()
                    for i in range(start, min(start + SLICE, count)):
                        call(i)
                    elapsed[name] += time.perf_counter() - began
            for name in calls:
                out[name]["per_second"] = count / elapsed[name]
            out["interval"] = app_settings.ACTIVITY_HEARTBEAT_SECONDS
    finally:
        runner.teardown_databases(old)
    return out


def report(results):
    for res in results:
        print(f"\n== {res['vendor']} ==")
        bare = res["bare"]["per_second"]
        for name in ("heartbeat", "api time", "bare"):
            row = res[name]
            print(f"{name:10} {row['per_second']:8.1f}/s  {row['queries']:3d} queries  ratio to bare {row['per_second'] / bare:5.2f}")
            if name != "bare":
                print(f"           {row['breakdown']}")
        beats = res["heartbeat"]["per_second"]
        print(f"one process, one heartbeat per {res['interval']} s: about {beats * res['interval']:,.0f} students playing at once"
              " (one core, nothing else running; leave headroom)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=600, help="requests per measurement")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_backend(args.count)))
        return
    backends = [{**os.environ, "DATABASE_URL": "sqlite:////tmp/tbp_activity_bench.sqlite3"}]
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        backends.append(dict(os.environ))
    results = []
    for env in backends:
        proc = subprocess.run([sys.executable, __file__, "-n", str(args.count), "--child"],
                              env=env, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            sys.exit(proc.stderr)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    report(results)


if __name__ == "__main__":
    main()
