#!/usr/bin/env python
"""Time every admin page at district scale on PostgreSQL: 50,000 students, 1,000,000 attempts, 3,000,000 outbox rows.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/admin_scale.py
    python bench/admin_scale.py --scale 0.1 --save after.json --before before.json

A new PostgreSQL database is made next to the one ``DATABASE_URL`` names,
migrated, filled and dropped after (as ``bench/dashboard.py`` does). The data
is written with ``INSERT ... SELECT ... FROM generate_series`` in a few SQL
statements, not through the app: what is measured here is the admin's reading
of a large database, not the code paths that write it (``bench/api_ingest.py``
and ``bench/sync_throughput.py`` measure those), and a million attempts through
the signal path would take hours. At ``--scale 1``: 200 courses of 20
activities, 50,000 students in two courses each (enrollments and progress
rows), 1,000,000 attempts (95% completed, each with its result), a 3,000,000-row
outbox (99% sent; pending, retrying, dead and held rows among the rest) and 500
corrections. ``VACUUM ANALYZE`` runs after the load, as autovacuum would.

Signed in as a superuser through the test client, it times the admin index,
the app index, every changelist of the app (default order, each sortable
column both ways, page 1 and a deep page, each list filter's first choices, a
search by an exact id and by a name), a change form of each model and the
sync-health figures alone; each the median of ``--runs`` (3), with the query
count. ``--save`` writes the figures as JSON, ``--before`` prints them next to
an earlier run's (run on ``main`` first, then on a branch).
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from dashboard import fresh_database  # noqa: E402  (bench/dashboard.py: a database made and dropped)

TARGET_MS = 300
FULL = {"students": 50_000, "attempts": 1_000_000, "deliveries": 3_000_000}
COURSES, ACTIVITIES_PER_COURSE = 200, 20
GIVEN = ["Ana", "Ben", "Chloe", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Max", "Nia", "Oli",
         "Pia", "Raj", "Sam", "Tia", "Uma", "Vic", "Wen", "Xan", "Yui", "Zoe", "Ama", "Bo", "Cy", "Di", "Ed"]
FAMILY = ["Garcia", "Smith", "Nguyen", "Okafor", "Kowalski", "Haddad", "Rossi", "Tanaka", "Silva", "Novak",
          "Murphy", "Dubois", "Jensen", "Ivanov", "Khan", "Lopez", "Moreau", "Park", "Quinn", "Reyes",
          "Schmidt", "Torres", "Ueda", "Vargas", "Weber", "Young", "Zhang", "Alvarez", "Brown", "Costa",
          "Diaz", "Evans", "Fischer", "Gomez", "Hughes", "Ito", "Jones", "Kim", "Larsen", "Mendes"]


def setup_django(database_url):
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 50)
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_DEBUG", "false")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.AXES_ENABLED = False  # force_login has no address for django-axes to store
    call_command("migrate", verbosity=0)


# -- the data: a few INSERT ... SELECT statements ---------------------------------------------------


def insert(model, count, columns, source="generate_series(1, {count}) AS g"):
    """``INSERT INTO <model's table> (...) SELECT <columns> FROM <source>``: every NOT NULL column not given
    gets the field's Python default (``columns`` maps field names to SQL expressions)."""
    from django.db import connection

    opts = model._meta
    names, exprs, params = [], [], []
    for field in opts.concrete_fields:
        if field.name in columns:
            names.append(field.column)
            exprs.append(columns[field.name].replace("%", "%%"))
        elif not field.null and field.has_default():
            names.append(field.column)
            exprs.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
        elif not field.null and getattr(field, "auto_now", False):
            names.append(field.column)
            exprs.append("now()")
        elif not field.null and not field.primary_key and field.get_internal_type() in ("CharField", "TextField"):
            names.append(field.column)
            exprs.append("''")
    source = source.replace("{count}", str(count)).replace("%", "%%")
    sql = f"INSERT INTO {opts.db_table} ({', '.join(names)}) SELECT {', '.join(exprs)} FROM {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def build(scale):
    """The district, in bulk SQL; returns the sizes and how long each table took."""
    from django.db import connection

    from timeback_progress.models import (
        Activity, Attempt, Course, Delivery, Enrollment, Result, ResultCorrection, Student, StudentProgress, SyncState,
    )

    n = {k: max(1, int(v * scale)) for k, v in FULL.items()}
    acts = COURSES * ACTIVITIES_PER_COURSE
    given = "(ARRAY[%s])" % ",".join(f"'{g}'" for g in GIVEN)
    family = "(ARRAY[%s])" % ",".join(f"'{f}'" for f in FAMILY)
    # A student's two courses: 1 + s % 200 and 1 + (7s + 3) % 200 (never the same: 6s + 3 is odd).
    second = f"1 + ((7 * s + 3) % {COURSES})"
    first = f"1 + (s % {COURSES})"
    timings = {}

    def step(name, *args, **kwargs):
        started = time.perf_counter()
        rows = insert(*args, **kwargs)
        timings[name] = (rows, round(time.perf_counter() - started, 1))

    step("courses", Course, COURSES, {
        "id": "g", "sourced_id": "'course-' || g", "title": "'Course ' || lpad(g::text, 3, '0')", "subject": "'Math'",
        "grade": "'05'", "total_xp": "2000", "masterable_units": f"{2 * ACTIVITIES_PER_COURSE}",
    })
    step("activities", Activity, acts, {
        "id": "g", "activity_id": "'act-' || g", "name": "'Lesson ' || g", "subject": "'Math'", "app_name": "'Bench'",
        "course": f"1 + (g - 1) / {ACTIVITIES_PER_COURSE}", "expected_xp": "10", "masterable_units": "2",
        "line_item_sourced_id": "'act-' || g || '-line-item'", "line_item_queued": "true",
    })
    step("students", Student, n["students"], {
        "id": "g", "sourced_id": "'student-' || g",
        "email": "CASE WHEN g % 100 = 0 THEN '' ELSE 's' || g || '@district.example' END",
        "given_name": f"CASE WHEN g = {n['students'] // 2} THEN 'Ada' ELSE {given}[1 + (g / 40) % {len(GIVEN)}] END",
        "family_name": f"CASE WHEN g = {n['students'] // 2} THEN 'Lovelace' ELSE {family}[1 + g % {len(FAMILY)}] END",
    })
    pairs = "(SELECT g, (g + 1) / 2 AS s FROM generate_series(1, {count}) AS g) AS e"
    course_of = f"CASE WHEN g % 2 = 1 THEN {first} ELSE {second} END"
    step("enrollments", Enrollment, 2 * n["students"], {
        "id": "g", "sourced_id": "'enr-' || g", "course": course_of, "role": "'student'", "student": "s",
    }, source=pairs)
    step("student progress", StudentProgress, 2 * n["students"], {
        "id": "g", "student": "s", "course": course_of, "xp_total": "(g * 37 % 900)::numeric",
        "attempts_count": "20", "completed_count": "19", "total_questions": "190", "correct_questions": "(g % 190)",
        "accuracy": "(g % 190) * 100.0 / 190", "mastered_units": "g % 40",
        "active_seconds": "g * 53 % 36000", "last_activity_at": "now() - (g % 365) * interval '1 day'",
    }, source=pairs)
    # Attempt g: student 1 + (g - 1) % N, its run number (g - 1) / N + 1 (unique per student), an activity of
    # one of the student's two courses; started over the last year, 95% completed ten minutes later.
    attempts = (
        f"(SELECT g, 1 + (g - 1) % {n['students']} AS s, (g - 1) / {n['students']} + 1 AS run,"
        f" now() - random() * interval '365 days' AS t FROM generate_series(1, {{count}}) AS g) AS a"
    )
    course_a = f"CASE WHEN run % 2 = 1 THEN {first} ELSE {second} END"
    step("attempts", Attempt, n["attempts"], {
        "id": "g", "student": "s", "course": course_a,
        "activity": f"({course_a} - 1) * {ACTIVITIES_PER_COURSE} + 1 + (g * 13) % {ACTIVITIES_PER_COURSE}",
        "number": "run", "started_at": "t", "created_at": "t", "updated_at": "t + interval '10 minutes'",
        "completed_at": "CASE WHEN g % 20 <> 0 THEN t + interval '10 minutes' END",
        "total_questions": "10", "correct_questions": "g % 11", "active_seconds": "540", "inactive_seconds": "60",
        "attempt_number": "CASE WHEN g % 20 <> 0 THEN run END", "accuracy": "(g % 11) * 10",
        "multiplier": "1", "xp_earned": "CASE WHEN g % 20 <> 0 THEN (g % 11)::numeric ELSE 0 END",
        "mastered_units": "g % 3", "reported_active_seconds": "540", "reported_inactive_seconds": "60",
    }, source=attempts)
    step("results", Result, "", {
        "id": "id", "sourced_id": "md5('result-' || id)::uuid::text", "attempt": "id", "student": "student_id",
        "line_item_sourced_id": "'act-' || activity_id || '-line-item'", "score": "accuracy",
        "score_status": "'fully graded'", "score_date": "completed_at", "status": "'active'",
        "metadata": "jsonb_build_object('xp', xp_earned, 'accuracy', accuracy, 'totalQuestions', 10)",
        "created_at": "completed_at", "updated_at": "completed_at",
    }, source=f"{Attempt._meta.db_table} WHERE completed_at IS NOT NULL{{count}}")
    # Outbox row g: 99% sent; 0.5% pending, 0.3% retrying, 0.1% dead, 0.1% held.
    kinds = "(ARRAY['caliper_event', 'result', 'line_item'])[1 + g % 3]"
    status = (
        "CASE WHEN g % 1000 < 990 THEN 'sent' WHEN g % 1000 < 995 THEN 'pending' WHEN g % 1000 < 998 THEN 'retrying'"
        " WHEN g % 1000 = 998 THEN 'dead' ELSE 'held' END"
    )
    outbox = (
        f"(SELECT g, 1 + (g - 1) % {n['attempts']} AS r, now() - ({n['deliveries']} - g) * interval '10 seconds' AS t"
        f" FROM generate_series(1, {{count}}) AS g) AS d"
    )
    step("deliveries", Delivery, n["deliveries"], {
        "id": "g", "kind": kinds, "key": "md5('delivery-' || g)::uuid::text", "status": status,
        "payload": "jsonb_build_object('type', 'ActivityEvent', 'id', 'urn:uuid:' || md5('e' || g)::uuid,"
                   " 'actor', jsonb_build_object('id', 'student-' || r, 'email', 's' || r || '@district.example'),"
                   " 'object', jsonb_build_object('id', 'act-' || (r % 4000 + 1), 'subject', 'Math', 'app', 'Bench'),"
                   " 'generated', jsonb_build_object('xp', r % 11, 'attempt', 1), 'eventTime', t)",
        "attempt": "CASE WHEN g % 3 = 0 THEN r END",
        "result": "CASE WHEN g % 3 = 1 AND r % 20 <> 0 THEN r END",
        "attempts": "CASE WHEN g % 1000 < 990 THEN 1 WHEN g % 1000 = 998 THEN 8 ELSE g % 4 END",
        "next_attempt_at": "t", "created_at": "t", "updated_at": "t",
        "sent_at": "CASE WHEN g % 1000 < 990 THEN t + interval '2 seconds' END",
        "response_status": "CASE WHEN g % 1000 < 990 THEN 200 WHEN g % 1000 IN (995, 996, 997, 998) THEN 503 END",
        "last_error": "CASE WHEN g % 1000 = 999 THEN 'Student ' || r || ' has no email: Timeback refuses the event.'"
                      " WHEN g % 1000 >= 995 THEN '503 Service Unavailable' ELSE '' END",
    }, source=outbox)
    step("corrections", ResultCorrection, max(1, min(500, n["attempts"] // 25)), {
        "id": "g", "result": "20 * g + 1", "reason": "'Re-marked the paper.'",
        "before": "'{\"score\": \"50.00\"}'::jsonb", "after": "'{\"score\": \"80.00\"}'::jsonb",
    })
    step("sync states", SyncState, 2, {"id": "g", "name": "(ARRAY['roster', 'other'])[g]"})
    with connection.cursor() as cursor:
        for model in (Course, Activity, Student, Enrollment, StudentProgress, Attempt, Result, Delivery,
                      ResultCorrection, SyncState):
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        started = time.perf_counter()
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would after a load: statistics and the visibility map
        timings["analyze"] = (0, round(time.perf_counter() - started, 1))
    return n, timings


# -- the pages ---------------------------------------------------------------------------------------

# A search per list: an exact identifier and a name (or the list's own text).
def searches(n):
    return {
        "student": {"id": f"student-{n['students'] // 3}", "name": "Lovelace"},
        "attempt": {"id": f"student-{n['students'] // 3}", "name": "Lovelace"},
        "result": {"id": _md5_uuid(f"result-{n['attempts'] // 2 + 1}"), "name": f"student-{n['students'] // 3}"},
        "delivery": {"id": _md5_uuid(f"delivery-{n['deliveries'] // 2}"), "name": "student-7"},
        "studentprogress": {"id": f"student-{n['students'] // 3}", "name": "Lovelace"},
        "enrollment": {"id": f"student-{n['students'] // 3}", "name": "Course 007"},
        "resultcorrection": {"id": _md5_uuid("result-21"), "name": "Re-marked"},
        "activity": {"id": "act-77", "name": "Lesson 77"},
        "course": {"id": "course-7", "name": "Course 007"},
        "syncstate": {"id": "roster", "name": "roster"},
    }


def _md5_uuid(text):
    import hashlib
    import uuid

    return str(uuid.UUID(hashlib.md5(text.encode()).hexdigest()))


def pages(client, n):
    """``[(name, url)]``: every page and operation timed, discovered from the admin's own changelists."""
    from django.contrib import admin
    from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, SEARCH_VAR
    from django.urls import reverse

    found = [("admin index", reverse("admin:index")),
             ("app index", reverse("admin:app_list", args=["timeback_progress"]))]
    terms = searches(n)
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda kv: kv[0]._meta.model_name):
        if model._meta.app_label != "timeback_progress":
            continue
        name = model._meta.model_name
        url = reverse(f"admin:timeback_progress_{name}_changelist")
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        cl = response.context["cl"]
        found.append((f"{name}: list", url))
        if cl.paginator.num_pages > 2:
            found.append((f"{name}: deep page", f"{url}?{PAGE_VAR}={cl.paginator.num_pages // 2}"))
        for i, field in enumerate(cl.list_display):
            if field == "action_checkbox" or (cl.sortable_by is not None and field not in cl.sortable_by):
                continue
            if cl.get_ordering_field(field) is None:
                continue
            for prefix in ("", "-"):
                found.append((f"{name}: sort {prefix}{field}", f"{url}?{ORDER_VAR}={prefix}{i}"))
        for spec in cl.filter_specs:
            choices = [c for c in spec.choices(cl) if not c.get("selected")][:2]
            for choice in choices:
                found.append((f"{name}: filter {spec.title} {choice['display']}", url + choice["query_string"]))
        if model_admin.search_fields or type(model_admin).get_search_results is not admin.ModelAdmin.get_search_results:
            for kind, term in terms.get(name, {}).items():
                found.append((f"{name}: search {kind}", f"{url}?{SEARCH_VAR}={term}"))
        row = model._default_manager.order_by("pk").values_list("pk", flat=True)[n["students"] // 3:][:1]
        pk = row[0] if row else model._default_manager.order_by("pk").values_list("pk", flat=True).first()
        if pk is not None:
            found.append((f"{name}: change form", reverse(f"admin:timeback_progress_{name}_change", args=[pk])))
    return found


def measure(client, found, runs):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    figures = {}
    for name, url in found:
        client.get(url)  # warm
        times, queries = [], 0
        for _ in range(runs):
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, url, response.status_code)
            queries = len(ctx)
        figures[name] = {"ms": round(statistics.median(times), 1), "queries": queries, "url": url}
        print(f"  {name:<58} {figures[name]['ms']:>9.1f} ms {queries:>4} q", file=sys.stderr, flush=True)
    return figures


