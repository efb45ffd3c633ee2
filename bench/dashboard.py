#!/usr/bin/env python
"""Benchmark the teacher dashboards at 10,000 and 100,000 attempts, and a 5,000-student course.

Usage::

    python bench/dashboard.py                      # both sizes, 1,000 students; then 5,000 students
    python bench/dashboard.py --runs 30 --students 1000 --attempts 10000 100000 --large-students 5000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/dashboard.py --database-url-from-env

Every course lives in one fresh database: a temporary SQLite file by
default, or (``--database-url-from-env``) a new PostgreSQL database created
next to the one ``DATABASE_URL`` names and dropped after. It is migrated, then
filled in bulk: a course of ``--students`` students per ``--attempts`` size
(completed attempts over 20 activities and 60 days, scored with the real XP
rules, ``timeback_progress.xp``), and a ``--large-students`` course with 10
attempts each. StudentProgress and DailyProgress are built directly with bulk
inserts from the same numbers; the signal path would take far too long at this
size. Through the Django test client, signed in as each course's teacher, it
times the course overview (all time; with a 7-day window; sorted and
filtered), a student page and the CSV export (all time and windowed), every
page of every course in turns, one round after another, so the sizes are
measured side by side under the same load; and prints the median render time,
the query count, the 100k/10k ratio and the CSV export's peak memory
(tracemalloc) at 1,000 and 10,000 students. The throttles are off.
"""

import argparse
import datetime
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACTIVITIES = 20
DAYS = 60


def setup_django(database_url):
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    # The example project wants a SECRET_KEY with DEBUG off and redirects plain http;
    # these runs are in-process on loopback (the test client speaks http).
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_DEBUG", "false")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # allows the test client's host, keeps DEBUG off
    from django.conf import settings

    from timeback_progress.conf import app_settings

    # The pages, not the rates: a run makes hundreds of requests a minute.
    off = {"timeback_dashboard": None, "timeback_export": None}
    settings.TIMEBACK_PROGRESS = {**getattr(settings, "TIMEBACK_PROGRESS", {}), "THROTTLE_RATES": off}
    app_settings.reload()
    # force_login's request has no address, which django-axes cannot store in PostgreSQL's inet.
    settings.AXES_ENABLED = False
    call_command("migrate", verbosity=0)


def build(n_students, n_attempts, seed=42, tag="a"):
    """One course with its teacher, students, attempts and aggregates, in bulk (``tag`` keeps ids apart)."""
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
        sourced_id=f"bench-course-{tag}", title=f"Bench Math {tag}", subject="Math", total_xp=2000, masterable_units=ACTIVITIES * 2
    )
    teacher = get_user_model().objects.create_user(f"bench-teacher-{tag}", password="x")
    Enrollment.objects.create(course=course, user=teacher, role="teacher")
    activities = Activity.objects.bulk_create(
        Activity(
            activity_id=f"bench-act-{tag}-{i}", name=f"Lesson {i + 1}", course=course, subject="Math", app_name="Bench",
            expected_xp=Decimal(rng.choice([5, 10, 15, 20])), masterable_units=2, line_item_sourced_id=f"bench-li-{tag}-{i}",
        )
        for i in range(ACTIVITIES)
    )
    students = Student.objects.bulk_create(
        Student(sourced_id=f"bench-s-{tag}-{i}", given_name=f"Given{i}", family_name=f"Family{i:05d}", email=f"s{i}.{tag}@example.com")
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
        days = defaultdict(lambda: defaultdict(Decimal))
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
            day = days[completed_at.date()]  # the chart time zone is the project's TIME_ZONE, UTC here
            for key, value in (("xp", outcome.xp), ("completed_count", 1), ("active_seconds", active),
                               ("inactive_seconds", inactive), ("total_questions", total),
                               ("correct_questions", correct), ("mastered_units", mastered)):
                day[key] += value
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
            DailyProgress(
                student=student, course=course, day=d,
                **{k: (v if k in ("xp", "correct_questions") else int(v)) for k, v in sums.items()},
            )
            for d, sums in days.items()
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
        (Student(sourced_id=f"extra-{course.pk}-{i}", given_name="Extra", family_name=f"X{i:06d}") for i in range(n)), batch_size=2000
    )
    Enrollment.objects.bulk_create((Enrollment(course=course, student=s, role="student") for s in students), batch_size=2000)
    StudentProgress.objects.bulk_create(
        (StudentProgress(student=s, course=course, xp_total=Decimal(i % 300), last_activity_at=timezone.now())
         for i, s in enumerate(students)),
        batch_size=2000,
    )


def fetcher(client, path, stream=False):
    def fetch():
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        body = b"".join(response.streaming_content) if stream else response.content
        return len(body)

    return fetch


def query_count(fetch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):  # warm caches (templates, statements)
        fetch()
    with CaptureQueriesContext(connection) as ctx:
        fetch()
    return len(ctx)  # read now: the next request resets the connection's query log


def measure_side_by_side(cases, runs):
    """Median ms and queries of each ``(key, fetch)`` case, timed in turns (one of each per round), so
    a machine busy with something else slows every case alike and the ratios hold."""
    queries = {key: query_count(fetch) for key, fetch in cases}
    timings = defaultdict(list)
    for _ in range(runs):
        for key, fetch in cases:
            start = time.perf_counter()
            fetch()
            timings[key].append((time.perf_counter() - start) * 1000)
    return {key: {"median_ms": round(statistics.median(timings[key]), 2), "queries": queries[key]} for key, _ in cases}


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


