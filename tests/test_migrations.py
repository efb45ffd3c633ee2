"""Migration 0003 fills ActivityProgress from the attempts and heals the course rows, as a rebuild would."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.plugins.factories import make_activity, make_course, make_student
from tests.test_gradebook import progress_rows, rebuild_everything
from timeback_progress.gradebook import attempts

APP = "timeback_progress"


def migrate(target):
    """Migrate to ``target``; returns the models as they were there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor.migrate([(APP, target)]).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes(APP)[0][1]


@pytest.mark.django_db(transaction=True)
def test_migration_0003_gives_the_rows_a_rebuild_gives():
    course = make_course()
    activities = [make_activity(course, masterable_units=1), make_activity(course, masterable_units=2, is_graded=False)]
    students = [make_student(), make_student()]
    base = timezone.now() - timedelta(days=2)
    for i in range(12):
        student, activity = students[i % 2], activities[(i // 2) % 2]
        if i % 3 == 0:
            attempts.start_attempt(student, activity, started_at=base + timedelta(hours=i))
        else:
            attempts.record_attempt(student, activity, total_questions=i % 5, correct_questions=(i % 5) // 2,
                                    active_seconds=7 * i, completed_at=base + timedelta(hours=i))
    rebuild_everything()
    want = progress_rows()
    old = migrate("0002_attempt_time_windows")
    # Totals an earlier version left stale are healed by the migration.
    old.get_model(APP, "StudentProgress").objects.filter(student_id=students[0].pk).update(
        xp_total=Decimal(999), attempts_count=0
    )
    migrate("0003_activity_progress")
    migrate(latest())
    assert progress_rows() == want


@pytest.mark.django_db(transaction=True)
def test_migration_0004_keeps_the_attempt_numbers_timeback_was_sent():
    """Completed attempts keep their run number as their attempt until ``timeback_renumber_attempts`` recounts."""
    course = make_course()
    activity = make_activity(course)
    student = make_student()
    attempts.start_attempt(student, activity)  # abandoned: before 0004 it made the next one attempt 2
    attempts.record_attempt(student, activity, total_questions=10, correct_questions=10)
    open_run = attempts.start_attempt(student, activity)
    migrate("0003_activity_progress")
    migrate(latest())
    from timeback_progress.models import Attempt

    assert sorted(Attempt.objects.values_list("number", "attempt_number")) == [(1, None), (2, 2), (3, None)]
    assert Attempt.objects.get(pk=open_run.pk).attempt_number is None


@pytest.mark.django_db(transaction=True)
def test_migration_0005_fills_the_day_rows_a_rebuild_gives_and_goes_back():
    """The window figures of days completed before 0005 come from the attempts, as ``rebuild_days`` writes them."""
    course = make_course()
    activities = [make_activity(course, masterable_units=2), make_activity(course, masterable_units=0)]
    students = [make_student(), make_student()]
    base = timezone.now() - timedelta(days=3)
    for i in range(10):
        attempts.record_attempt(students[i % 2], activities[i % 3 % 2], total_questions=i % 4,
                                correct_questions=Decimal(i % 4) / (1 + i % 2), active_seconds=11 * i, inactive_seconds=i,
                                completed_at=base + timedelta(hours=7 * i))
    attempts.start_attempt(students[0], activities[0])  # open: in no day row
    want = progress_rows()
    # The new sums (the last four columns) are not all zero.
    assert all(any(row[n] for row in want["DailyProgress"]) for n in (-4, -3, -2, -1)), want["DailyProgress"]
    old = migrate("0004_timeback_semantics")
    Daily = old.get_model(APP, "DailyProgress")
    assert "mastered_units" not in {f.name for f in Daily._meta.get_fields()}
    # A day an earlier version never wrote is healed whole.
    Daily.objects.filter(student_id=students[1].pk).order_by("day").first().delete()
    migrate(latest())
    assert progress_rows() == want
