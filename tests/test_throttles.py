"""Throttles that hold (issue 17): default rates, one count for every worker, 429s that say when.

- the API's default rates apply when the host sets none (they were: no limit);
- workers share one count: two processes hammering the same user through a
  Redis cache let exactly the rate through (DRF's read-then-write history lost
  counts there);
- the example project counts in a shared cache, Redis or the database, never
  per process (it was locmem without Redis: 6,000/min per process);
- the dashboards and the CSV export have per-user rates and a 429 page with
  ``Retry-After``; the checks find a per-process throttle cache and bad rates.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.urls import reverse
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from timeback_progress import checks, ratelimit
from timeback_progress.api.throttling import TimebackReadThrottle, TimebackWriteThrottle
from tests.test_api import start, url
from tests.test_deploy import read_settings, scratch_tree

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/9"  # the suite's own Redis database: only it is flushed
REDIS_CACHE = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle-tests"}


# Where tests/conftest.py holds the throttles' clock: ten seconds into a minute, an hour and a day.
FROZEN = 86400 * 20_000 + 10.0


def rates(settings, **given):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "THROTTLE_RATES": given}


# -- the counting rule -------------------------------------------------------------------


@pytest.mark.parametrize("rate, parsed", [
    ("60/min", (60, 60)), ("60/minute", (60, 60)), ("60/m", (60, 60)), ("5/s", (5, 1)), (" 1000 / hour ", (1000, 3600)),
    ("3/day", (3, 86400)), ("7/Min", (7, 60)), (None, None),
])
def test_rates_read_as_drf_writes_them(rate, parsed):
    assert ratelimit.parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["60", "0/min", "-1/min", "60/fortnight", "sixty/min", "60/", "", 60, "60 per min"])
def test_a_malformed_rate_is_refused_with_the_format(rate):
    with pytest.raises(ValueError, match="e.g."):
        ratelimit.parse_rate(rate)


def test_a_window_allows_the_rate_and_says_when_it_turns():
    cache = caches["throttle"]
    start_of_window = 6000 * 60.0
    verdicts = [ratelimit.hit(cache, "k", 3, 60, now=start_of_window + 15) for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert verdicts[-1].retry_after == 45
    # The next window starts afresh, however many were refused.
    assert [ratelimit.hit(cache, "k", 3, 60, now=start_of_window + 60).allowed for _ in range(4)] == [True] * 3 + [False]
    assert ratelimit.retry_after_header(0.2) == "1" and ratelimit.retry_after_header(44.1) == "45"


def test_a_failing_cache_serves_the_request_and_says_so(caplog):
    class Broken:
        def incr(self, key):
            raise ConnectionError("redis is down")

    assert ratelimit.hit(Broken(), "k", 1, 60).allowed
    assert "throttle cache failed" in caplog.text


@pytest.mark.parametrize("meta, proxies, expected", [
    ({"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, None, "10.0.0.9"),  # a client's own header
    ({"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.7"}, 1, "203.0.113.7"),
    ({"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}, 2, "203.0.113.7"),
    ({"REMOTE_ADDR": "10.0.0.9"}, 1, "10.0.0.9"),
])
def test_callers_not_signed_in_count_per_address(settings, meta, proxies, expected):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    assert ratelimit.client_ip(SimpleNamespace(META=meta)) == expected


# -- the API -----------------------------------------------------------------------------


def test_the_default_write_rate_applies_when_the_host_sets_none(api_world, client_for, monkeypatch):
    """No DEFAULT_THROTTLE_RATES: 60 writes a minute per user (they were unlimited), then a JSON 429."""
    assert ratelimit.clock() == FROZEN
    w = api_world
    monkeypatch.setattr(TimebackWriteThrottle, "THROTTLE_RATES", {})
    monkeypatch.setattr(TimebackReadThrottle, "THROTTLE_RATES", {})
    ann, bob = client_for(w.ann.user), client_for(w.bob.user)
    codes = [start(ann, w.ann, w.quiz).status_code for _ in range(61)]
    assert codes == [201] * 60 + [429]
    refused = start(ann, w.ann, w.quiz)
    assert refused.status_code == 429 and refused["Content-Type"] == "application/json"
    assert refused["Retry-After"] == "50"
    assert "throttled" in refused.json()["detail"]
    assert start(bob, w.bob, w.quiz).status_code == 201  # per user
    assert ann.get(url("student-progress", w.ann.sourced_id)).status_code == 200  # reads count apart


def test_reads_have_their_own_rate(api_world, client_for, settings, monkeypatch):
    w = api_world
    monkeypatch.setattr(TimebackReadThrottle, "THROTTLE_RATES", {})
    rates(settings, timeback_read="3/min")
    ann = client_for(w.ann.user, token=True)
    codes = [ann.get(url("student-progress", w.ann.sourced_id)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert start(ann, w.ann, w.quiz).status_code == 201


def test_a_service_account_counts_against_the_service_rate(api_world, client_for, settings, monkeypatch):
    """A server writing for a whole school through one account is not held to one student's rate."""
    w = api_world
    monkeypatch.setattr(TimebackWriteThrottle, "THROTTLE_RATES", {"timeback_write": "2/min"})
    rates(settings, timeback_service="5/min")
    service = client_for(w.service, token=True)
    assert [start(service, w.ann if i % 2 else w.bob, w.quiz).status_code for i in range(6)] == [201] * 5 + [429]
    ann = client_for(w.ann.user)
    assert [start(ann, w.ann, w.quiz).status_code for _ in range(3)] == [201, 201, 429]