def measure_health(runs):
    from timeback_progress.outbox.health import sync_health

    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        sync_health()
        times.append((time.perf_counter() - started) * 1000)
    return {"ms": round(statistics.median(times[1:]), 1), "queries": None, "url": "outbox.health.sync_health()"}


def run(scale, runs, base_url):
    with fresh_database(base_url) as url:
        setup_django(url)
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client

        started = time.perf_counter()
        n, timings = build(scale)
        built = round(time.perf_counter() - started, 1)
        user = get_user_model().objects.create_superuser("bench-admin", "admin@example.com", "x")
        client = Client()
        client.force_login(user)
        found = pages(client, n)
        figures = measure(client, found, runs)
        figures["sync health (function)"] = measure_health(runs)
        return {"vendor": connection.vendor, "sizes": n, "built_s": built, "tables": timings, "runs": runs,
                "pages": figures}


def report(result, before=None):
    n = result["sizes"]
    print(f"database: {result['vendor']}; {n['students']:,} students, {COURSES} courses, {n['attempts']:,} attempts"
          f" and results, {n['deliveries']:,} outbox rows; built in {result['built_s']} s; median of {result['runs']}")
    for table, (rows, seconds) in result["tables"].items():
        print(f"  {table:<18} {rows:>10,} rows {seconds:>7} s")
    old = (before or {}).get("pages", {})
    head = f"{'page':<60}" + (f"{'before ms':>10}{'q':>5}" if before else "") + f"{'ms':>10}{'q':>5}"
    print(head)
    slow = []
    for name, f in result["pages"].items():
        line = f"{name:<60}"
        if before:
            b = old.get(name)
            line += f"{b['ms']:>10.1f}{b['queries'] if b['queries'] is not None else '-':>5}" if b else f"{'-':>10}{'':>5}"
        line += f"{f['ms']:>10.1f}{f['queries'] if f['queries'] is not None else '-':>5}"
        if f["ms"] > TARGET_MS:
            line += "  SLOW"
            slow.append(name)
        print(line)
    if before:
        gone = [name for name in old if name not in result["pages"]]
        if gone:
            print("pages of the earlier run not offered now (sorts removed):", ", ".join(gone))
        was = sum(1 for f in old.values() if f["ms"] > TARGET_MS)
        print(f"before: {was} of {len(old)} over {TARGET_MS} ms")
    print(f"now: {len(slow)} of {len(result['pages'])} over {TARGET_MS} ms" + (": " + ", ".join(slow) if slow else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 50,000 students, 1M attempts, 3M outbox rows")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--save", help="write the figures to this JSON file")
    parser.add_argument("--before", help="an earlier run's JSON file, printed alongside")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith("postgres"):
        parser.error("DATABASE_URL must name a PostgreSQL database (a new one is made next to it)")
    result = run(args.scale, args.runs, base_url)
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1, default=str))
    report(result, json.loads(Path(args.before).read_text()) if args.before else None)


if __name__ == "__main__":
    main()
