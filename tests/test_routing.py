"""The app writes where ``DATABASE_ROUTERS`` sends its models, every statement of an operation on one alias."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from timeback_progress.gradebook import attempts, corrections
from timeback_progress.models import ActivityProgress, Delivery, Result, StudentProgress
from tests.plugins.factories import make_activity, make_student

APP = "timeback_progress"


class GradebookRouter:
    """Sends the app's models to the "gradebook" alias (a mirror of "default" in tests/settings.py)."""

    def db_for_read(self, model, **hints):
        return "gradebook" if model._meta.app_label == APP else None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return True


@pytest.mark.django_db(transaction=True, databases=["default", "gradebook"])
def test_operations_run_on_the_routed_database_only(settings, django_user_model):
    student, activity = make_student(), make_activity(masterable_units=2)
    admin = django_user_model.objects.create(username="admin")
    settings.DATABASE_ROUTERS = [f"{__name__}.GradebookRouter"]
    default, routed = connections["default"], connections["gradebook"]
    with CaptureQueriesContext(default) as on_default, CaptureQueriesContext(routed) as on_routed:
        attempt = attempts.start_attempt(student, activity)
        attempts.add_time(attempt, active_seconds=30)
        attempts.complete_attempt(attempt, total_questions=10, correct_questions=10)
        attempts.record_attempt(student, activity, total_questions=10, correct_questions=7)
        corrections.correct_result(Result.objects.get(attempt=attempt), user=admin, reason="rubric", correct_questions=9)
    assert [q["sql"] for q in on_default.captured_queries] == []
    statements = " ".join(q["sql"] for q in on_routed.captured_queries)
    for model in (Result, Delivery, ActivityProgress, StudentProgress):
        assert model._meta.db_table in statements
    assert StudentProgress.objects.get(student=student).completed_count == 2


@pytest.mark.django_db(transaction=True, databases=["default", "gradebook"])
def test_the_outbox_claims_and_flushes_on_the_routed_database(settings):
    """Claims and idle-time flushes lock rows: their transaction must be on the alias the rows live on."""
    from datetime import timedelta

    from django.utils import timezone

    from timeback_progress.outbox import sending, writing

    student, activity = make_student(), make_activity()
    settings.DATABASE_ROUTERS = [f"{__name__}.GradebookRouter"]
    attempt = attempts.start_attempt(student, activity)
    attempts.add_time(attempt, active_seconds=5)
    later = timezone.now() + timedelta(hours=1)
    with CaptureQueriesContext(connections["default"]) as on_default:
        assert writing.flush_idle_time(now=later) == 1
        assert [row.kind for row in sending.claim(10, now=later)] == ["caliper_event"]
    assert on_default.captured_queries == []
