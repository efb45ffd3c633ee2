"""The completion path: both entrances alike, progress rows held against a rebuild, domain signals."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.checks import Error
from django.db import connections, transaction
from django.db.models import Sum
from django.utils import timezone

from timeback_progress import checks
from timeback_progress.gradebook import derivation, attempts, corrections, progress
from timeback_progress.gradebook.signals import attempt_completed, result_corrected, unit_mastered, xp_awarded
from timeback_progress.models import ActivityProgress, Attempt, DailyProgress, Delivery, Result, StudentProgress
from tests.plugins.factories import make_activity, make_course, make_student

pytestmark = pytest.mark.django_db

PROGRESS_MODELS = (ActivityProgress, StudentProgress, DailyProgress)


def progress_rows():
    """Every progress row, without ids and write times."""
    out = {}
    for model in PROGRESS_MODELS:
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in ("id", "updated_at")]
        out[model.__name__] = sorted(model.objects.values_list(*names), key=repr)
    return out


def rebuild_everything():
    for student_id, activity_id, course_id in Attempt.objects.values_list("student_id", "activity_id", "course_id").distinct():
        progress.rebuild(student_id, activity_id, course_id, using="default")


def assert_rows_equal_a_rebuild():
    kept = progress_rows()
    with transaction.atomic():
        rebuild_everything()
        rebuilt = progress_rows()
        transaction.set_rollback(True)
    assert rebuilt == kept


def assert_attempts_equal_a_recount():
    """Re-deriving every chain from scratch moves no attempt's number, XP or mastery, and writes no outbox row."""
    def figures():
        return sorted(Attempt.objects.values_list("pk", "attempt_number", "xp_earned", "mastered_units", "accuracy"))

    kept, rows = figures(), Delivery.objects.count()
    with transaction.atomic():
        derivation.recalculate_attempts(Attempt.objects.all())
        assert (figures(), Delivery.objects.count()) == (kept, rows)
        transaction.set_rollback(True)


def test_what_operations_add_equals_a_rebuild_from_the_attempts(django_user_model):
    """Random starts, time reports, completions (in and out of order), records and corrections;
    the rows are held against a rebuild after every step."""
    rng = random.Random(15)
    course = make_course()
    activities = [make_activity(course, masterable_units=rng.randint(0, 3)) for _ in range(3)]
    students = [make_student() for _ in range(3)]
    admin = django_user_model.objects.create(username="admin")
    base = timezone.now() - timedelta(days=5)
    open_attempts = []
    for step in range(120):
        student, activity = rng.choice(students), rng.choice(activities)
        when = base + timedelta(hours=step)
        roll = rng.random()
        if roll < 0.3:
            open_attempts.append(attempts.start_attempt(student, activity, started_at=when))
        elif roll < 0.45 and open_attempts:
            attempts.add_time(rng.choice(open_attempts), active_seconds=rng.randint(0, 90), inactive_seconds=rng.randint(0, 9))
        elif roll < 0.75 and open_attempts:
            # Any open attempt: an older one completed after a newer takes the chain path.
            attempt = open_attempts.pop(rng.randrange(len(open_attempts)))
            total = rng.randint(0, 10)
            attempts.complete_attempt(attempt, total_questions=total, correct_questions=rng.randint(0, total),
                                      active_seconds=rng.randint(0, 120), completed_at=when)
        elif roll < 0.9:
            total = rng.randint(1, 10)
            # Now and then back-dated (an offline app's completedAt): it lands inside the chain.
            done = when - timedelta(hours=rng.randint(1, 60)) if rng.random() < 0.3 else when
            attempts.record_attempt(student, activity, total_questions=total, correct_questions=rng.randint(0, total),
                                    active_seconds=rng.randint(0, 300), inactive_seconds=rng.randint(0, 30),
                                    started_at=done - timedelta(minutes=30), completed_at=done)
        elif Result.objects.exists():
            result = rng.choice(list(Result.objects.select_related("attempt__activity")))
            total = result.attempt.total_questions
            corrections.correct_result(result, user=admin, reason="rubric", correct_questions=rng.randint(0, total))
        assert_rows_equal_a_rebuild()
        if step % 5 == 4:
            assert_attempts_equal_a_recount()
    rows = progress_rows()
    assert rows["ActivityProgress"] and rows["DailyProgress"]
    # Every sum a day row holds was exercised (the upsert and the rebuild agree on real figures, not zeros).
    days = DailyProgress.objects.aggregate(**{name: Sum(name) for name in progress.DAY_SUMS})
    assert all(days.values()), days
    assert max(streak for *_, streak in StudentProgress.objects.values_list("failed_streak")) >= 2


