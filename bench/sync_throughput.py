"""Outbox throughput: the app's pipeline vs. the one-POST-per-event sender.

    python bench/sync_throughput.py [--attempts 5000] [--latency-ms 20] [--naive-sample 400]

Builds N completed attempts through the real signal path (SQLite file by
default; set DATABASE_URL for PostgreSQL), starts the sandbox as a separate
process with a fixed latency per request, then measures in one run:

- naive: what Timeback's code samples do, one POST per event (and one PUT per
  result), one request at a time, on a sample of the backlog;
- pipeline: ``outbox.sending.deliver_due()`` as one django-q2 worker runs it.

Prints events/s for both and the ratio, and peak memory. ``--memory-backlog``
also shows that peak memory stays flat as the pending backlog grows.
"""

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=5000)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--naive-sample", type=int, default=400, help="events the naive sender sends (it is slow)")
    parser.add_argument("--memory-backlog", type=int, nargs="*", default=[20_000, 100_000],
                        help="pending backlogs to compare peak memory at (0 to skip)")
    args = parser.parse_args()

    db_dir = tempfile.mkdtemp(prefix="tbp-bench-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{db_dir}/bench.sqlite3")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The example project wants a SECRET_KEY with DEBUG off and redirects plain http;
    # these runs are in-process on loopback (the test client speaks http).
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "TIMEBACK_AUTH_URL": url, "TIMEBACK_CALIPER_URL": url, "TIMEBACK_API_URL": url,
        "TIMEBACK_CLIENT_ID": "bench-client", "TIMEBACK_CLIENT_SECRET": "bench-secret-0000",
        "TIMEBACK_SYNC_ENABLED": "false",
    })
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import override_settings

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")

    sandbox = subprocess.Popen(
        [sys.executable, "manage.py", "timeback_sandbox", "--port", str(port), "--latency-ms", str(args.latency_ms),
         "--client-id", "bench-client", "--client-secret", "bench-secret-0000"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        run(args, url, transaction, override_settings)
    finally:
        sandbox.terminate()
        sandbox.wait(10)


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the sandbox did not start")


def build_backlog(n, transaction):
    from decimal import Decimal

    from timeback_progress.gradebook import attempts
    from timeback_progress.models import Activity, Course, Student

    course = Course.objects.create(sourced_id="bench-course", title="Bench", subject="Math", total_xp=1000)
    activities = [
        Activity.objects.create(activity_id=f"bench-{i}", name=f"Bench {i}", course=course, subject="Math",
                                app_name="Bench", expected_xp=Decimal(10))
        for i in range(20)
    ]
    students = Student.objects.bulk_create(
        [Student(sourced_id=f"bench-student-{i}", email=f"s{i}@example.com") for i in range(max(1, n // 20))]
    )
    started = time.perf_counter()
    with transaction.atomic():
        for i in range(n):
            attempts.record_attempt(students[i // 20], activities[i % 20], total_questions=10,
                                    correct_questions=8 + i % 3, active_seconds=300, inactive_seconds=30)
    return time.perf_counter() - started


def naive(url, sample):
    """One POST per event and one PUT per result, one at a time (the vendor's samples)."""
    import requests

    from timeback_progress.models import Delivery
    from timeback_progress.timeback import caliper, gradebook

    session = requests.Session()
    token = session.post(f"{url}/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": "bench-client", "client_secret": "bench-secret-0000"
    }).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    events = list(Delivery.objects.filter(kind="caliper_event").order_by("id").values_list("payload", flat=True)[:sample])
    started = time.perf_counter()
    for event in events:
        session.post(f"{url}/ims/caliper/v1p2/events", json=caliper.envelope([event]), headers=headers).raise_for_status()
    event_rate = len(events) / (time.perf_counter() - started)
    from timeback_progress.models import Activity

    def upsert(collection, sourced_id, body):
        """The vendor's upsert: PUT, and POST to the collection when the PUT says 404."""
        base = f"{url}/ims/oneroster/gradebook/v1p2/{collection}"
        response = session.put(f"{base}/{sourced_id}", json=body, headers=headers)
        if response.status_code == 404:
            response = session.post(base, json=body, headers=headers)
        response.raise_for_status()

    for activity in Activity.objects.select_related("course"):  # results refer to their line items
        upsert("assessmentLineItems", activity.line_item_sourced_id, gradebook.line_item_body(activity))
    rows = Delivery.objects.filter(kind="result").select_related("result__student")[: max(1, sample // 4)]
    started = time.perf_counter()
    for row in rows:
        upsert("assessmentResults", row.result.sourced_id, gradebook.result_body(row.result))
    result_rate = len(rows) / (time.perf_counter() - started)
    return event_rate, result_rate


def pipeline(override_settings):
    """Time ``deliver_due`` on the whole backlog, then on the events alone (the naive sender's work)."""
    from django.utils import timezone

    from timeback_progress.outbox import sending
    from timeback_progress.models import Delivery

    events = Delivery.objects.filter(kind="caliper_event").count()
    items = Delivery.objects.count()
    with override_settings(TIMEBACK_PROGRESS={**_settings(), "SYNC_ENABLED": True}):
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            cProfile.runctx("sending.deliver_due()", globals(), {"sending": sending}, os.environ["BENCH_PROFILE"])
            Delivery.objects.update(status="pending")
        started = time.perf_counter()
        summary = sending.deliver_due()  # timed without tracemalloc, which slows Python down
        end_to_end = time.perf_counter() - started
        assert summary.dead == 0 and summary.retrying == 0, summary.as_dict()
        assert not Delivery.objects.exclude(status="sent").exists()
        # The same events again (the sandbox answers duplicates like new ones).
        Delivery.objects.filter(kind="caliper_event").update(status="pending", next_attempt_at=timezone.now())
        started = time.perf_counter()
        events_summary = sending.deliver_due()
        events_only = time.perf_counter() - started
    return {
        "events": events, "items": items, "end_to_end": end_to_end, "events_only": events_only,
        "requests": summary.requests, "event_requests": events_summary.requests, "rss": max_rss_mb(),
    }


def max_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _settings():
    from django.conf import settings

    return dict(settings.TIMEBACK_PROGRESS)


def memory(backlogs, override_settings):
    """Peak memory of delivering 2,000 rows from a backlog of each size (fake payloads, sandbox accepts)."""
    from timeback_progress.outbox import sending
    from timeback_progress.models import Delivery

    template = Delivery.objects.filter(kind="caliper_event").first().payload
    out = []
    for size in backlogs:
        Delivery.objects.all().delete()
        batch = []
        for i in range(size):
            payload = dict(template, id=f"urn:uuid:{__import__('uuid').uuid4()}")
            batch.append(Delivery(kind="caliper_event", key=payload["id"], payload=payload))
            if len(batch) == 5000:
                Delivery.objects.bulk_create(batch)
                batch = []
        Delivery.objects.bulk_create(batch)
        with override_settings(TIMEBACK_PROGRESS={**_settings(), "SYNC_ENABLED": True}):
            tracemalloc.start()
            sending.deliver_due(limit=2000)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        out.append((size, peak))
    return out


def run(args, url, transaction, override_settings):
    setup = build_backlog(args.attempts, transaction)
    from timeback_progress.models import Delivery

    events = Delivery.objects.filter(kind="caliper_event").count()
    print(f"backlog: {args.attempts} completed attempts -> {events} events, "
          f"{Delivery.objects.filter(kind='result').count()} results, "
          f"{Delivery.objects.filter(kind='line_item').count()} line items (built in {setup:.1f} s, "
          f"{args.attempts / setup:.0f} completions/s)")
    print(f"sandbox latency: {args.latency_ms} ms per request; batch size {__import__('timeback_progress.conf').conf.app_settings.BATCH_SIZE}")
    naive_events, naive_results = naive(url, args.naive_sample)
    print(f"naive (1 POST per event, sequential, sample of {args.naive_sample}): {naive_events:,.0f} events/s, "
          f"{naive_results:,.0f} results/s")
    p = pipeline(override_settings)
    from timeback_progress.conf import app_settings

    concurrency = app_settings.SEND_CONCURRENCY
    print(f"pipeline, events only (the naive sender's work): {p['events'] / p['events_only']:,.0f} events/s "
          f"({p['events']} events in {p['event_requests']} requests, {p['events_only']:.2f} s)")
    print(f"pipeline, end to end (events + results + line items, one worker, concurrency {concurrency}): "
          f"{p['events'] / p['end_to_end']:,.0f} events/s, {p['items'] / p['end_to_end']:,.0f} items/s "
          f"({p['items']} items in {p['requests']} requests, {p['end_to_end']:.2f} s); process peak RSS {p['rss'] / 1e6:.0f} MB")
    print(f"ratio pipeline / naive, events/s: {p['events'] / p['events_only'] / naive_events:.1f}x events only, "
          f"{p['events'] / p['end_to_end'] / naive_events:.1f}x end to end")
    backlogs = [b for b in args.memory_backlog if b > 0]
    if backlogs:
        rows = memory(backlogs, override_settings)
        print("peak memory delivering 2,000 rows from a backlog of " + ", ".join(
            f"{size:,}: {peak / 1e6:.1f} MB" for size, peak in rows))


if __name__ == "__main__":
    main()
