"""Progress only from where it may come (issue 17, point 4).

Reported time never runs ahead of the wall clock, timestamps stay in a sane
range, totals stay far below their columns' range, and two batches naming the
same students in opposite orders never deadlock.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from timeback_progress.gradebook import attempts
from timeback_progress.models import Attempt, Delivery, StudentProgress

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"timeback_progress_api:{name}", args=args)


def post(client, path, body):
    return client.post(path, body, format="json")


def written():
    return Attempt.objects.count(), Delivery.objects.count(), StudentProgress.objects.count()


def test_time_never_runs_ahead_of_the_wall_clock(student, activity, settings):
    attempt = attempts.start_attempt(student, activity, started_at=timezone.now() - timedelta(minutes=10))
    attempts.add_time(attempt, active_seconds=500, inactive_seconds=100)  # 600 s in 10 minutes
    attempts.add_time(attempt, active_seconds=100)  # within the 120 s tolerance
    with pytest.raises(attempts.AttemptError, match="only 600 seconds passed"):
        attempts.add_time(attempt, active_seconds=30)
    attempt.refresh_from_db()
    assert (attempt.active_seconds, attempt.inactive_seconds) == (600, 100)
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TIME_TOLERANCE_SECONDS": 0}
    with pytest.raises(attempts.AttemptError):
        attempts.complete_attempt(attempt, total_questions=1, correct_questions=1)


def test_a_recorded_attempt_holds_no_more_time_than_it_lasted(student, activity):
    done = timezone.now() - timedelta(hours=1)
    with pytest.raises(attempts.AttemptError, match="seconds reported"):
        attempts.record_attempt(student, activity, total_questions=1, correct_questions=1, active_seconds=3600,
                                started_at=done - timedelta(minutes=30), completed_at=done)
    # Without startedAt it starts as long before the completion as the time it reports.
    run = attempts.record_attempt(student, activity, total_questions=1, correct_questions=1, active_seconds=3600,
                                  completed_at=done)
    assert run.started_at == done - timedelta(seconds=3600)


@pytest.mark.parametrize(("field", "moment", "message"), [
    ("completed_at", "year one", "before 2000-01-01"),
    ("completed_at", "next week", "in the future"),
    ("started_at", "year one", "before 2000-01-01"),
])
def test_timestamps_stay_in_a_sane_range(student, activity, field, moment, message):
    value = {"year one": timezone.now().replace(year=1), "next week": timezone.now() + timedelta(days=7)}[moment]
    before = written()
    with pytest.raises(attempts.AttemptError, match=message):
        attempts.record_attempt(student, activity, total_questions=1, correct_questions=1, **{field: value})
    assert written() == before


def test_an_attempt_holds_at_most_a_week_of_each_kind(student, activity):
    attempt = attempts.start_attempt(student, activity, started_at=timezone.now() - timedelta(days=60))
    for _ in range(7):
        attempts.add_time(attempt, active_seconds=86_400)
    with pytest.raises(attempts.AttemptError, match="at most 604800 seconds"):
        attempts.add_time(attempt, active_seconds=1)


def test_the_api_refuses_time_ahead_of_the_clock_and_writes_nothing(api_world, client_for):
    w = api_world
    client = client_for(w.ann.user)
    pk = post(client, url("attempt-start"), {"studentSourcedId": w.ann.sourced_id, "activityId": w.quiz.activity_id}).json()["id"]
    before = written()
    response = post(client, url("attempt-time", pk), {"activeSeconds": 86_400})
    assert response.status_code == 400 and "seconds passed since the attempt started" in str(response.json())
    assert written() == before and Attempt.objects.get(pk=pk).active_seconds == 0


@pytest.mark.django_db(transaction=True)
def test_opposite_order_batches_do_not_deadlock(api_world, client_for, monkeypatch):
    """Each batch locks its students up front in pk order; before, the second lock of each waited on the other."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs row locks")
    w = api_world
    record = attempts.record_attempt

    def slow_record(*args, **kwargs):  # hold the first student's lock while the other batch starts
        attempt = record(*args, **kwargs)
        time.sleep(0.4)
        return attempt

    monkeypatch.setattr(attempts, "record_attempt", slow_record)
    item = lambda s: {"studentSourcedId": s.sourced_id, "activityId": w.quiz.activity_id,  # noqa: E731
                      "totalQuestions": 10, "correctQuestions": 9}
    statuses = {}

    def send(name, students):
        try:
            statuses[name] = post(client_for(w.service), url("attempt-record-batch"),
                                  {"items": [item(s) for s in students]}).status_code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=("ab", [w.ann, w.bob])),
               threading.Thread(target=send, args=("ba", [w.bob, w.ann]))]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    assert statuses == {"ab": 201, "ba": 201}
    assert Attempt.objects.count() == 4
