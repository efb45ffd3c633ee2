#!/usr/bin/env python
"""Benchmark the student x activity grid and "where the class struggles" at 10,000 and 100,000 attempts.

Usage::

    python bench/dashboard_grid.py                  # 1,000 students x 30 activities, 10k and 100k attempts
    python bench/dashboard_grid.py --runs 30 --students 1000 --activities 30 --attempts 10000 100000

Each size gets its own temporary SQLite file, migrated, then filled in bulk:
one course, ``--students`` students, ``--activities`` activities (every tenth
one passive: no questions), ``--attempts`` completed attempts spread over 60
days and scored with the real XP rules (``timeback_progress.xp``). The
attempts are written with ``bulk_create``, and so are the ``ActivityProgress``
rows the pages read, summed from the same numbers: going through the
gradebook's services would take hours at this size (docs/dashboards.md).

Both databases are built in one process, then measured side by side: each
round switches the connection to one file, warms it with one request, times
the pages, then does the same on the other file, so the machine's load (the
two cores are shared) weighs on both sizes alike. Printed per page: the query
count, the median time, and the 100k/10k ratio of the medians; the grid's
first page (50 students, what a teacher sees) must stay under 250 ms.

What these pages read grows with the ActivityProgress rows (one per student
and activity touched: about 8,600 at 10k attempts, 29,000 at 100k, never more
than students x activities), not with the attempts. ``--students 100`` gives
both sizes the same rows (2,900 and 3,000) and so shows the attempts alone.
"""

import argparse
import datetime as dt
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAYS = 60
GRID_BUDGET_MS = 250


def setup_django(db_path):
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    # The example project wants a SECRET_KEY with DEBUG off and redirects plain http;
    # these runs are in-process on loopback (the test client speaks http).
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_DEBUG", "false")
    # A benchmark is one user asking many times: no dashboard or export rate.
    os.environ["TIMEBACK_PROGRESS_EXTRA"] = '{"THROTTLE_RATES": {"timeback_dashboard": null, "timeback_export": null}}'
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()  # allows the test client's host, keeps DEBUG off


def use_database(path):
    """Point the default connection at another SQLite file (closed first; reopened on the next query)."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = str(path)


def build(n_students, n_activities, n_attempts, seed=42):
    """One course with its teacher, students, activities, attempts and ActivityProgress rows, in bulk."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from timeback_progress import xp
    from timeback_progress.models import Activity, ActivityProgress, Attempt, Course, Enrollment, Student

    rng = random.Random(seed)
    now = timezone.now().replace(microsecond=0)
    course = Course.objects.create(
        sourced_id="bench-course", title="Bench Math", subject="Math", total_xp=3000, masterable_units=n_activities * 2
    )
    teacher = get_user_model().objects.create_user("bench-teacher", password="x")
    Enrollment.objects.create(course=course, user=teacher, role="teacher")
    activities = Activity.objects.bulk_create(
        Activity(
            activity_id=f"bench-act-{i}", name=f"Lesson {i + 1:02d}", course=course, subject="Math", app_name="Bench",
            expected_xp=Decimal(rng.choice([5, 10, 15, 20])), masterable_units=0 if i % 10 == 9 else 2,
            is_graded=i % 10 != 9, line_item_sourced_id=f"bench-li-{i}",
        )
        for i in range(n_activities)
    )
    students = Student.objects.bulk_create(
        Student(sourced_id=f"bench-s-{i}", given_name=f"Given{i}", family_name=f"Family{i:05d}", email=f"s{i}@example.com")
        for i in range(n_students)
    )
    Enrollment.objects.bulk_create(Enrollment(course=course, student=s, role="student") for s in students)

    per_student = n_attempts // n_students
    attempts, progress = [], []
    for student in students:
        skill = rng.uniform(0.55, 0.98)
        times = sorted(now - dt.timedelta(seconds=rng.randint(0, DAYS * 86_400)) for _ in range(per_student))
        rows = {}
        for completed_at in times:
            activity = rng.choice(activities)
            row = rows.get(activity.pk)
            if row is None:
                row = rows[activity.pk] = ActivityProgress(student=student, activity=activity, course=course)
            number = row.completed_count + 1
            total = 0 if activity.masterable_units == 0 else 10
            correct = sum(rng.random() < skill for _ in range(total))
            outcome = xp.calculate_xp(activity.expected_xp, total, correct, number)
            mastered = xp.mastered_units(outcome.passed and total > 0, activity.masterable_units, row.mastered_units > 0)
            active, inactive = rng.randint(60, 900), rng.randint(0, 120)
            attempts.append(
                Attempt(
                    student=student, activity=activity, course=course, number=number,
                    started_at=completed_at - dt.timedelta(seconds=active + inactive), completed_at=completed_at,
                    total_questions=total, correct_questions=Decimal(correct), active_seconds=active,
                    inactive_seconds=inactive, accuracy=outcome.accuracy if total else None,
                    multiplier=outcome.multiplier, xp_earned=outcome.xp, mastered_units=mastered,
                )
            )
            row.attempts_count += 1
            row.completed_count += 1
            row.last_completed_number = number
            row.xp_total += outcome.xp
            row.total_questions += total
            row.correct_questions += correct
            row.mastered_units += mastered
            row.active_seconds += active
            row.inactive_seconds += inactive
            row.last_started_at = row.last_completed_at = completed_at
            if total:
                row.best_accuracy = outcome.accuracy if row.best_accuracy is None else max(row.best_accuracy, outcome.accuracy)
        progress.extend(rows.values())
    Attempt.objects.bulk_create(attempts, batch_size=2000)
    ActivityProgress.objects.bulk_create(progress, batch_size=2000)
    return course, teacher, activities, len(progress)


