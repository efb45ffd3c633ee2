"""What the sandbox holds: issued tokens, accepted payloads, counters and faults.

Everything is in memory behind one lock; the HTTP handler threads share it.
"""

import copy
import random
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, fields

from .rostering import load_roster

FAULT_ENDPOINTS = ("caliper", "gradebook", "rostering")


@dataclass
class Faults:
    """Fault injection settings; change them at run time with ``POST /_sandbox/faults``."""

    fail_rate: float = 0.0  # share of requests answered 500/502/503
    throttle_rate: float = 0.0  # share of requests answered 429
    rate_limit: float = 0.0  # max requests per second per endpoint kind (0: no limit), 429 beyond
    retry_after: int = 1  # Retry-After seconds on a 429 (and on a 503)
    drop_rate: float = 0.0  # share of connections closed without any response
    latency_ms: int = 0  # added to every response
    jitter_ms: int = 0  # plus a random 0..jitter_ms
    token_ttl: int = 3600  # expires_in announced by the token endpoint
    token_lifetime: int | None = None  # real lifetime (< token_ttl: tokens expire early)
    put_creates: bool = False  # a PUT for an unknown sourcedId creates it (else 404, as Timeback may)
    endpoints: list = field(default_factory=lambda: list(FAULT_ENDPOINTS))  # where random faults apply
    seed: int | None = None
    # Forced outcomes for the next requests, in order: {"status": 503, "retry_after": 2},
    # {"drop": true}, {"delay_ms": 1500}, each with an optional "endpoint" to match.
    queue: list = field(default_factory=list)

    def update(self, values):
        """Apply ``values`` (a dict); raises ValueError naming a bad key or value."""
        known = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown fault setting {key!r}; known: {sorted(known)}")
            if key in ("fail_rate", "throttle_rate", "drop_rate"):
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                    raise ValueError(f"{key} must be a number between 0 and 1")
            elif key in ("retry_after", "latency_ms", "jitter_ms", "token_ttl"):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{key} must be an integer >= 0")
            elif key == "rate_limit":
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    raise ValueError("rate_limit must be a number >= 0")
            elif key == "token_lifetime":
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                    raise ValueError("token_lifetime must be an integer >= 0 or null")
            elif key == "put_creates":
                if not isinstance(value, bool):
                    raise ValueError("put_creates must be true or false")
            elif key == "endpoints":
                if not isinstance(value, list) or not set(value) <= set(FAULT_ENDPOINTS) | {"token"}:
                    raise ValueError(f"endpoints must be a list drawn from {[*FAULT_ENDPOINTS, 'token']}")
            elif key == "queue":
                if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                    raise ValueError("queue must be a list of objects")
        for key, value in values.items():
            setattr(self, key, copy.deepcopy(value))

    def as_dict(self):
        return asdict(self)


