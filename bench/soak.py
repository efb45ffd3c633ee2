"""Soak: the example project under sustained load, with Timeback failing around it.

    python bench/soak.py [--minutes 5] [--clients 50]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth), Redis on
127.0.0.1:6379 and the bench extra (``pip install -e ".[test,bench]"``:
gunicorn). It drops and recreates the database ``soak`` (``--database``) and
flushes one Redis database (``--redis-db``, default 13) and nothing else.

What runs, all on loopback:

- the example project (``project/``) under gunicorn, 4 sync workers, DEBUG off,
  prepared statements on (README, "Deployment at scale");
- two ``manage.py qcluster`` processes on the Redis broker (2 workers each);
- the sandbox (``manage.py timeback_sandbox``) answering 10% of requests with a
  5xx, 5% with a 429 and dropping 5% of connections, after 20-60 ms;
- 50 students, each a thread with its own API token, who start attempts, report
  the time that passed every few seconds, complete and read their progress; a
  service account that records attempts (``record`` and ``record/batch``); a
  teacher who reads a class list (``bench/soak_load.py``).

Halfway through, one qcluster is killed with SIGKILL (its whole process group:
sentinel and workers, mid-send if rows are being sent) and restarted 20 s later
(``--restart-after -1``: never). When the clients stop, the outbox drains
(``--drain-timeout``), then the script prints requests served, latency per
endpoint, the 5xx count, the outbox by status, and whether each student's XP,
mastered units and active/inactive time in the sandbox equal the app's
(``bench/soak_check.py``). It exits 1 on any 5xx, any dead, lost or undelivered
row, or any difference. Logs stay in the directory it prints.
"""

import argparse
import importlib.util
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import soak_check  # noqa: E402
import soak_load  # noqa: E402
import soak_report  # noqa: E402
from soak_procs import Proc, free_port, wait_port  # noqa: E402


def options(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0, help="how long the clients run (default 5)")
    p.add_argument("--clients", type=int, default=50, help="student clients, one user and token each")
    p.add_argument("--report-every", type=float, default=3.0, help="seconds between a student's time reports (x0.5-1.5)")
    p.add_argument("--recorders", type=int, default=2, help="service-account threads recording attempts")
    p.add_argument("--record-pause", type=float, default=1.0, help="seconds between a recorder's calls (x0.5-1.5)")
    p.add_argument("--gunicorn-workers", type=int, default=4)
    p.add_argument("--qclusters", type=int, default=2)
    p.add_argument("--q-workers", type=int, default=2, help="django-q2 workers per qcluster")
    p.add_argument("--fail-rate", type=float, default=0.10)
    p.add_argument("--throttle-rate", type=float, default=0.05)
    p.add_argument("--drop-rate", type=float, default=0.05)
    p.add_argument("--latency-ms", type=int, default=20)
    p.add_argument("--jitter-ms", type=int, default=40)
    p.add_argument("--kill-at", type=float, default=0.5, help="when to kill a qcluster, as a share of the run")
    p.add_argument("--restart-after", type=float, default=20.0, help="seconds until it is restarted (-1: never)")
    p.add_argument("--drain-timeout", type=float, default=1800.0,
                   help="seconds to wait for the outbox to drain (a row that failed n times waits ~2^n s)")
    p.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    p.add_argument("--database", default="soak", help="dropped and recreated on every run")
    p.add_argument("--redis", default="redis://127.0.0.1:6379")
    p.add_argument("--redis-db", type=int, default=13, help="flushed on every run (only this one)")
    p.add_argument("--no-prepared-statements", action="store_true")
    p.add_argument("--extra", default="{}", help="TIMEBACK_PROGRESS_EXTRA for the app, as JSON")
    p.add_argument("--seed", type=int, default=17)
    args = p.parse_args(argv)
    if (not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.database) or args.database in ("postgres", "template0", "template1")
            or args.database == "test" or args.database.startswith("test_")):
        p.error("--database must be a plain name of a database this script may drop (not a system or test database)")
    return args


def recreate_database(args):
    import psycopg

    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')


def flush_redis(args):
    import redis

    redis.from_url(f"{args.redis}/{args.redis_db}").flushdb()


def app_environment(args, sandbox_url, app_port, secret, log_dir):
    """The example project's environment: production-like, plain http on loopback."""
    static = Path(log_dir) / "static"  # the load reads no static file: an empty STATIC_ROOT, no warning
    static.mkdir()
    return {
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain http on loopback: no redirect to https, cookies not https-only (docs/deploy.md).
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SESSION_COOKIE_SECURE": "false",
        "DJANGO_CSRF_COOKIE_SECURE": "false",
        "DJANGO_STATIC_ROOT": str(static),
        "DATABASE_URL": f"{args.postgres}/{args.database}",
        "DATABASE_PREPARED_STATEMENTS": "false" if args.no_prepared_statements else "true",
        "REDIS_URL": f"{args.redis}/{args.redis_db}",
        "Q_WORKERS": str(args.q_workers),
        "TIMEBACK_PLATFORM": "timeback",
        "TIMEBACK_ENVIRONMENT": "staging",
        "TIMEBACK_AUTH_URL": sandbox_url, "TIMEBACK_CALIPER_URL": sandbox_url, "TIMEBACK_API_URL": sandbox_url,
        "TIMEBACK_CLIENT_ID": "soak-client",
        "TIMEBACK_CLIENT_SECRET": secret,
        "TIMEBACK_SENSOR": f"http://127.0.0.1:{app_port}",
        "TIMEBACK_SYNC_ENABLED": "true",
        "TIMEBACK_PROGRESS_EXTRA": args.extra,
        "PYTHONUNBUFFERED": "1",
    }


