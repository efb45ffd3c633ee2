#!/usr/bin/env python
"""Does completing an attempt cost more for a student with a long history at the activity?

Usage::

    python bench/completion_history.py                 # SQLite, and PostgreSQL if DATABASE_URL is set
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tbp_hist python bench/completion_history.py -n 200

Each backend runs in its own process on a fresh test database. Two students
at one activity: one with 1 earlier completed attempt, one with ``--history``
(10,000) earlier completed attempts, seeded with ``bulk_create`` and the
progress rows rebuilt from them (``gradebook.progress.rebuild``), as a long
history would leave them. Then ``gradebook.attempts.complete_attempt`` is
timed for both, taking turns every five completions (the starts are not
timed), and the ratio of the two mean times is printed. Target: < 1.5.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.5
SLICE = 5


def run_backend(count, history):
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    # The example project wants a SECRET_KEY with DEBUG off and redirects plain http;
    # these runs are in-process on loopback (the test client speaks http).
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    import django

    django.setup()
    from decimal import Decimal

    from django.db import connection
    from django.test.runner import DiscoverRunner
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.utils import timezone

    from timeback_progress.gradebook import attempts, progress
    from timeback_progress.models import Activity, Attempt, Course, Student

    setup_test_environment(debug=False)
    runner = DiscoverRunner(verbosity=0, interactive=False)
    old = runner.setup_databases()
    try:
        course = Course.objects.create(sourced_id="hist-course", title="History")
        activity = Activity.objects.create(
            activity_id="hist-quiz", name="Quiz", course=course, app_name="Bench", expected_xp=Decimal(10)
        )
        students = {}
        start = timezone.now() - timedelta(days=400)
        for label, earlier in (("1 earlier", 1), (f"{history:,} earlier", history)):
            student = Student.objects.create(sourced_id=f"hist-{earlier}", email=f"s{earlier}@example.com")
            Attempt.objects.bulk_create(
                [
                    Attempt(
                        student=student, activity=activity, course=course, number=n,
                        started_at=start + timedelta(minutes=n), completed_at=start + timedelta(minutes=n, seconds=30),
                        total_questions=10, correct_questions=Decimal(9), accuracy=Decimal(90),
                        multiplier=Decimal(0), xp_earned=Decimal(0), active_seconds=60,
                    )
                    for n in range(1, earlier + 1)
                ],
                batch_size=2000,
            )
            progress.rebuild(student.pk, activity.pk, course.pk, using="default")
            students[label] = student

        def complete(student):
            attempt = attempts.start_attempt(student, activity)
            began = time.perf_counter()
            attempts.complete_attempt(attempt, total_questions=10, correct_questions=9, active_seconds=60)
            return time.perf_counter() - began

        out = {"vendor": connection.vendor, "labels": list(students)}
        for label, student in students.items():  # warm up, and count the queries of one completion
            complete(student)
            with CaptureQueriesContext(connection) as queries:
                complete(student)
            out[label] = {"queries": len(queries.captured_queries), "seconds": 0.0}
        for _ in range(0, count, SLICE):
            for label, student in students.items():
                for _ in range(SLICE):
                    out[label]["seconds"] += complete(student)
        for label in students:
            out[label]["ms"] = out[label]["seconds"] / count * 1000
    finally:
        runner.teardown_databases(old)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=200, help="completions per student")
    parser.add_argument("--history", type=int, default=10_000, help="earlier completed attempts of the long history")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_backend(args.count, args.history)))
        return
    backends = [{**os.environ, "DATABASE_URL": "sqlite:////tmp/tbp_history_bench.sqlite3"}]
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        backends.append(dict(os.environ))
    for env in backends:
        proc = subprocess.run(
            [sys.executable, __file__, "-n", str(args.count), "--history", str(args.history), "--child"],
            env=env, capture_output=True, text=True, cwd=ROOT,
        )
        if proc.returncode:
            sys.exit(proc.stderr)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        short, long = (res[label] for label in res["labels"])
        ratio = long["ms"] / short["ms"]
        print(f"\n== {res['vendor']} ==")
        for label in res["labels"]:
            print(f"{label:>16}: {res[label]['ms']:7.2f} ms per completion, {res[label]['queries']} queries")
        print(f"ratio {ratio:.2f} (target < {TARGET}): {'OK' if ratio < TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
