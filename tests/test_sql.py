"""The plain-SQL hot path returns what the ORM would, and locks what it says."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from timeback_progress import services, sql
from timeback_progress.models import Activity, Attempt, Course, Student, StudentProgress
from tests.plugins.factories import complete, make_activity, make_student

pytestmark = pytest.mark.django_db


def values(instance):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_attempt_for_write_matches_the_orm(student, activity, django_assert_num_queries):
    attempt = complete(student, activity, total=10, correct=Decimal("8.5"))
    Student.objects.filter(pk=student.pk).update(is_active=False)  # a boolean that SQLite stores as 0
    orm = Attempt.objects.select_related("student", "activity__course").get(pk=attempt.pk)
    with django_assert_num_queries(1):
        got = sql.attempt_for_write(attempt.pk)
        related = (got.student, got.activity, got.activity.course)  # loaded: no further queries
    assert values(got) == values(orm)
    for mine, theirs in zip(related, (orm.student, orm.activity, orm.activity.course)):
        assert values(mine) == values(theirs)
    assert isinstance(got.completed_at, type(timezone.now())) and timezone.is_aware(got.completed_at)
    assert got.correct_questions == Decimal("8.50") and got.student.is_active is False
    assert not got._state.adding and got._state.db == "default"


def test_attempt_for_write_unknown_pk_is_none(db):
    assert sql.attempt_for_write(10**9) is None


def test_new_fields_are_picked_up_from_meta(student, activity):
    """Columns come from ``_meta``: every concrete field of the four models is selected."""
    attempt = services.start_attempt(student, activity)
    statement = sql._attempt_sql(connection.vendor, False, False)
    for model in (Attempt, Student, Activity, Course):
        for field in model._meta.concrete_fields:
            assert connection.ops.quote_name(field.column) in statement
    assert sql.attempt_for_write(attempt.pk).student_id == student.pk


def test_upsert_progress_inserts_then_replaces(student, course):
    now = timezone.now()
    row = StudentProgress(student=student, course=course, xp_total=Decimal("12.50"), attempts_count=2, updated_at=now)
    sql.upsert_progress(row)
    row.xp_total, row.failed_streak, row.last_activity_at = Decimal("3.25"), 4, now
    sql.upsert_progress(row)
    stored = StudentProgress.objects.get(student=student, course=course)
    assert (stored.xp_total, stored.attempts_count, stored.failed_streak, stored.last_activity_at) == (
        Decimal("3.25"), 2, 4, now
    )
    assert StudentProgress.objects.count() == 1


def test_update_row_writes_only_the_named_fields(student, activity):
    attempt = complete(student, activity, total=10, correct=9)
    attempt.xp_earned, attempt.mastered_units, attempt.active_seconds = Decimal("7.25"), 1, 999
    sql.update_row(attempt, ("xp_earned", "mastered_units"))
    stored = Attempt.objects.get(pk=attempt.pk)
    assert (stored.xp_earned, stored.mastered_units) == (Decimal("7.25"), 1)
    assert stored.active_seconds == 300  # not named: untouched


def test_save_fields_sends_what_save_sends(student, activity):
    """Same signals, arguments and stamping as ``save(update_fields=...)``."""
    from django.db.models.signals import post_save, pre_save

    def capture(signal):
        seen = []

        def receiver(sender, **kwargs):
            seen.append({k: v for k, v in kwargs.items() if k != "signal"})

        signal.connect(receiver, sender=Attempt, weak=False)
        return seen, lambda: signal.disconnect(receiver, sender=Attempt)

    by_save, by_sql = [], []
    for out, write in ((by_save, lambda a, names: a.save(update_fields=names)), (by_sql, sql.save_fields)):
        attempt = services.start_attempt(student, activity)
        stamped = attempt.updated_at
        (pre, stop_pre), (post, stop_post) = capture(pre_save), capture(post_save)
        try:
            attempt.active_seconds = 42
            write(attempt, ("active_seconds", "updated_at"))
        finally:
            stop_pre(), stop_post()
        assert pre[0]["instance"] is attempt and post[0]["instance"] is attempt
        assert attempt.updated_at > stamped  # auto_now, as save() stamps it
        stored = Attempt.objects.get(pk=attempt.pk)
        assert (stored.active_seconds, stored.updated_at) == (42, attempt.updated_at)
        out.append([{k: v for k, v in d.items() if k != "instance"} for d in (*pre, *post)])
    assert by_sql == by_save  # raw, using, created, update_fields: the same


def test_save_fields_refuses_what_save_refuses(student, activity):
    attempt = services.start_attempt(student, activity)
    for names in (("id",), ("no_such_field",)):
        with pytest.raises(ValueError, match=names[0]):
            sql.save_fields(attempt, names)
    sql.save_fields(attempt, ())  # as save(update_fields=[]): nothing to do


def test_save_fields_error_marks_the_transaction_for_rollback(student, activity):
    """As save(): a caller that swallows the error cannot commit a half-done write."""
    from django.db import DatabaseError, IntegrityError

    attempt = services.start_attempt(student, activity)
    attempt.total_questions = -1  # a PositiveIntegerField: its CHECK constraint refuses it
    with pytest.raises(DatabaseError, match="current transaction"):  # the next query is refused
        with transaction.atomic():
            try:
                sql.save_fields(attempt, ("total_questions",))
            except IntegrityError:
                pass
            assert transaction.get_rollback()
            Attempt.objects.filter(pk=attempt.pk).update(active_seconds=1)
    assert Attempt.objects.get(pk=attempt.pk).active_seconds == 0


def test_save_fields_of_a_deleted_row_raises(student, activity):
    from django.db import DatabaseError

    attempt = services.start_attempt(student, activity)
    Attempt.objects.filter(pk=attempt.pk).delete()
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        sql.save_fields(attempt, ("active_seconds",))


def test_idempotency_record_matches_the_orm(django_user_model):
    from timeback_progress.models import IdempotencyRecord

    user = django_user_model.objects.create_user("app")
    body = {"xp": 9.5, "nested": {"ok": True}, "list": [1, "two"]}
    IdempotencyRecord.objects.create(
        user=user, key="k-1", method="POST", path="/p/", request_hash="h", response_status=201, response_body=body
    )
    got = sql.idempotency_record(user.pk, "k-1")
    assert values(got) == values(IdempotencyRecord.objects.get(key="k-1"))
    assert got.response_body == body and not got._state.adding
    assert sql.idempotency_record(user.pk, "k-2") is None


def test_completed_chain_is_in_attempt_order(student, activity):
    for correct in (5, 9, 10):
        complete(student, activity, total=10, correct=correct)
    services.start_attempt(student, activity)  # open: not in the chain
    assert [a.number for a in sql.completed_chain(student.pk, activity.pk)] == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_the_lock_holds_the_attempt_and_the_student():
    if not connection.features.has_select_for_update_nowait:
        pytest.skip("needs row locks (PostgreSQL)")
    student = make_student()
    attempt = services.start_attempt(student, make_activity())
    other_student = make_student()
    outcomes = {}

    def try_lock(name, model, pk):
        try:
            with transaction.atomic():
                list(model.objects.select_for_update(nowait=True).filter(pk=pk))
            outcomes[name] = "free"
        except Exception as exc:  # the backend's "could not obtain lock"
            outcomes[name] = type(exc).__name__
        finally:
            connections.close_all()

    with transaction.atomic():
        sql.attempt_for_write(attempt.pk, lock=True)
        for name, model, pk in (("attempt", Attempt, attempt.pk), ("student", Student, student.pk),
                                ("other", Student, other_student.pk)):
            thread = threading.Thread(target=try_lock, args=(name, model, pk))
            thread.start()
            thread.join()
    assert outcomes["attempt"] != "free" and outcomes["student"] != "free"
    assert outcomes["other"] == "free"


def test_insert_rows_in_batches_and_skipping_conflicts(db, monkeypatch):
    from timeback_progress.models import Delivery

    rows = [Delivery(kind="caliper_event", key=f"k{i}", payload={"n": i, "list": [i, None]}) for i in range(7)]
    monkeypatch.setattr(connection.ops, "bulk_batch_size", lambda fields, objs: 3)  # several statements
    sql.insert_rows(rows)
    again = [Delivery(kind="caliper_event", key="k3", payload={"n": "other"}), Delivery(kind="result", key="new")]
    sql.insert_rows(again, ignore_conflicts=True)  # k3 waits already (one waiting row per key): skipped
    stored = {d.key: d for d in Delivery.objects.all()}
    assert sorted(stored) == sorted([f"k{i}" for i in range(7)] + ["new"])
    assert stored["k3"].payload == {"n": 3, "list": [3, None]}
    assert stored["k5"].status == "pending" and stored["k5"].created_at is not None
    sql.insert_rows([])  # nothing to do


@pytest.mark.parametrize("daily", [False, True])
def test_one_statement_progress_matches_the_step_by_step_one(student, course, monkeypatch, daily):
    """PostgreSQL's single statement and the portable path store the same figures (rounding included)."""
    from timeback_progress.models import DailyProgress

    if connection.vendor not in services.ONE_STATEMENT_PROGRESS:
        pytest.skip("PostgreSQL only")
    when = timezone.now()
    for i, (total, correct) in enumerate([(10, Decimal("8.5")), (3, 2), (800, 1), (7, 0), (0, 0)]):
        act = make_activity(course, masterable_units=1)
        complete(student, act, total=total, correct=correct, completed_at=when + timedelta(seconds=i))
    services.start_attempt(student, make_activity(course))  # open: counts towards attempts and time

    def stored():
        progress = values(StudentProgress.objects.get(student=student, course=course))
        progress.pop("id"), progress.pop("updated_at")
        days = list(DailyProgress.objects.filter(student=student, course=course).values("day", "xp", "completed_count", "active_seconds"))
        return progress, days

    def rebuilt():
        StudentProgress.objects.all().delete()
        DailyProgress.objects.all().delete()
        services.recompute_progress(student.pk, course.pk, day=when if daily else None, daily=daily)
        return stored()

    one_statement = rebuilt()
    monkeypatch.setattr(services, "ONE_STATEMENT_PROGRESS", ())
    assert rebuilt() == one_statement
    assert bool(one_statement[1]) is daily
    assert one_statement[0]["failed_streak"] > 0 and one_statement[0]["accuracy"] is not None