class SandboxState:
    """Shared, lock-protected state of one sandbox server."""

    def __init__(self, *, client_id="sandbox-client", client_secret="sandbox-secret", faults=None, platform="timeback"):
        self.client_id = client_id
        self._client_secret = client_secret
        # Whose paths and token scope to serve (platforms.PLATFORMS); fixed for the server's life.
        self.platform = platform
        self.lock = threading.RLock()
        self.faults = Faults()
        if faults:
            self.faults.update(faults)
        self.random = random.Random(self.faults.seed)
        self.roster = {"users": {}, "courses": {}, "classes": {}, "enrollments": {}}  # seeded; reset() keeps it
        self.reset()

    def __repr__(self):
        return f"<SandboxState client_id={self.client_id!r} platform={self.platform!r}>"

    def reset(self):
        """Forget everything received (faults and credentials stay)."""
        with self.lock:
            self.tokens = {}  # token -> expires at (monotonic)
            self.events = {}  # event id -> event, in arrival order
            self.envelopes = deque(maxlen=200)  # envelope headers (sensor, sendTime, count)
            self.line_items = {}
            self.results = {}
            self.rejections = deque(maxlen=200)
            self.stats = Counter()
            self.endpoint_stats = {}
            self.user_agents = Counter()
            self._windows = {}
            self.random = random.Random(self.faults.seed)

    def seed_roster(self, data, *, merge=False):
        """Serve ``data`` (``{"users": [...], "courses": [...], ...}``) as the OneRoster
        roster; ``merge`` adds to / replaces records in what is there. Raises ValueError."""
        with self.lock:
            self.roster = load_roster(data, into=copy.deepcopy(self.roster) if merge else None)
            return {name: len(records) for name, records in self.roster.items()}

    # -- tokens ----------------------------------------------------------

    def check_credentials(self, client_id, client_secret):
        return secrets.compare_digest(client_id or "", self.client_id) and secrets.compare_digest(
            client_secret or "", self._client_secret
        )

    def issue_token(self):
        with self.lock:
            token = secrets.token_urlsafe(32)
            lifetime = self.faults.token_lifetime
            lifetime = self.faults.token_ttl if lifetime is None else min(lifetime, self.faults.token_ttl)
            self.tokens[token] = time.monotonic() + lifetime
            self.count("token", "issued")
            return token, self.faults.token_ttl

    def token_valid(self, token):
        with self.lock:
            expires = self.tokens.get(token)
            return expires is not None and time.monotonic() < expires

    def expire_tokens(self):
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = 0.0

    # -- counters --------------------------------------------------------

    def count(self, endpoint, what, n=1):
        with self.lock:
            self.stats[what] += n
            self.endpoint_stats.setdefault(endpoint, Counter())[what] += n

    def snapshot_stats(self):
        with self.lock:
            return {
                **{k: self.stats.get(k, 0) for k in ("received", "accepted", "duplicates", "rejected", "faults")},
                "conflicting_duplicates": self.stats.get("conflicting_duplicates", 0),
                "events_stored": len(self.events),
                "line_items_stored": len(self.line_items),
                "results_stored": len(self.results),
                "tokens_issued": self.stats.get("issued", 0),
                "endpoints": {name: dict(c) for name, c in sorted(self.endpoint_stats.items())},
                "user_agents": dict(self.user_agents),
            }

    def reject(self, endpoint, method, path, problems, body=None):
        with self.lock:
            self.count(endpoint, "rejected")
            self.rejections.append({"endpoint": endpoint, "method": method, "path": path, "problems": list(problems)[:50],
                                    "body": body})

    # -- faults ----------------------------------------------------------

    def pick_fault(self, endpoint):
        """The fault to inject for this request, or None: queued first, then random."""
        with self.lock:
            f = self.faults
            for i, forced in enumerate(f.queue):
                if forced.get("endpoint") in (None, endpoint):
                    del f.queue[i]
                    return dict(forced)
            if endpoint not in f.endpoints:
                return None
            if f.rate_limit and self._over_rate(endpoint, f.rate_limit):
                return {"status": 429, "retry_after": f.retry_after}
            roll = self.random.random()
            if roll < f.drop_rate:
                return {"drop": True}
            roll -= f.drop_rate
            if roll < f.throttle_rate:
                return {"status": 429, "retry_after": f.retry_after}
            roll -= f.throttle_rate
            if roll < f.fail_rate:
                return {"status": self.random.choice((500, 502, 503))}
            return None

    def _over_rate(self, endpoint, per_second):
        now = time.monotonic()
        start, used = self._windows.get(endpoint, (now, 0))
        if now - start >= 1.0:
            start, used = now, 0
        used += 1
        self._windows[endpoint] = (start, used)
        return used > per_second

    def delay_seconds(self):
        with self.lock:
            f = self.faults
            jitter = self.random.randint(0, f.jitter_ms) if f.jitter_ms else 0
            return (f.latency_ms + jitter) / 1000.0
