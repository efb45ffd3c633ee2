"""The soak's clients and the book of what they got (bench/soak.py runs them).

- A student client (one per student, each with its own API token) starts an
  attempt, reports the time that passed every few seconds (never more than the
  wall clock since the start: the API refuses time that runs ahead), completes
  it and reads its progress; again and again until the deadline, then it
  finishes the attempt it is in, so no attempt is left open.
- A service account records completed attempts for any student, one at a time
  (``record``) and in batches (``record/batch``).
- A teacher reads the class list of a course they teach.

Every write carries an ``Idempotency-Key``, so a try that timed out or got a
5xx is retried with the same key and happens once. Every answer is booked:
latency per endpoint, status codes, connection errors, the first surprises.
"""

import math
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import requests

TRIES = 6  # per request: a timeout or a 5xx is retried with the same key
TIMEOUT = 60.0  # seconds; gunicorn's own worker timeout (30 s) answers first


def percentile(values, share):
    """The nearest-rank percentile of ``values`` (share 0-1); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(share * len(ordered))))
    return ordered[rank - 1]


class Book:
    """What every client got, shared by the client threads (one lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency = defaultdict(list)  # endpoint -> seconds per answered request
        self.statuses = defaultdict(Counter)  # endpoint -> Counter(status code)
        self.failures = defaultdict(Counter)  # endpoint -> Counter(connection error kind)
        self.examples = []  # (endpoint, status, body) of the first unexpected answers
        self.done = Counter()  # what the clients achieved: attempts completed, recorded, ...

    def answer(self, endpoint, status, seconds, body=None):
        with self.lock:
            self.latency[endpoint].append(seconds)
            self.statuses[endpoint][status] += 1
            if body is not None and len(self.examples) < 20:
                self.examples.append((endpoint, status, body[:400]))

    def failure(self, endpoint, exc):
        with self.lock:
            self.failures[endpoint][type(exc).__name__] += 1

    def count(self, what, n=1):
        with self.lock:
            self.done[what] += n

    def served(self):
        with self.lock:
            return sum(sum(c.values()) for c in self.statuses.values())

    def status_total(self, test):
        with self.lock:
            return sum(n for c in self.statuses.values() for code, n in c.items() if test(code))


class Api:
    """One user's HTTP client: its own session (connection pool) and token."""

    def __init__(self, base_url, token, book, stop):
        self.base, self.book, self.stop = base_url.rstrip("/") + "/api/v1/", book, stop
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, endpoint, method, path, body=None, *, write=True, expect=(200, 201)):
        """The decoded answer, or None once the request is refused or out of tries."""
        headers = {"Idempotency-Key": str(uuid.uuid4())} if write else {}
        for attempt in range(TRIES):
            if attempt and self.stop.is_set():
                return None
            started = time.perf_counter()
            try:
                answer = self.session.request(method, self.base + path, json=body, headers=headers, timeout=TIMEOUT)
            except requests.RequestException as exc:
                self.book.failure(endpoint, exc)
                time.sleep(min(8.0, 0.5 * 2**attempt))
                continue
            seconds = time.perf_counter() - started
            code = answer.status_code
            if code in expect:
                self.book.answer(endpoint, code, seconds)
                return answer.json()
            self.book.answer(endpoint, code, seconds, answer.text)
            if code == 429:  # the app's own throttle: wait as told, then again
                time.sleep(float(answer.headers.get("Retry-After") or 1))
            elif code >= 500:
                time.sleep(min(8.0, 0.5 * 2**attempt))
            else:
                return None  # a refusal (4xx): booked as a surprise; the flow moves on
        return None


def sleep_until(stop, seconds):
    """Sleep ``seconds`` unless the run is aborted; True if aborted."""
    return stop.wait(max(0.0, seconds))