def test_drf_rates_win_over_the_apps(api_world, client_for, settings, monkeypatch):
    w = api_world
    monkeypatch.setattr(TimebackWriteThrottle, "THROTTLE_RATES", {"timeback_write": None})
    rates(settings, timeback_write="1/min")
    ann = client_for(w.ann.user)
    assert {start(ann, w.ann, w.quiz).status_code for _ in range(3)} == {201}


# -- one count for every worker ------------------------------------------------------------

THREADS, CALLS, LIMIT = 4, 50, 100


def hammer(user_pk, start_at):
    """THREADS threads x CALLS write-throttle checks for one user at one instant: how many pass.

    Each thread has its own cache connection (Django's caches are per thread),
    as each worker process has.
    """
    user = SimpleNamespace(pk=user_pk, is_authenticated=True, is_staff=False, has_perm=lambda perm: False)
    factory = APIRequestFactory()
    passed = []

    def run():
        request = Request(factory.post("/"))
        request.user = user
        TimebackWriteThrottle().cache.get("warm-up")  # connect (and import redis) before the start
        time.sleep(max(0.0, start_at - time.time()))
        for _ in range(CALLS):
            passed.append(TimebackWriteThrottle().allow_request(request, None))

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(passed)


WORKER = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.test.utils import override_settings
from timeback_progress import ratelimit
from timeback_progress.api.throttling import TimebackWriteThrottle
from tests.test_throttles import FROZEN, LIMIT, REDIS_CACHE, hammer
TimebackWriteThrottle.THROTTLE_RATES = {"timeback_write": f"{LIMIT}/hour"}
ratelimit.clock = lambda: FROZEN
with override_settings(CACHES={**settings.CACHES, "shared": REDIS_CACHE},
                       TIMEBACK_PROGRESS={**settings.TIMEBACK_PROGRESS, "API_THROTTLE_CACHE": "shared"}):
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    print(json.dumps(hammer(int(sys.argv[1]), start_at)), flush=True)
"""


@pytest.fixture
def shared_redis(settings):
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    settings.CACHES = {**settings.CACHES, "shared": REDIS_CACHE}
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "API_THROTTLE_CACHE": "shared"}
    yield
    client.flushdb()


def test_two_worker_processes_share_one_count(shared_redis, monkeypatch):
    """Two processes x 4 threads hammer one user at once: exactly the rate passes, not a count is lost."""
    monkeypatch.setattr(TimebackWriteThrottle, "THROTTLE_RATES", {"timeback_write": f"{LIMIT}/hour"})
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, "7"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
    start_at = time.time() + 0.5  # both workers start at once
    worker.stdin.write(f"{start_at}\n")
    worker.stdin.flush()
    here = hammer(7, start_at)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    there = json.loads(out)
    assert here > 0 and there > 0, (here, there)  # both workers got some
    assert here + there == LIMIT, (here, there)


# -- the example project ----------------------------------------------------------------------


@pytest.mark.parametrize("given, backend", [
    ({}, "django.core.cache.backends.db.DatabaseCache"),
    ({"REDIS_URL": REDIS_URL}, "django.core.cache.backends.redis.RedisCache"),
])
def test_the_example_project_counts_in_a_shared_cache_at_the_apps_rates(tmp_path, given, backend):
    found = read_settings(scratch_tree(tmp_path), "CACHES", "TIMEBACK_PROGRESS", "REST_FRAMEWORK",
                          DJANGO_SECRET_KEY="k" * 50, **given)
    alias = found["TIMEBACK_PROGRESS"]["API_THROTTLE_CACHE"]
    assert found["CACHES"][alias]["BACKEND"] == backend not in checks.PER_PROCESS_CACHES
    assert found["TIMEBACK_PROGRESS"]["THROTTLE_RATES"] == {}  # the app's defaults
    assert "DEFAULT_THROTTLE_RATES" not in found["REST_FRAMEWORK"]


def test_the_example_project_still_reads_its_rate_variables(tmp_path):
    found = read_settings(scratch_tree(tmp_path), "TIMEBACK_PROGRESS", DJANGO_SECRET_KEY="k" * 50,
                          TIMEBACK_API_WRITE_RATE="30/min")
    assert found["TIMEBACK_PROGRESS"]["THROTTLE_RATES"] == {"timeback_write": "30/min"}


# -- dashboards and the CSV export ------------------------------------------------------------


def dashboard(name, course):
    return reverse(f"timeback_progress:{name}", args=[course.pk])


def assert_throttled_page(response):
    assert response.status_code == 429
    assert response["Retry-After"] == "50"
    text = response.content.decode()
    assert "Too many requests" in text and f"Try again in {response['Retry-After']} second" in text


def test_the_csv_export_has_a_per_user_rate_and_a_clear_429(client, users, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "THROTTLE_RATES": {"timeback_export": "2/min"}}
    course = users["course"]
    client.force_login(users["teacher"])
    first, second, third = (client.get(dashboard("course-export", course)) for _ in range(3))
    assert first.status_code == second.status_code == 200 and first["Content-Type"].startswith("text/csv")
    assert_throttled_page(third)
    assert "CSV export" in third.content.decode()
    assert client.get(dashboard("course-overview", course)).status_code == 200  # pages count apart
    client.force_login(users["staff"])
    assert client.get(dashboard("course-export", course)).status_code == 200  # per user


def test_dashboard_pages_have_a_generous_per_user_rate(client, users, settings):
    from timeback_progress.conf import DEFAULTS

    assert ratelimit.parse_rate(DEFAULTS["THROTTLE_RATES"]["timeback_dashboard"]) == (120, 60)
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "THROTTLE_RATES": {"timeback_dashboard": "3/min"}}
    client.force_login(users["teacher"])
    codes = [client.get(dashboard("course-overview", users["course"])).status_code for _ in range(3)]
    assert codes == [200] * 3
    assert_throttled_page(client.get(reverse("timeback_progress:course-list")))


def test_anonymous_dashboard_requests_count_per_address(client, db, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "THROTTLE_RATES": {"timeback_dashboard": "2/min"}}
    home = reverse("timeback_progress:course-list")
    codes = [client.get(home, REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code for i in range(3)]
    assert codes == [302, 302, 429]
    assert client.get(home, REMOTE_ADDR="198.51.100.2").status_code == 302


# -- system checks ------------------------------------------------------------------------------


def throttle_check_ids(settings, backend=None, debug=False, **app):
    settings.DEBUG = debug
    if backend is not None:
        settings.CACHES = {**settings.CACHES, "throttle": {"BACKEND": backend}}
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, **app}
    return [e.id for e in checks.check_throttles()]


@pytest.mark.parametrize("backend", checks.PER_PROCESS_CACHES)
def test_a_per_process_throttle_cache_is_a_warning(settings, backend):
    assert throttle_check_ids(settings, backend) == ["timeback_progress.W005"]
    assert throttle_check_ids(settings, backend, debug=True) == []  # runserver: one process


@pytest.mark.parametrize("backend", ["django.core.cache.backends.redis.RedisCache",
                                     "django.core.cache.backends.db.DatabaseCache",
                                     "django.core.cache.backends.memcached.PyMemcacheCache"])
def test_a_shared_throttle_cache_is_fine(settings, backend):
    assert throttle_check_ids(settings, backend) == []


@pytest.mark.parametrize("app", [
    {"API_THROTTLE_CACHE": "nowhere"}, {"THROTTLE_RATES": {"timeback_read": "lots"}},
    {"THROTTLE_RATES": {"timeback_wirte": "60/min"}}, {"THROTTLE_RATES": ["60/min"]},
])
def test_a_throttle_setting_every_request_would_fail_on_is_an_error(settings, app):
    assert "timeback_progress.E011" in throttle_check_ids(settings, "django.core.cache.backends.redis.RedisCache", **app)


def test_a_bad_drf_rate_for_an_app_scope_is_an_error(settings, monkeypatch):
    from rest_framework.settings import api_settings

    monkeypatch.setattr(api_settings, "DEFAULT_THROTTLE_RATES", {"timeback_write": "60 a minute", "other": "bad"})
    errors = [e for e in checks.check_throttles() if e.id == "timeback_progress.E011"]
    assert len(errors) == 1 and "timeback_write" in errors[0].msg
