"""Processes for bench/soak.py: start, wait for, kill and stop them; count their CPU time.

Each process runs in a session of its own, so a SIGKILL to its process group
takes it down whole (a qcluster's sentinel, pusher, monitor and workers), as a
crashed host would, with no cleanup.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.poll()} before listening; see {proc.log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


class Proc:
    """A child process with its own session and a log file."""

    def __init__(self, name, argv, *, env, cwd, log_dir):
        self.name, self.argv, self.env, self.cwd = name, argv, env, cwd
        self.log = Path(log_dir) / f"{name}.log"
        self.popen = None
        self.start()

    def start(self):
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, start_new_session=True,
                                          stdout=out, stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self):
        return self.popen.pid

    def poll(self):
        return self.popen.poll()

    def kill(self):
        """SIGKILL the whole process group: no handler runs, nothing is cleaned up."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, grace=15.0):
        """SIGTERM to the main process (its own shutdown), then SIGKILL whatever of the group is left."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)

    def log_lines(self, needle):
        try:
            return [line for line in self.log.read_text(errors="replace").splitlines() if needle in line]
        except FileNotFoundError:
            return []


def _stat(pid):
    """(ppid, cpu seconds of the process itself) from /proc, or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def process_table():
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (row := _stat(int(entry))) is not None:
            table[int(entry)] = row
    return table


def descendants(table, roots):
    """The pids under ``roots`` (pids) in ``table`` (``process_table()``), the roots included."""
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, []))
    return seen


def machine_busy():
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def loadavg():
    return float(Path("/proc/loadavg").read_text().split()[0])