def fetch(client, path, stream=False):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    body = b"".join(response.streaming_content) if stream else response.content
    return len(body)


def count_queries(client, path, stream=False):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    fetch(client, path, stream)
    with CaptureQueriesContext(connection) as ctx:
        fetch(client, path, stream)
    return len(ctx)


def timed(client, path, stream=False):
    start = time.perf_counter()
    fetch(client, path, stream)
    return (time.perf_counter() - start) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--activities", type=int, default=30)
    parser.add_argument("--attempts", type=int, nargs=2, default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page and size")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"bench-{n}.sqlite3" for n in args.attempts]
        setup_django(paths[0])
        from django.core.management import call_command
        from django.test import Client
        from django.urls import reverse

        sizes = []
        for path, n in zip(paths, args.attempts):
            use_database(path)
            call_command("migrate", verbosity=0)
            started = time.perf_counter()
            course, teacher, activities, cells = build(args.students, args.activities, n)
            client = Client()
            client.force_login(teacher)
            pk, middle = course.pk, activities[len(activities) // 2].pk
            pages = {
                "grid (page 1, by name)": (reverse("timeback_progress:course-grid", args=[pk]), False),
                "grid (sorted by a lesson)": (reverse("timeback_progress:course-grid", args=[pk]) + f"?sort=-a{middle}&page=7", False),
                "grid CSV (all students)": (reverse("timeback_progress:course-grid-export", args=[pk]), True),
                "activities": (reverse("timeback_progress:course-activities", args=[pk]), False),
                "activities (sorted)": (reverse("timeback_progress:course-activities", args=[pk]) + "?sort=accuracy", False),
                "activities CSV": (reverse("timeback_progress:course-activities-export", args=[pk]), True),
            }
            queries = {name: count_queries(client, path_, stream) for name, (path_, stream) in pages.items()}
            sizes.append({"attempts": n, "path": path, "client": client, "pages": pages, "queries": queries,
                          "cells": cells, "built": time.perf_counter() - started, "ms": defaultdict(list)})

        # Side by side: the same round on each file in turn.
        for _ in range(args.runs):
            for size in sizes:
                use_database(size["path"])
                client = size["client"]
                for name, (path_, stream) in size["pages"].items():
                    fetch(client, path_, stream)  # warm this connection's page cache
                    size["ms"][name].append(timed(client, path_, stream))
    report(args, sizes)


def report(args, sizes):
    low, high = sizes
    print(f"{args.students:,} students x {args.activities} activities, SQLite, median of {args.runs} runs, measured side by side")
    print(f"{'page':<28}" + "".join(f"{s['attempts']:>10,} att.: ms  queries" for s in sizes) + "   ratio")
    failures = []
    for name in low["pages"]:
        medians = [statistics.median(s["ms"][name]) for s in sizes]
        ratio = medians[1] / medians[0]
        print(f"{name:<28}" + "".join(f"{m:>21.1f}{s['queries'][name]:>9}" for m, s in zip(medians, sizes)) + f"{ratio:>8.2f}")
        if low["queries"][name] != high["queries"][name]:
            failures.append(f"{name}: query count grows")
        if name.startswith("grid (page") and max(medians) > GRID_BUDGET_MS:
            failures.append(f"{name}: over {GRID_BUDGET_MS} ms")
    for s in sizes:
        print(f"\n{s['attempts']:,} attempts: {s['cells']:,} ActivityProgress rows (cells not 'not started'), built in {s['built']:.1f} s")
    print("\n" + ("; ".join(failures) if failures else f"OK: fixed query counts, grid page under {GRID_BUDGET_MS} ms"))


if __name__ == "__main__":
    main()