def test_the_day_upsert_adds_every_figure_a_day_row_holds():
    """A new DailyProgress field the upsert (and so the rebuild) leaves out would read 0 in every time window."""
    key = {"id", "student", "course", "day"}
    assert set(progress.DAY_SUMS) == {f.name for f in DailyProgress._meta.concrete_fields} - key
    assert progress.DAY_COLUMNS == ("student", "course", "day", *progress.DAY_SUMS)


def test_a_day_row_holds_the_sums_of_the_attempts_completed_that_day():
    course = make_course()
    quiz, video = make_activity(course, masterable_units=2), make_activity(course, masterable_units=0)
    student = make_student()
    day = timezone.now() - timedelta(days=2)
    attempts.record_attempt(student, quiz, total_questions=10, correct_questions=Decimal("7.5"), active_seconds=100,
                            inactive_seconds=7, started_at=day - timedelta(minutes=5), completed_at=day)
    attempts.record_attempt(student, quiz, total_questions=4, correct_questions=4, active_seconds=50,
                            inactive_seconds=3, started_at=day - timedelta(minutes=2), completed_at=day)
    attempts.record_attempt(student, video, total_questions=0, correct_questions=0, active_seconds=30,
                            started_at=day - timedelta(minutes=1), completed_at=day)
    attempts.start_attempt(student, quiz, started_at=day)  # open: counts in no day
    row = DailyProgress.objects.get(student=student)
    assert row.day == progress.chart_day(day)[0]
    assert (row.completed_count, row.active_seconds, row.inactive_seconds) == (3, 180, 10)
    assert (row.total_questions, row.correct_questions, row.mastered_units) == (14, Decimal("11.50"), 2)
    assert row.xp == sum(Attempt.objects.filter(student=student).exclude(xp_earned=None).values_list("xp_earned", flat=True))


def snapshot(student):
    """An attempt's derived rows and its outbox items, with nothing that names the run."""
    attempt = Attempt.objects.get(student=student)
    result = Result.objects.get(attempt=attempt)
    skip = {"id", "created_at", "updated_at"}
    return {
        "attempt": {f.attname: getattr(attempt, f.attname) for f in Attempt._meta.concrete_fields if f.attname not in skip},
        "result": {f.attname: getattr(result, f.attname) for f in Result._meta.concrete_fields if f.attname not in skip},
        "outbox": sorted((d.kind, d.key, repr(d.payload), d.status) for d in Delivery.objects.order_by("id")),
        "progress": progress_rows(),
    }


def test_the_api_path_and_a_plain_save_leave_identical_rows_and_outbox_items():
    """Completed by the operation, or by ``save()`` from the admin or host code: the same rows."""
    student, activity = make_student(), make_activity(masterable_units=2)
    started = timezone.now() - timedelta(minutes=30)
    finished = started + timedelta(minutes=20)
    attempt = attempts.start_attempt(student, activity, started_at=started)
    attempts.add_time(attempt, active_seconds=500, inactive_seconds=20)
    seen = []
    for entrance in ("operation", "save"):
        with transaction.atomic():
            if entrance == "operation":
                attempts.complete_attempt(attempt, total_questions=10, correct_questions=10, active_seconds=100, completed_at=finished)
            else:
                plain = Attempt.objects.get(pk=attempt.pk)
                plain.total_questions, plain.correct_questions = 10, Decimal(10)
                plain.active_seconds += 100
                plain.completed_at = finished
                plain.save()
            seen.append(snapshot(student))
            transaction.set_rollback(True)
    operation, saved = seen
    assert operation["attempt"]["xp_earned"] == Decimal("12.50") and operation["attempt"]["mastered_units"] == 2
    assert saved == operation