def make_people(args):
    """Two courses of eight activities; students with users, tokens and enrollments; a service account; a teacher."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token

    from timeback_progress.models import Activity, Course, Enrollment, Student

    User = get_user_model()
    activities = []
    courses = []
    for code, subject in (("math", "Math"), ("reading", "Reading")):
        course = Course.objects.create(sourced_id=f"soak-{code}", title=f"Soak {subject}", subject=subject,
                                       total_xp=8 * 25, masterable_units=8)
        courses.append(course)
        for i in range(8):
            activities.append(Activity.objects.create(
                activity_id=f"soak-{code}-{i + 1}", name=f"{subject} {i + 1}", course=course, subject=subject,
                app_name="Soak App", expected_xp=Decimal(10 + 5 * (i % 4)), masterable_units=1,
            ).activity_id)
    students = []
    for n in range(1, args.clients + 1):
        user = User.objects.create_user(f"soak-student-{n:03}")
        student = Student.objects.create(sourced_id=f"soak-student-{n:03}", email=f"soak{n:03}@example.com",
                                         given_name="Soak", family_name=f"Student {n:03}", user=user)
        Enrollment.objects.bulk_create(
            Enrollment(course=c, student=student, role=Enrollment.Role.STUDENT) for c in courses)
        students.append((student.sourced_id, Token.objects.create(user=user).key))
    service = User.objects.create_user("soak-service")
    service.user_permissions.add(Permission.objects.get(content_type__app_label="timeback_progress", codename="add_attempt"))
    teacher = User.objects.create_user("soak-teacher")
    Enrollment.objects.create(course=courses[0], user=teacher, role=Enrollment.Role.TEACHER)
    service_token = Token.objects.create(user=service).key
    return {
        "students": students, "activities": activities, "enrolled_activities": activities,
        "service_tokens": [service_token] * args.recorders, "service_pause": args.record_pause,
        "teacher_token": Token.objects.create(user=teacher).key, "teacher_course": courses[0].sourced_id,
    }


def gunicorn_argv(args, port, log_dir):
    """``gunicorn project.wsgi -w 4`` (docs/deploy.md), with an access log of each request's time in the worker."""
    from soak_report import ACCESS_FORMAT

    argv = [sys.executable, "-m", "gunicorn", "project.wsgi", "-w", str(args.gunicorn_workers),
            "-b", f"127.0.0.1:{port}", "--access-logfile", str(Path(log_dir) / "access.log"),
            "--access-logformat", ACCESS_FORMAT]
    helptext = subprocess.run([sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True).stdout
    if "--no-control-socket" in helptext:  # gunicorn >= 25 shares one control socket path per user otherwise
        argv.append("--no-control-socket")
    return argv


def warm_up(base_url, token, workers):
    """A few requests per worker before the clock starts (imports, first connection); not booked.

    ``attempts/0/`` is a 404 that runs authentication, the API's code paths and the database.
    """
    import requests

    def hit(_):
        return requests.get(f"{base_url}/api/v1/attempts/0/", headers={"Authorization": f"Token {token}"}, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hit, range(8 * workers)))


def start_cluster(n, env, log_dir):
    return Proc(f"qcluster-{n}", [sys.executable, "manage.py", "qcluster"], env=env, cwd=ROOT, log_dir=log_dir)


def kill_one_cluster(clusters, *, at, restart_after, env, log_dir, stop, notes):
    """At ``at`` (monotonic), SIGKILL qcluster 1 whole, preferably while rows are being sent; restart it later."""
    from django.db import connection

    from timeback_progress.models import Delivery

    if stop.wait(max(0.0, at - time.monotonic())):
        return
    try:
        in_flight = []
        for _ in range(100):  # up to 20 s for a moment with rows in flight (claimed by either cluster)
            in_flight = list(Delivery.objects.filter(status="sending").values_list("pk", flat=True))
            if in_flight or stop.wait(0.2):
                break
        victim = clusters[0]
        victim.kill()
        notes["kill"] = {"at": time.monotonic(), "wall": time.time(), "pid": victim.pid, "in_flight": in_flight}
        print(f"  SIGKILL qcluster-1 (pid {victim.pid}, whole group) with {len(in_flight)} rows in 'sending'", flush=True)
        if restart_after >= 0 and not stop.wait(restart_after):
            clusters[0] = start_cluster(1, env, log_dir)
            notes["restart"] = {"at": time.monotonic(), "pid": clusters[0].pid}
            print(f"  qcluster-1 restarted (pid {clusters[0].pid})", flush=True)
    finally:
        connection.close()


