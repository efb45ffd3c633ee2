#!/usr/bin/env python
"""Benchmark completions through the REST API, against a bare DRF endpoint.

Usage::

    python bench/api_ingest.py                     # SQLite, and PostgreSQL if DATABASE_URL is set
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tbp_api python bench/api_ingest.py -n 300

Each backend runs in its own process on a fresh test database (Django's test
runner creates and drops it). In-process, through the Django test client with
token authentication, it times:

- ``complete``: ``POST /api/v1/attempts/{id}/complete/`` for attempts started
  beforehand (the start is not timed), with an ``Idempotency-Key``;
- ``record``: ``POST /api/v1/attempts/record/`` (start and complete in one call);
- ``bare``: a DRF endpoint defined here, same authentication, that inserts
  one row and returns it.

The three take turns every five requests, so a drift of the machine or the
database weighs on all of them alike; the ratio is also shown for each tenth
of the run, to show how steady it is. It prints completions per second, the
query count of one completion with a breakdown (authentication, throttle
cache, idempotency, the services path), and the ratio to the bare endpoint.
Each database runs with throttle counts in the project's throttle cache and
in the database cache; PostgreSQL runs once more with prepared statements
(``DATABASE_PREPARED_STATEMENTS``, README "Deployment at scale").
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter

import bare  # bench/bare.py: Django set up, the bare DRF insert
from bare import ROOT, setup_django
TARGET_QUERIES = 12
TARGET_RATIO = 0.30
ROUNDS = 10  # tenths of the run, for the spread of the ratio
SLICE = 5  # requests of one kind in a row


def bare_urlconf():
    """The API's routes plus ``bench/bare/``: a DRF view that inserts one row (``bench/bare.py``)."""
    return bare.urlconf("bench_api_urls", ("api/", "timeback_progress.api.urls"))


def classify(sql):
    low = sql.lower()
    if "authtoken_token" in low or "auth_user" in low:
        return "authentication"
    if "timeback_cache" in low:
        return "throttle cache"
    if "idempotencyrecord" in low:
        return "idempotency"
    if low.startswith(("begin", "commit", "savepoint", "release", "rollback")):
        return "transaction control"
    return "attempt lookup + services"


