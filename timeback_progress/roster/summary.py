"""What one roster import did, kept in ``SyncState("roster")`` and shown by the command and the admin."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from ..timeback.formats import isoformat

OUTCOMES = ("created", "updated", "deactivated", "unchanged", "skipped")
STORED_SKIPS = 200  # skipped records kept in SyncState.last_summary (all are counted)
STORED_WARNINGS = 200  # likewise for records written with a warning


@dataclass
class Summary:
    """What a run did, per kind: created, updated, deactivated, unchanged, skipped."""

    mode: str = "full"
    since: datetime | None = None
    dry_run: bool = False
    counts: dict = field(default_factory=lambda: defaultdict(Counter))
    skipped: list = field(default_factory=list)
    warnings: Counter = field(default_factory=Counter)  # what -> records written with that warning
    warned: list = field(default_factory=list)
    unmatched_teachers: dict = field(default_factory=dict)
    teachers_seen: int = 0
    users_ignored: Counter = field(default_factory=Counter)
    enrollments_ignored: Counter = field(default_factory=Counter)
    high_water_mark: datetime | None = None
    error: str = ""

    def count(self, kind, outcome, n=1):
        self.counts[kind][outcome] += n

    def skip(self, kind, sourced_id, reason):
        self.count(kind, "skipped")
        self.skipped.append({"kind": kind, "sourcedId": sourced_id, "reason": reason})

    def warn(self, kind, sourced_id, what, message):
        """A record written, with something to fix at the source (``what``: a short code, counted)."""
        self.warnings[what] += 1
        if len(self.warned) < STORED_WARNINGS:
            self.warned.append({"kind": kind, "sourcedId": sourced_id, "warning": what, "message": message})

    def total(self, outcome):
        return sum(c[outcome] for c in self.counts.values())

    @property
    def changed(self):
        return sum(self.total(o) for o in ("created", "updated", "deactivated"))

    def as_dict(self):
        return {
            "mode": self.mode,
            "since": isoformat(self.since) if self.since else None,
            "dry_run": self.dry_run,
            "counts": {kind: {o: c[o] for o in OUTCOMES} for kind, c in self.counts.items()},
            "totals": {o: self.total(o) for o in OUTCOMES},
            "skipped": self.skipped[:STORED_SKIPS],
            "warnings": dict(self.warnings),
            "warned": self.warned,
            "teachers_seen": self.teachers_seen,
            "unmatched_teachers": self.unmatched_teachers,
            "users_ignored": dict(self.users_ignored),
            "enrollments_ignored": dict(self.enrollments_ignored),
            "high_water_mark": isoformat(self.high_water_mark) if self.high_water_mark else None,
            **({"error": self.error} if self.error else {}),
        }
