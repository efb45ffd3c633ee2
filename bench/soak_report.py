"""What bench/soak.py prints at the end, and the CPU meter behind its "where the time went" lines."""

import os
import re
import threading
from collections import Counter

import soak_check
from soak_load import percentile
from soak_procs import descendants, loadavg, machine_busy, process_table

ENDPOINTS = ("start", "time", "complete", "progress", "record", "record/batch", "course students")
# gunicorn's access log, written with ACCESS_FORMAT: which endpoint a path is.
ACCESS_FORMAT = "%(m)s %(U)s %(s)s %(D)s"
PATHS = [(name, re.compile(f"^/api/v1/{pattern}$")) for name, pattern in (
    ("start", r"attempts/"), ("record", r"attempts/record/"), ("record/batch", r"attempts/record/batch/"),
    ("time", r"attempts/\d+/time/"), ("complete", r"attempts/\d+/complete/"),
    ("progress", r"students/[^/]+/progress/"), ("course students", r"courses/[^/]+/students/"),
)]


def worker_times(access_log):
    """Seconds each request spent inside a gunicorn worker, per endpoint (queueing for a worker excluded)."""
    times = {}
    try:
        lines = access_log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return times
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or not parts[3].isdigit():
            continue
        for name, pattern in PATHS:
            if pattern.match(parts[1]):
                times.setdefault(name, []).append(int(parts[3]) / 1e6)
                break
    return times