def test_the_chain_comes_with_the_attempt_when_asked(student, activity, django_assert_num_queries):
    first = complete(student, activity, total=10, correct=5)  # failed
    services.start_attempt(student, activity)  # open, not part of the chain
    third = services.start_attempt(student, activity)
    fourth_done_early = complete(student, activity, total=10, correct=10)  # completed before the third
    with django_assert_num_queries(1):
        got = sql.attempt_for_write(third.pk, chain=True)
    assert got.pk == third.pk
    assert [a.number for a in got._completed_siblings] == [first.number, fourth_done_early.number]
    assert all(a.activity is got.activity and a.student is got.student for a in got._completed_siblings)
    # Completing through the preloaded chain re-evaluates it as the queried one would:
    # the third attempt passes before the fourth (by number), so mastery moves to it.
    services.complete_attempt(got, total_questions=10, correct_questions=9, locked=True)
    third.refresh_from_db()
    fourth_done_early.refresh_from_db()
    assert (third.mastered_units, fourth_done_early.mastered_units) == (1, 0)
    assert sql.attempt_for_write(10**9, chain=True) is None


def test_insert_row_returns_the_pk_and_stands_for_the_row(student, activity):
    from timeback_progress.models import Result

    attempt = services.start_attempt(student, activity)
    row = Result(sourced_id="r-1", attempt=attempt, student=student, line_item_sourced_id="li", score=Decimal("85.50"),
                 score_date=timezone.now(), metadata={"xp": 1.5, "units": [1, None]})
    assert sql.insert_row(row) is row and row.pk and not row._state.adding
    stored = Result.objects.get(pk=row.pk)
    assert (stored.sourced_id, stored.score, stored.metadata) == ("r-1", Decimal("85.50"), {"xp": 1.5, "units": [1, None]})
    assert stored.created_at is not None and stored.updated_at is not None