def window_query(days_back=7):
    """The overview's query string for the last ``days_back`` days."""
    from timeback_progress.dashboards import days

    today = days.today()
    return f"?start={today - datetime.timedelta(days=days_back - 1)}&end={today}"


class fresh_database:
    """A new database for one child run: a temporary SQLite file, or a PostgreSQL database
    made next to ``base_url``'s and dropped after."""

    def __init__(self, base_url=None):
        self.base_url = base_url

    def __enter__(self):
        if not self.base_url:
            self.tmp = tempfile.TemporaryDirectory()
            return f"sqlite:///{Path(self.tmp.name) / 'bench.sqlite3'}"
        import psycopg
        from urllib.parse import urlsplit, urlunsplit

        self.name = f"tbp_bench_{os.getpid()}"
        self.admin = psycopg.connect(self.base_url, autocommit=True)
        self.admin.execute(f"DROP DATABASE IF EXISTS {self.name}")
        self.admin.execute(f"CREATE DATABASE {self.name}")
        return urlunsplit(urlsplit(self.base_url)._replace(path=f"/{self.name}"))

    def __exit__(self, *exc):
        if not self.base_url:
            self.tmp.cleanup()
            return
        from django.db import connections

        connections.close_all()
        self.admin.execute(f"DROP DATABASE IF EXISTS {self.name}")
        self.admin.close()


def run_all(n_students, sizes, large, runs, base_url=None):
    """Every course in one database, every page timed side by side in one process."""
    with fresh_database(base_url) as url:
        setup_django(url)
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        courses = [(f"{n_students}x{n}", n_students, n) for n in sizes]
        if large:
            courses.append((f"{large}x{10 * large}", large, 10 * large))
        built, cases, clients = {}, [], {}
        window = window_query()
        for tag, students_n, attempts_n in courses:
            started = time.perf_counter()
            course, teacher, students = build(students_n, attempts_n, tag=tag)
            built[tag] = round(time.perf_counter() - started, 1)
            client = clients[tag] = Client()
            client.force_login(teacher)
            overview = reverse("timeback_progress:course-overview", args=[course.pk])
            student = reverse("timeback_progress:student-detail", args=[course.pk, students[len(students) // 2].pk])
            export = reverse("timeback_progress:course-export", args=[course.pk])
            pages = {
                "overview": overview,
                "overview_window": overview + window,
                "overview_window_sorted": overview + window + "&sort=-xp&show=either",
                "overview_sorted_filtered": overview + "?sort=-xp&q=Family00&page=2",
                "student": student,
                "csv": export,
                "csv_window": export + window,
            }
            cases += [((tag, page), fetcher(client, path, stream=page.startswith("csv"))) for page, path in pages.items()]
            built[tag, "course"], built[tag, "export"] = course, export
        measured = measure_side_by_side(cases, runs)
        result = {"vendor": connection.vendor, "students": n_students, "runs": runs, "courses": []}
        for tag, students_n, attempts_n in courses:
            row = {"tag": tag, "students": students_n, "attempts": attempts_n, "build_s": built[tag],
                   "pages": {page: m for (t, page), m in measured.items() if t == tag}}
            if students_n == n_students:  # the CSV's memory at this size and at ten times the students
                client, course, export = clients[tag], built[tag, "course"], built[tag, "export"]
                row["csv_memory"] = {students_n: csv_peak_memory(client, export)}
                add_students(course, 9 * students_n)
                row["csv_memory"][10 * students_n] = csv_peak_memory(client, export)
            result["courses"].append(row)
        return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--attempts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--large-students", type=int, default=5000,
                        help="students of the large course (10 attempts each); 0 leaves it out")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url-from-env", action="store_true",
                        help="run on a fresh PostgreSQL database made next to the one DATABASE_URL names")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL") if args.database_url_from_env else None
    report(run_all(args.students, args.attempts, args.large_students, args.runs, base_url))


PAGES = ("overview", "overview_window", "overview_window_sorted", "overview_sorted_filtered", "student", "csv",
         "csv_window")


def report(result):
    courses = result["courses"]
    sized = [c for c in courses if c["students"] == result["students"]]
    print(f"database: {result['vendor']}; {result['runs']} runs of each page, in turns (medians)")
    print(f"{'page':<26}" + "".join(f"{c['students']:>7,} st. {c['attempts']:>8,} att. ms  queries" for c in courses))
    for page in PAGES:
        print(f"{page:<26}" + "".join(
            f"{c['pages'][page]['median_ms']:>28.1f}{c['pages'][page]['queries']:>9}" for c in courses))
    if len(sized) >= 2:
        low, high = sized[0], sized[-1]
        print(f"\nratio {high['attempts']:,} / {low['attempts']:,} attempts at {low['students']:,} students "
              "(median render time; target < 1.3):")
        for page in PAGES:
            print(f"  {page:<24} {high['pages'][page]['median_ms'] / low['pages'][page]['median_ms']:.2f}")
    for c in courses:
        print(f"\n{c['students']:,} students, {c['attempts']:,} attempts: data built in {c['build_s']} s")
        for n, m in c.get("csv_memory", {}).items():
            print(f"  CSV export at {n:,} students: peak {m['peak_kib']} KiB for a {m['csv_kib']} KiB file")


if __name__ == "__main__":
    main()