def run_backend(count, throttle_cache):
    setup_django()
    from decimal import Decimal

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.test.runner import DiscoverRunner
    from django.test.utils import CaptureQueriesContext, override_settings, setup_test_environment
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from timeback_progress.gradebook import attempts
    from timeback_progress.models import Activity, Course, Student

    caches = dict(settings.CACHES, bench={"BACKEND": "django.core.cache.backends.locmem.LocMemCache"})
    overrides = override_settings(
        ROOT_URLCONF=bare_urlconf(),
        CACHES=caches,
        TIMEBACK_PROGRESS={**settings.TIMEBACK_PROGRESS, "API_THROTTLE_CACHE": throttle_cache},
    )
    setup_test_environment(debug=False)  # no query log while timing
    runner = DiscoverRunner(verbosity=0, interactive=False)
    old = runner.setup_databases()
    try:
        with overrides:
            user = get_user_model().objects.create_user("bench-app", password=None)
            course = Course.objects.create(sourced_id="bench-course", title="Bench")
            activity = Activity.objects.create(
                activity_id="bench-quiz", name="Quiz", course=course, app_name="Bench", expected_xp=Decimal(10)
            )
            # Recorded attempts go to another activity: the completions' chains stay as they would be.
            recorded = Activity.objects.create(
                activity_id="bench-recorded", name="Recorded", course=course, app_name="Bench", expected_xp=Decimal(10)
            )
            students = [
                Student.objects.create(sourced_id=f"bench-{i}", user=user if i == 0 else None) for i in range(50)
            ]
            # A server-side app writes for every student: a service account (staff alone grants no API write).
            user.user_permissions.add(Permission.objects.get(codename="add_attempt", content_type__app_label="timeback_progress"))
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
            attempts = [attempts.start_attempt(students[i % 50], activity).pk for i in range(count + 2)]
            warmup = [attempts.pop(), attempts.pop()]

            def complete(i, pk):
                body = json.dumps({"totalQuestions": 10, "correctQuestions": 9, "activeSeconds": 120})
                response = client.post(
                    f"/api/v1/attempts/{pk}/complete/", body, content_type="application/json",
                    headers={"Idempotency-Key": f"c-{i}"},
                )
                assert response.status_code == 200, response.content

            def record(i, _):
                body = json.dumps({
                    "studentSourcedId": students[i % 50].sourced_id, "activityId": recorded.activity_id,
                    "totalQuestions": 10, "correctQuestions": 9, "activeSeconds": 120,
                })
                response = client.post("/api/v1/attempts/record/", body, content_type="application/json")
                assert response.status_code == 201, response.content

            def bare(i, _):
                response = client.post("/bench/bare/", json.dumps({"name": f"row-{i}"}), content_type="application/json")
                assert response.status_code == 201, response.content

            prepared = connection.settings_dict.get("OPTIONS", {}).get("prepare_threshold") is not None
            out = {"vendor": connection.vendor + (", prepared statements" if prepared else ""), "throttle_cache": throttle_cache}
            calls = {"complete": complete, "record": record, "bare": bare}
            for name, call in calls.items():
                is_complete = name == "complete"
                call(-1, warmup[0] if is_complete else None)  # warm up (throttle row, caches)
                connection.queries_log.clear()  # a full log (DEBUG) would hide the capture
                with CaptureQueriesContext(connection) as queries:
                    call(-2, warmup[1] if is_complete else None)
                captured = list(queries.captured_queries)  # the next request resets the log
                out[name] = {
                    "queries": len(captured),
                    "breakdown": dict(Counter(classify(q["sql"]) for q in captured)),
                    "sql": [q["sql"][:90] for q in captured],
                }
            # Side by side: the three take turns every SLICE requests, so a drift of
            # the machine or the database (a noisy neighbour, autovacuum, a
            # checkpoint) weighs on all alike. The ratio is also taken per tenth
            # of the run, to show how steady it is.
            elapsed = {name: [0.0] * ROUNDS for name in calls}
            for start in range(0, count, SLICE):
                tenth = start * ROUNDS // count
                for name, call in calls.items():
                    began = time.perf_counter()
                    for i in range(start, min(start + SLICE, count)):
                        call(i, attempts[i] if name == "complete" else None)
                    elapsed[name][tenth] += time.perf_counter() - began
            for name in calls:
                out[name]["per_second"] = count / sum(elapsed[name])
                out[name]["tenths"] = [bare / own for bare, own in zip(elapsed["bare"], elapsed[name]) if own]
    finally:
        runner.teardown_databases(old)
    return out


def report(results):
    for res in results:
        print(f"\n== {res['vendor']}, throttle cache: {res['throttle_cache']} ==")
        bare = res["bare"]["per_second"]
        for name in ("complete", "record", "bare"):
            row = res[name]
            ratio = row["per_second"] / bare
            spread = sorted(row["tenths"])
            print(
                f"{name:9} {row['per_second']:8.1f}/s  {row['queries']:3d} queries  ratio to bare {ratio:5.2f}"
                + (f"  (tenths of the run: {spread[0]:.2f} to {spread[-1]:.2f}, median {statistics.median(spread):.2f})" if name != "bare" else "")
            )
            if name != "bare":
                print(f"          {row['breakdown']}")
        comp = res["complete"]
        ok_q = "OK" if comp["queries"] <= TARGET_QUERIES else "MISSED"
        ok_r = "OK" if comp["per_second"] / bare >= TARGET_RATIO else "MISSED"
        print(f"targets: <= {TARGET_QUERIES} queries per completion: {ok_q}; >= {TARGET_RATIO:.2f} of bare: {ok_r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=200, help="requests per measurement")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_backend(args.count, args.child)))
        return
    # "throttle": the example project's own throttle cache (locmem, or Redis with REDIS_URL);
    # "default": the database cache, to show what throttling there would cost.
    both = ("throttle", "default")
    backends = [({**os.environ, "DATABASE_URL": "sqlite:////tmp/tbp_api_bench.sqlite3"}, both)]
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        plain = {**os.environ, "DATABASE_PREPARED_STATEMENTS": "false"}  # Django's default: client-side binding
        backends += [(plain, both), ({**plain, "DATABASE_PREPARED_STATEMENTS": "true"}, ("throttle",))]
    results = []
    for env, caches in backends:
        for cache in caches:
            proc = subprocess.run(
                [sys.executable, __file__, "-n", str(args.count), "--child", cache],
                env=env, capture_output=True, text=True, cwd=ROOT,
            )
            if proc.returncode:
                sys.exit(proc.stderr)
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    report(results)


if __name__ == "__main__":
    main()