def drain(timeout):
    """Wait until nothing is pending, retrying or being sent and no time is held back; (seconds, drained)."""
    began, shown = time.monotonic(), 0.0
    while True:
        counts, unflushed = soak_check.outbox_counts(), soak_check.unflushed_attempts()
        waiting = sum(counts.get(s, 0) for s in ("pending", "retrying", "sending"))
        elapsed = time.monotonic() - began
        if waiting == 0 and unflushed == 0:
            return elapsed, True
        if elapsed > timeout:
            return elapsed, False
        if elapsed - shown >= 15:
            shown = elapsed
            print(f"  draining {elapsed:4.0f}s: {counts}, attempts with time not yet queued: {unflushed}", flush=True)
        time.sleep(2)


def main(argv=None):
    args = options(argv)
    if importlib.util.find_spec("gunicorn") is None:
        sys.exit('gunicorn is not installed: pip install -e ".[test,bench]"')
    try:
        recreate_database(args)
    except Exception as exc:  # noqa: BLE001 - any failure here means: no usable PostgreSQL
        sys.exit(f"cannot recreate database {args.database!r} on {args.postgres}: {exc}")
    try:
        flush_redis(args)
    except Exception as exc:  # noqa: BLE001
        sys.exit(f"cannot reach Redis at {args.redis}/{args.redis_db}: {exc}")
    log_dir = tempfile.mkdtemp(prefix="soak-")
    print(f"logs: {log_dir}", flush=True)
    app_port, sandbox_port = free_port(), free_port()
    sandbox_url, secret = f"http://127.0.0.1:{sandbox_port}", secrets.token_urlsafe(24)
    env = {**os.environ, **app_environment(args, sandbox_url, app_port, secret, log_dir)}
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    people = make_people(args)
    procs, clusters, stop, notes, load_done = [], [], threading.Event(), {}, threading.Event()
    try:
        procs.append(Proc("sandbox", [
            sys.executable, "manage.py", "timeback_sandbox", "--port", str(sandbox_port),
            "--client-id", "soak-client", f"--client-secret={secret}", "--fail-rate", str(args.fail_rate),
            "--throttle-rate", str(args.throttle_rate), "--drop-rate", str(args.drop_rate),
            "--latency-ms", str(args.latency_ms), "--jitter-ms", str(args.jitter_ms), "--seed", str(args.seed),
        ], env=env, cwd=ROOT, log_dir=log_dir))
        wait_port(sandbox_port, proc=procs[-1])
        gunicorn = Proc("gunicorn", gunicorn_argv(args, app_port, log_dir), env=env, cwd=ROOT, log_dir=log_dir)
        procs.append(gunicorn)
        wait_port(app_port, proc=gunicorn)
        warm_up(f"http://127.0.0.1:{app_port}", people["teacher_token"], args.gunicorn_workers)
        clusters.extend(start_cluster(n, env, log_dir) for n in range(1, args.qclusters + 1))
        time.sleep(2)
        print(f"running {args.clients} students, {args.recorders} recorders and a teacher for {args.minutes:g} min "
              f"against gunicorn ({args.gunicorn_workers} workers) on :{app_port}", flush=True)
        book = soak_load.Book()
        meter = soak_report.Meter(gunicorn, clusters, procs[0])
        pg = soak_report.PgSampler(load_done)
        pg.start()
        began = time.monotonic()
        threads = soak_load.run_clients(f"http://127.0.0.1:{app_port}", people, minutes=args.minutes,
                                        report_every=args.report_every, seed=args.seed, book=book, stop=stop)
        killer = threading.Thread(target=kill_one_cluster, args=(clusters,), daemon=True, kwargs={
            "at": began + args.kill_at * args.minutes * 60, "restart_after": args.restart_after, "env": env,
            "log_dir": log_dir, "stop": stop, "notes": notes})
        killer.start()
        while any(t.is_alive() for t in threads):
            time.sleep(5)
            meter.sample()
            if int(time.monotonic() - began) % 30 < 5:
                print(f"  {time.monotonic() - began:4.0f}s: {book.served()} requests, {book.done['attempts completed']} "
                      f"completed, {book.done['attempts recorded']} recorded, outbox {soak_check.outbox_counts()}",
                      flush=True)
        load_seconds = time.monotonic() - began
        load_done.set()
        killer.join(max(0.0, args.restart_after) + 30)
        meter.sample()
        print(f"clients done after {load_seconds:.0f}s; draining the outbox", flush=True)
        drained = drain(args.drain_timeout)
        sandbox = soak_check.sandbox_state(sandbox_url)
        failed = soak_report.report(args, book, load_seconds, drained, sandbox, notes, meter, pg, gunicorn, clusters)
    except KeyboardInterrupt:
        stop.set()
        failed = True
    finally:
        stop.set()
        load_done.set()
        for proc in [*clusters, *reversed(procs)]:
            proc.stop()
        print(f"logs: {log_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