def student_client(api, sourced_id, activities, *, deadline, report_every, rng, stop):
    """Start, report time as it passes, complete, read progress; until the deadline."""
    book = api.book
    while time.monotonic() < deadline and not stop.is_set():
        attempt = api.call("start", "POST", "attempts/", {"studentSourcedId": sourced_id, "activityId": rng.choice(activities)})
        if attempt is None:
            sleep_until(stop, 2)
            continue
        began, reported = time.monotonic(), 0
        for _ in range(rng.randint(3, 10)):
            if sleep_until(stop, report_every * rng.uniform(0.5, 1.5)):
                break
            due = int(time.monotonic() - began) - reported  # whole seconds that passed and are not reported yet
            inactive = int(due * rng.choice((0, 0, 0, 0.1, 0.25)))
            if api.call("time", "POST", f"attempts/{attempt['id']}/time/",
                        {"activeSeconds": due - inactive, "inactiveSeconds": inactive}) is not None:
                reported += due
            if time.monotonic() >= deadline:
                break
        total = rng.randint(4, 20)
        correct = round(total * rng.uniform(0.3, 1.0) * 2) / 2  # halves: fractional answers happen
        due = int(time.monotonic() - began) - reported
        done = api.call("complete", "POST", f"attempts/{attempt['id']}/complete/",
                        {"totalQuestions": total, "correctQuestions": correct, "activeSeconds": due})
        if done is None:
            book.count("attempts left open")
            continue
        book.count("attempts completed")
        api.call("progress", "GET", f"students/{sourced_id}/progress/", write=False)


def record_item(rng, student, activity):
    seconds = rng.randint(60, 900)
    completed = datetime.now(timezone.utc) - timedelta(seconds=rng.randint(seconds, 3600))
    total = rng.randint(4, 20)
    return {
        "studentSourcedId": student, "activityId": activity, "totalQuestions": total,
        "correctQuestions": round(total * rng.uniform(0.3, 1.0) * 2) / 2,
        "activeSeconds": seconds, "inactiveSeconds": rng.randint(0, 120),
        "startedAt": (completed - timedelta(seconds=seconds + 150)).isoformat(), "completedAt": completed.isoformat(),
    }


def service_client(api, students, activities, *, deadline, pause, batch_every, rng, stop):
    """Record completed attempts for any student: one at a time, and a batch every ``batch_every`` calls."""
    n = 0
    while time.monotonic() < deadline and not stop.is_set():
        n += 1
        if n % batch_every == 0:
            items = [record_item(rng, rng.choice(students), rng.choice(activities)) for _ in range(rng.randint(5, 25))]
            if api.call("record/batch", "POST", "attempts/record/batch/", {"items": items}) is not None:
                api.book.count("attempts recorded", len(items))
        elif api.call("record", "POST", "attempts/record/", record_item(rng, rng.choice(students), rng.choice(activities))) is not None:
            api.book.count("attempts recorded")
        sleep_until(stop, pause * rng.uniform(0.5, 1.5))


def teacher_client(api, course, *, deadline, pause, rng, stop):
    """Read the class list, best first, as a teacher's dashboard would."""
    while time.monotonic() < deadline and not stop.is_set():
        api.call("course students", "GET", f"courses/{course}/students/?ordering=-xpTotal", write=False)
        sleep_until(stop, pause * rng.uniform(0.5, 1.5))


def run_clients(base_url, people, *, minutes, report_every, seed, book, stop):
    """Start every client in its own thread; returns the threads (join them)."""
    deadline = time.monotonic() + minutes * 60
    rng = random.Random(seed)
    threads = []

    def spawn(target, *args, **kwargs):
        thread = threading.Thread(target=target, args=args, kwargs={**kwargs, "deadline": deadline, "stop": stop,
                                                                    "rng": random.Random(rng.random())}, daemon=True)
        threads.append(thread)

    students = [s for s, _ in people["students"]]
    for sourced_id, token in people["students"]:
        spawn(student_client, Api(base_url, token, book, stop), sourced_id, people["enrolled_activities"],
              report_every=report_every)
    for token in people["service_tokens"]:
        spawn(service_client, Api(base_url, token, book, stop), students, people["activities"],
              pause=people["service_pause"], batch_every=5)
    spawn(teacher_client, Api(base_url, people["teacher_token"], book, stop), people["teacher_course"], pause=5.0)
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # a ramp of a few seconds, not one burst
    return threads
