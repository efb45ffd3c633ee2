#!/usr/bin/env python
"""Benchmark the teacher dashboards at 10,000 and 100,000 attempts.

Usage::

    python bench/dashboard.py                      # both sizes, 1,000 students
    python bench/dashboard.py --runs 30 --students 1000 --attempts 10000 100000

Each size runs in its own process against a fresh temporary SQLite file
(DATABASE_URL), migrated, then filled in bulk: one course, ``--students``
students, ``--attempts`` completed attempts over 20 activities and 60 days,
scored with the real XP rules (``timeback_progress.xp``). StudentProgress and
DailyProgress are built directly with bulk inserts from the same numbers;
the signal path would take far too long at this size. It then times the
course overview, a student page and the CSV export through the Django test
client, signed in as the course's teacher, and prints the median render time,
the query count, the 100k/10k ratio and the CSV export's peak memory
(tracemalloc) at 1,000 and 10,000 students.
"""

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACTIVITIES = 20
DAYS = 60


def setup_django(db_path):
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    # The example project wants a SECRET_KEY with DEBUG off and redirects plain http;
    # these runs are in-process on loopback (the test client speaks http).
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_DEBUG", "false")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # allows the test client's host, keeps DEBUG off
    call_command("migrate", verbosity=0)


def build(n_students, n_attempts, seed=42):
    """One course with its teacher, students, attempts and aggregates, in bulk."""
    import datetime as dt
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from timeback_progress import xp
    from timeback_progress.models import (
        Activity, Attempt, Course, DailyProgress, Enrollment, Student, StudentProgress,
    )

    rng = random.Random(seed)
    now = timezone.now().replace(microsecond=0)
    course = Course.objects.create(
        sourced_id="bench-course", title="Bench Math", subject="Math", total_xp=2000, masterable_units=ACTIVITIES * 2
    )
    teacher = get_user_model().objects.create_user("bench-teacher", password="x")
    Enrollment.objects.create(course=course, user=teacher, role="teacher")
    activities = Activity.objects.bulk_create(
        Activity(
            activity_id=f"bench-act-{i}", name=f"Lesson {i + 1}", course=course, subject="Math", app_name="Bench",
            expected_xp=Decimal(rng.choice([5, 10, 15, 20])), masterable_units=2, line_item_sourced_id=f"bench-li-{i}",
        )
        for i in range(ACTIVITIES)
    )
    students = Student.objects.bulk_create(
        Student(sourced_id=f"bench-s-{i}", given_name=f"Given{i}", family_name=f"Family{i:05d}", email=f"s{i}@example.com")
        for i in range(n_students)
    )
    Enrollment.objects.bulk_create(Enrollment(course=course, student=s, role="student") for s in students)

    per_student = n_attempts // n_students
    attempts, progress, daily = [], [], []
    for student in students:
        skill = rng.uniform(0.55, 0.98)
        times = sorted(now - dt.timedelta(seconds=rng.randint(0, DAYS * 86_400)) for _ in range(per_student))
        numbers, mastered_acts = defaultdict(int), set()
        agg = defaultdict(Decimal)
        days = defaultdict(lambda: [Decimal(0), 0, 0])
        streak = 0
        for completed_at in times:
            activity = rng.choice(activities)
            numbers[activity.pk] += 1
            total = 10
            correct = sum(rng.random() < skill for _ in range(total))
            outcome = xp.calculate_xp(activity.expected_xp, total, correct, numbers[activity.pk])
            mastered = xp.mastered_units(outcome.passed, activity.masterable_units, activity.pk in mastered_acts)
            if mastered:
                mastered_acts.add(activity.pk)
            active, inactive = rng.randint(60, 900), rng.randint(0, 120)
            streak = 0 if outcome.passed else streak + 1
            attempts.append(
                Attempt(
                    student=student, activity=activity, course=course, number=numbers[activity.pk],
                    started_at=completed_at - dt.timedelta(seconds=active + inactive), completed_at=completed_at,
                    total_questions=total, correct_questions=Decimal(correct), active_seconds=active,
                    inactive_seconds=inactive, accuracy=outcome.accuracy, multiplier=outcome.multiplier,
                    xp_earned=outcome.xp, mastered_units=mastered,
                )
            )
            for key, value in (("xp", outcome.xp), ("total", total), ("correct", correct), ("mastered", mastered),
                               ("active", active), ("inactive", inactive)):
                agg[key] += value
            day = days[completed_at.date()]
            day[0] += outcome.xp
            day[1] += 1
            day[2] += active
        progress.append(
            StudentProgress(
                student=student, course=course, xp_total=agg["xp"], attempts_count=per_student,
                completed_count=per_student, total_questions=int(agg["total"]), correct_questions=agg["correct"],
                accuracy=xp.quantize(agg["correct"] * 100 / agg["total"]) if agg["total"] else None,
                mastered_units=int(agg["mastered"]), active_seconds=int(agg["active"]),
                inactive_seconds=int(agg["inactive"]), failed_streak=streak,
                last_activity_at=times[-1] if times else None,
            )
        )
        daily.extend(
            DailyProgress(student=student, course=course, day=d, xp=v[0], completed_count=v[1], active_seconds=v[2])
            for d, v in days.items()
        )
    Attempt.objects.bulk_create(attempts, batch_size=2000)
    StudentProgress.objects.bulk_create(progress, batch_size=2000)
    DailyProgress.objects.bulk_create(daily, batch_size=2000)
    return course, teacher, students


