"""Real django-q2 ``qcluster`` processes for the delivery integration tests.

They share the test database (a file for SQLite, the test database on
PostgreSQL) and talk to a sandbox over loopback, exactly as in production.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url():
    cfg = connection.settings_dict
    if connection.vendor == "sqlite":
        name = cfg["NAME"]
        if "memory" in str(name):
            pytest.skip("the test database is in memory; qcluster processes cannot share it")
        return f"sqlite:///{name}"
    if connection.vendor == "postgresql":
        return f"postgres://{cfg['USER']}@{cfg['HOST'] or '127.0.0.1'}:{cfg['PORT'] or 5432}/{cfg['NAME']}"
    pytest.skip(f"no qcluster integration for {connection.vendor}")


class Cluster:
    def __init__(self, proc, log):
        self.proc, self.log = proc, log

    def kill(self):
        """SIGKILL the whole cluster (sentinel, workers, monitor): no cleanup at all."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        """SIGTERM to the main process only, which stops its sentinel and workers in about a
        second (sent to the whole group it ran into the 15 s timeout every time), then mop up."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything left behind
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def output(self):
        return Path(self.log).read_text(errors="replace")[-4000:]


@pytest.fixture
def cluster_factory(tmp_path):
    clusters = []

    def start(sandbox, *, workers=1, redis_url=None, extra=None, name="c"):
        from tests.plugins.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "tests.process_settings",
            "TIMEBACK_AUTH_URL": sandbox.url,
            "TIMEBACK_CALIPER_URL": sandbox.url,
            "TIMEBACK_API_URL": sandbox.url,
            "TIMEBACK_CLIENT_ID": SANDBOX_CLIENT_ID,
            "TIMEBACK_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
            "TIMEBACK_SYNC_ENABLED": "true",
            "TIMEBACK_PROGRESS_EXTRA": json.dumps(extra or {}),
            "Q_WORKERS": str(workers),
            "REDIS_URL": redis_url or "",
            "PYTHONUNBUFFERED": "1",
        }
        log = tmp_path / f"qcluster-{name}-{len(clusters)}.log"
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT, env=env, start_new_session=True,
            stdout=open(log, "wb"), stderr=subprocess.STDOUT,
        )
        cluster = Cluster(proc, log)
        clusters.append(cluster)
        return cluster

    yield start
    for cluster in clusters:
        cluster.stop()


def wait_for(predicate, timeout=90, interval=0.2, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