class Meter:
    """CPU seconds per part of the system over the load, from /proc, sampled every few seconds.

    A process is counted from the first sample that sees it to the last: a
    process that dies between samples loses at most one interval (a killed
    qcluster, a PostgreSQL backend that reconnects when CONN_MAX_AGE runs out).
    """

    def __init__(self, gunicorn, clusters, sandbox):
        # The servers are this script's children: the script itself is counted alone.
        self.roots = {"gunicorn": lambda: [gunicorn.pid], "qclusters": lambda: [c.pid for c in clusters],
                      "sandbox": lambda: [sandbox.pid]}
        self.first, self.last, self.loads = {}, {}, []
        self.busy_start = machine_busy()
        self.sample()

    def postgres_backends(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            return [pid for (pid,) in cursor.fetchall()]

    def sample(self):
        table = process_table()
        groups = {name: descendants(table, roots()) for name, roots in self.roots.items()}
        groups["clients + this script"] = {os.getpid()}
        groups["postgres (this database)"] = {pid for pid in self.postgres_backends() if pid in table}
        for name, pids in groups.items():
            for pid in pids:
                self.first.setdefault((name, pid), table[pid][1])
                self.last[(name, pid)] = table[pid][1]
        self.loads.append(loadavg())
        self.busy_end = machine_busy()

    def cpu(self):
        used = {}
        for (name, pid), seconds in self.last.items():
            used[name] = used.get(name, 0.0) + seconds - self.first[(name, pid)]
        return used

    def machine_share(self):
        """Share of the machine's CPU time that was busy over the load (all processes, ours or not)."""
        busy = self.busy_end[0] - self.busy_start[0]
        total = self.busy_end[1] - self.busy_start[1]
        return busy / total if total else 0.0, total / os.sysconf("SC_CLK_TCK") / (os.cpu_count() or 1)


class PgSampler(threading.Thread):
    """What this database's PostgreSQL backends are doing, five times a second.

    pg_stat_statements needs a server restart to load, which a shared server
    may not get; pg_stat_activity needs nothing. A backend is either running a
    statement (on CPU, or waiting: for a row lock held by another transaction,
    for the WAL to reach the disk, ...) or idle inside a transaction while the
    app's Python works with its locks held.
    """

    def __init__(self, stop):
        super().__init__(daemon=True)
        self.stop, self.seen, self.samples = stop, Counter(), 0

    def run(self):
        from django.db import connection

        try:
            while not self.stop.wait(0.2):
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = "
                        "current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
                    rows = cursor.fetchall()
                self.samples += 1
                for state, kind, event in rows:
                    if state == "active":
                        self.seen["running: on CPU" if kind is None else f"running, waiting: {kind}/{event}"] += 1
                    elif state and state.startswith("idle in transaction"):
                        self.seen["idle in transaction (the app works, locks held)"] += 1
        finally:
            connection.close()

    def lines(self):
        busy = sum(self.seen.values())
        if not busy:
            return []
        head = (f"PostgreSQL backends of this database, {self.samples} samples: on average {busy / self.samples:.1f} "
                "busy (in a statement or a transaction), of which:")
        return [head] + [f"  {n / busy:5.1%} {what}" for what, n in self.seen.most_common(8)]


def ms(seconds):
    return f"{seconds * 1000:7.0f}"


def latency_table(book, inside):
    """Per endpoint: answers by status, latency seen by the clients, and time inside a worker (p50/p95)."""
    lines = [f"  {'endpoint':16} {'answers':>7} {'2xx':>6} {'4xx':>5} {'429':>4} {'5xx':>4} {'conn':>4} "
             f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} | in worker: {'p50':>5} {'p95':>7}"]
    names = [e for e in ENDPOINTS if e in book.latency] + sorted(set(book.latency) - set(ENDPOINTS))
    for name in names:
        codes, values = book.statuses[name], book.latency[name]

        def count(test, codes=codes):
            return sum(n for code, n in codes.items() if test(code))

        lines.append(
            f"  {name:16} {len(values):7} {count(lambda c: c < 300):6} {count(lambda c: 400 <= c < 500 and c != 429):5} "
            f"{codes.get(429, 0):4} {count(lambda c: c >= 500):4} {sum(book.failures[name].values()):4} "
            f"{ms(percentile(values, .5))} {ms(percentile(values, .95))} {ms(percentile(values, .99))} {ms(max(values))} |"
            f"          {ms(percentile(inside.get(name, []), .5))[2:]} {ms(percentile(inside.get(name, []), .95))}")
    return lines


def report(args, book, load_seconds, drained, sandbox, notes, meter, pg, gunicorn, clusters):
    """Print everything; True if the run failed (a 5xx, a dead/lost/undelivered row, a difference)."""
    failures = []
    served, five = book.served(), book.status_total(lambda c: c >= 500)
    refused = book.status_total(lambda c: 400 <= c < 500 and c != 429)
    conn = sum(sum(c.values()) for c in book.failures.values())
    print("\n=== soak report")
    print(f"setup: {args.clients} students, {args.recorders} service-account recorders, 1 teacher; "
          f"{args.minutes:g} min; gunicorn {args.gunicorn_workers} sync workers; {args.qclusters} qclusters x "
          f"{args.q_workers} workers, Redis db {args.redis_db}; PostgreSQL database {args.database}; prepared "
          f"statements {'off' if args.no_prepared_statements else 'on'}")
    print(f"sandbox faults: {args.fail_rate:.0%} 5xx, {args.throttle_rate:.0%} 429, {args.drop_rate:.0%} dropped "
          f"connections, latency {args.latency_ms}+0..{args.jitter_ms} ms")
    share, seconds = meter.machine_share()
    print(f"machine: {os.cpu_count()} cores, {share:.0%} busy over the load (every process on it), load average "
          f"{min(meter.loads):.1f}-{max(meter.loads):.1f}")
    cpu = meter.cpu()
    print("CPU seconds over the load: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
          + f" (of {seconds * (os.cpu_count() or 1):.0f} available)")
    for line in pg.lines():
        print(line)
    print(f"\nrequests served: {served} in {load_seconds:.0f}s ({served / load_seconds:.1f}/s); 5xx: {five}; "
          f"refused (4xx other than 429): {refused}; throttled (429): {book.status_total(lambda c: c == 429)}; "
          f"connection failures: {conn}")
    print("clients: " + ", ".join(f"{k} {v}" for k, v in sorted(book.done.items())))
    print("\n".join(latency_table(book, worker_times(gunicorn.log.with_name("access.log")))))
    for endpoint, status, body in book.examples[:5]:
        print(f"  e.g. {endpoint} -> {status}: {body[:200]}")
    errors = gunicorn.log_lines("Internal Server Error") + gunicorn.log_lines("WORKER TIMEOUT")
    print(f"gunicorn log: {len(errors)} server errors / worker timeouts" + (f", first: {errors[0][:200]}" if errors else ""))
    if five or errors:
        failures.append(f"{five} 5xx answers, {len(errors)} server errors in gunicorn's log")
    if refused or conn:
        failures.append(f"{refused} refused requests and {conn} connection failures the load should not get")

    kill = notes.get("kill")
    if kill:
        restart = notes.get("restart")
        print(f"\nworker kill: qcluster-1 (pid {kill['pid']}) and its whole process group SIGKILLed with "
              f"{len(kill['in_flight'])} rows in 'sending' (claimed by either cluster), "
              + (f"restarted {restart['at'] - kill['at']:.0f}s later (pid {restart['pid']})" if restart else "not restarted"))
        print("  those rows now: " + soak_check.rows_since(kill["in_flight"], kill["wall"]))
    else:
        print("\nworker kill: did not happen (the run ended first)")
    tracebacks = sum(len(c.log_lines("Traceback")) for c in clusters)
    print(f"qcluster logs: {tracebacks} tracebacks")

    elapsed, done = drained
    counts = soak_check.outbox_counts()
    print(f"\noutbox {'drained' if done else 'NOT drained'} {elapsed:.0f}s after the load: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for kind, tries in soak_check.tries_by_kind().items():
        print(f"  tries per {kind} row: " + ", ".join(f"{k}: {v}" for k, v in tries.items()))
    dead, held = counts.get("dead", 0), counts.get("held", 0)
    waiting = sum(counts.get(s, 0) for s in ("pending", "retrying", "sending"))
    print(f"dead: {dead}, held: {held}, still pending/retrying/sending: {waiting}")
    for kind, key, error in soak_check.dead_examples():
        print(f"  dead {kind} {key}: {error[:200]}")
    if dead or waiting or not done:
        failures.append(f"outbox: {dead} dead, {waiting} not delivered")
    stats = sandbox["stats"]
    print(f"sandbox: {stats['received']} requests received, {stats['faults']} faults injected, {stats['events_stored']} "
          f"events, {stats['results_stored']} results, {stats['line_items_stored']} line items stored, "
          f"{stats['duplicates']} duplicate events (same id, counted once), {stats['rejected']} rejected, "
          f"{stats['tokens_issued']} tokens issued")
    if stats["rejected"]:
        failures.append(f"the sandbox rejected {stats['rejected']} requests as invalid")
    lost, missing = soak_check.lost_rows(sandbox)
    wrong_results = soak_check.results_differ(sandbox)
    print(f"lost (recorded sent, never received): {len(lost)}; not delivered: {len(missing)}; results whose last "
          f"body differs from the app's: {len(wrong_results)} of {len(sandbox['results'])}")
    if lost or missing or wrong_results:
        failures.append(f"{len(lost)} lost, {len(missing)} undelivered rows, {len(wrong_results)} results differ")

    timeback = soak_check.timeback_sums(sandbox["events"])
    progress, attempts = soak_check.app_sums()
    compared, differences = soak_check.compare_sums(timeback, progress, attempts)
    t, p, a = soak_check.totals(timeback), soak_check.totals(progress), soak_check.totals(attempts)
    print(f"\nper-student sums, sandbox (Timeback's reading of the events) = StudentProgress = attempts, "
          f"{compared} students:")
    for i, name in enumerate(soak_check.FIGURES):
        print(f"  {name:15} {t[i]!s:>14} {p[i]!s:>14} {a[i]!s:>14}")
    print(f"students whose figures differ: {len({d[0] for d in differences})}")
    for actor, figure, *values in differences[:10]:
        print(f"  {actor} {figure}: sandbox {values[0]}, progress {values[1]}, attempts {values[2]}")
    if differences:
        failures.append(f"{len(differences)} per-student figures differ")

    print("\nverdict: " + ("FAIL: " + "; ".join(failures) if failures else
                           "PASS: 0 5xx, 0 dead, 0 lost, every sum equal"))
    return bool(failures)