def add_students(course, n):
    """Students with aggregates only (no attempts), to show the CSV's memory stays flat."""
    from decimal import Decimal

    from django.utils import timezone

    from timeback_progress.models import Enrollment, Student, StudentProgress

    students = Student.objects.bulk_create(
        (Student(sourced_id=f"extra-{i}", given_name="Extra", family_name=f"X{i:06d}") for i in range(n)), batch_size=2000
    )
    Enrollment.objects.bulk_create((Enrollment(course=course, student=s, role="student") for s in students), batch_size=2000)
    StudentProgress.objects.bulk_create(
        (StudentProgress(student=s, course=course, xp_total=Decimal(i % 300), last_activity_at=timezone.now())
         for i, s in enumerate(students)),
        batch_size=2000,
    )


def measure(client, path, runs, stream=False):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def fetch():
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        body = b"".join(response.streaming_content) if stream else response.content
        return len(body)

    for _ in range(2):  # warm caches (templates, statements)
        fetch()
    with CaptureQueriesContext(connection) as ctx:
        size = fetch()
    queries = len(ctx)  # read now: the next request resets the connection's query log
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        fetch()
        timings.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(timings), 2), "queries": queries, "bytes": size}


def csv_peak_memory(client, path):
    """Peak Python memory while streaming the export, chunk by chunk, and the CSV size."""
    client.get(path)  # warm
    tracemalloc.start()
    response = client.get(path)
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"peak_kib": round(peak / 1024, 1), "csv_kib": round(size / 1024, 1)}


def add_covering_index():
    """Proposed schema change: lets the class chart read DailyProgress from the index alone."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE INDEX bench_daily_course_day_xp ON timeback_progress_dailyprogress (course_id, day, xp)"
        )


def run_one(n_students, n_attempts, runs, covering_index=False):
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(Path(tmp) / "bench.sqlite3")
        if covering_index:
            add_covering_index()
        from django.test import Client
        from django.urls import reverse

        started = time.perf_counter()
        course, teacher, students = build(n_students, n_attempts)
        built = time.perf_counter() - started
        client = Client()
        client.force_login(teacher)
        overview = reverse("timeback_progress:course-overview", args=[course.pk])
        student = reverse("timeback_progress:student-detail", args=[course.pk, students[len(students) // 2].pk])
        export = reverse("timeback_progress:course-export", args=[course.pk])
        result = {
            "students": n_students,
            "attempts": n_attempts,
            "build_s": round(built, 1),
            "overview": measure(client, overview, runs),
            "overview_sorted_filtered": measure(client, overview + "?sort=-xp&q=Family00&page=2", runs),
            "student": measure(client, student, runs),
            "csv": measure(client, export, runs, stream=True),
            "csv_memory": {n_students: csv_peak_memory(client, export)},
        }
        add_students(course, 9 * n_students)
        result["csv_memory"][10 * n_students] = csv_peak_memory(client, export)
        return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--attempts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--covering-index", action="store_true",
        help="also index DailyProgress (course, day, xp), the proposed schema change, before measuring",
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.students, args.attempts[0], args.runs, args.covering_index)))
        return
    results = []
    for n in args.attempts:
        cmd = [sys.executable, __file__, "--one", "--students", str(args.students), "--attempts", str(n), "--runs", str(args.runs)]
        cmd += ["--covering-index"] if args.covering_index else []
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            sys.exit(f"The {n:,}-attempt run failed:\n{done.stderr}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    report(results)


def report(results):
    pages = ("overview", "overview_sorted_filtered", "student", "csv")
    print(f"{'page':<26}" + "".join(f"{r['attempts']:>12,} att. ms  queries" for r in results))
    for page in pages:
        print(f"{page:<26}" + "".join(f"{r[page]['median_ms']:>20.1f}{r[page]['queries']:>9}" for r in results))
    if len(results) >= 2:
        low, high = results[0], results[-1]
        print(f"\nratio {high['attempts']:,} / {low['attempts']:,} attempts (median render time):")
        for page in pages:
            print(f"  {page:<24} {high[page]['median_ms'] / low[page]['median_ms']:.2f}")
    for r in results:
        mem = ", ".join(f"{n} students: peak {m['peak_kib']} KiB for a {m['csv_kib']} KiB file" for n, m in r["csv_memory"].items())
        print(f"\nCSV export memory at {r['attempts']:,} attempts: {mem}")
        print(f"(data built in {r['build_s']} s)")


if __name__ == "__main__":
    main()