@pytest.fixture
def received():
    """Keyword arguments each domain signal was sent with, by signal name."""
    got = {}
    handlers = {}
    for name, signal in (("completed", attempt_completed), ("xp", xp_awarded), ("mastered", unit_mastered),
                         ("corrected", result_corrected)):
        handlers[name] = lambda sender, name=name, **kwargs: got.setdefault(name, []).append((sender, kwargs))
        signal.connect(handlers[name], weak=False)
    yield got
    for name, signal in (("completed", attempt_completed), ("xp", xp_awarded), ("mastered", unit_mastered),
                         ("corrected", result_corrected)):
        signal.disconnect(handlers[name])


def test_domain_signals_are_sent_after_commit_and_never_for_a_rollback(received, django_capture_on_commit_callbacks):
    student, activity = make_student(), make_activity(masterable_units=3)
    with transaction.atomic():
        attempt = attempts.start_attempt(student, activity)
        attempts.complete_attempt(attempt, total_questions=4, correct_questions=4)
        transaction.set_rollback(True)
    assert received == {}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        attempt = attempts.record_attempt(student, activity, total_questions=4, correct_questions=4)
    assert received == {}  # not before the commit
    for callback in callbacks:
        callback()
    (sender, completed), = received["completed"]
    assert sender is Attempt and completed["attempt"].pk == attempt.pk and completed["result"].attempt_id == attempt.pk
    (_, xp), = received["xp"]
    assert (xp["xp"], xp["delta"]) == (Decimal("12.50"), Decimal("12.50"))
    (_, mastered), = received["mastered"]
    assert mastered["units"] == 3 and mastered["attempt"].pk == attempt.pk


def test_a_second_pass_masters_nothing_and_a_correction_is_announced(received, django_user_model, django_capture_on_commit_callbacks):
    student, activity = make_student(), make_activity(masterable_units=1)
    with django_capture_on_commit_callbacks(execute=True):
        attempts.record_attempt(student, activity, total_questions=10, correct_questions=9)
        second = attempts.record_attempt(student, activity, total_questions=10, correct_questions=9)
    assert [kw["attempt"].number for _, kw in received["mastered"]] == [1]
    assert [kw["delta"] for _, kw in received["xp"]] == [Decimal("10.00"), Decimal("5.00")]
    admin = django_user_model.objects.create(username="admin")
    with django_capture_on_commit_callbacks(execute=True):
        correction = corrections.correct_result(Result.objects.get(attempt=second), user=admin, reason="typo", xp=7)
    (sender, corrected), = received["corrected"]
    assert sender is Result and corrected["correction"] == correction
    assert received["xp"][-1][1]["delta"] == Decimal("2.00")


def test_a_failing_receiver_is_logged_and_the_others_still_run(caplog, django_capture_on_commit_callbacks):
    calls = []

    def broken(**kwargs):
        raise RuntimeError("host bug")

    def fine(**kwargs):
        calls.append(kwargs["attempt"].pk)

    attempt_completed.connect(broken, weak=False)
    attempt_completed.connect(fine, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            attempt = attempts.record_attempt(make_student(), make_activity(), total_questions=1, correct_questions=1)
    finally:
        attempt_completed.disconnect(broken)
        attempt_completed.disconnect(fine)
    assert calls == [attempt.pk]
    assert "host bug" in caplog.text


def test_an_unsupported_database_backend_is_refused_by_a_check(monkeypatch):
    assert checks.check_database() == []
    monkeypatch.setattr(connections["default"], "vendor", "mysql")
    (error,) = checks.check_database()
    assert isinstance(error, Error) and error.id == "timeback_progress.E009"
    assert "mysql" in error.msg and "PostgreSQL" in error.hint


# -- found by review: history changes the fast path must not miss ----------------------------------


def test_a_deleted_attempt_no_longer_counts_for_mastery():
    """Deleting the mastering attempt (host code, a shell) re-evaluates the rest: the next pass masters."""
    student, activity = make_student(), make_activity(masterable_units=2)
    first = attempts.record_attempt(student, activity, total_questions=10, correct_questions=10)
    attempts.record_attempt(student, activity, total_questions=10, correct_questions=1)
    assert first.mastered_units == 2
    Attempt.objects.filter(pk=first.pk).delete()
    assert_rows_equal_a_rebuild()
    third = attempts.record_attempt(student, activity, total_questions=10, correct_questions=10)
    assert third.mastered_units == 2
    assert ActivityProgress.objects.get(student=student).mastered_units == 2
    assert_rows_equal_a_rebuild()


def test_a_save_that_uncompletes_an_attempt_rebuilds_days_and_streak():
    student, activity = make_student(), make_activity()
    attempt = attempts.record_attempt(student, activity, total_questions=10, correct_questions=1, active_seconds=60)
    plain = Attempt.objects.get(pk=attempt.pk)
    plain.completed_at = None
    plain.save()
    assert_rows_equal_a_rebuild()
    assert not DailyProgress.objects.exists()


def test_an_attempt_completed_after_a_newer_one_is_announced(received, django_capture_on_commit_callbacks):
    student, activity = make_student(), make_activity(masterable_units=1)
    older, newer = attempts.start_attempt(student, activity), attempts.start_attempt(student, activity)
    attempts.complete_attempt(newer, total_questions=10, correct_questions=2)
    received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        attempts.complete_attempt(older, total_questions=10, correct_questions=10)
    (_, completed), = received["completed"]
    assert completed["attempt"].pk == older.pk
    (_, mastered), = received["mastered"]
    assert mastered["attempt"].pk == older.pk


def test_mastery_is_announced_once_per_student_and_activity(received, django_user_model, django_capture_on_commit_callbacks):
    admin = django_user_model.objects.create(username="admin")
    student, activity = make_student(), make_activity(masterable_units=2)
    attempts.record_attempt(student, activity, total_questions=10, correct_questions=10)
    second = attempts.record_attempt(student, activity, total_questions=10, correct_questions=1)
    received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        corrections.correct_result(Result.objects.get(attempt=second), user=admin, reason="rubric", mastered_units=2)
    assert "mastered" not in received


@pytest.mark.django_db(transaction=True)
def test_a_late_completion_and_a_correction_of_its_sibling_do_not_deadlock(django_user_model):
    """Both lock the student first: the one that re-evaluates the chain and the one correcting a sibling."""
    import threading
    import time

    from django.db import connection

    from timeback_progress.gradebook.locking import lock_attempt

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs row locks")
    admin = django_user_model.objects.create(username="admin")
    student, activity = make_student(), make_activity(masterable_units=2)
    older, newer = attempts.start_attempt(student, activity), attempts.start_attempt(student, activity)
    attempts.complete_attempt(newer, total_questions=10, correct_questions=10)
    errors, locked_first = {}, threading.Event()

    def complete_older():  # as the API does: lock in the permission lookup, then the operation
        try:
            with transaction.atomic():
                locked = lock_attempt(older.pk, using="default")
                locked_first.set()
                time.sleep(0.5)  # the correction arrives meanwhile
                attempts.complete_attempt(locked, total_questions=10, correct_questions=10, locked=True)
        except Exception as exc:  # pragma: no cover - reported below
            errors["complete"] = exc
        finally:
            connections.close_all()

    def correct_newer():
        locked_first.wait()
        try:
            corrections.correct_result(Result.objects.get(attempt=newer), user=admin, reason="rubric", score=50)
        except Exception as exc:  # pragma: no cover - reported below
            errors["correct"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=complete_older), threading.Thread(target=correct_newer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    # Attempts count in completion order: the newer run, completed first, is attempt 1 and masters the units.
    by_attempt = Attempt.objects.filter(student=student).order_by("attempt_number")
    assert [(a.pk, a.mastered_units) for a in by_attempt] == [(newer.pk, 2), (older.pk, 0)]
