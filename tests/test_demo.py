"""The example project's demo loader (``project/demo``): safe by default.

``--reset`` refuses unless DEBUG is on or ``--force`` is given, deletes only
the rows the demo marked as its own, never a user or a result correction it
did not make, and the demo never turns someone else's user into its superuser.
"""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from project.demo.models import DemoRecord
from timeback_progress.gradebook import attempts
from timeback_progress.models import Activity, Attempt, Course, Delivery, Result, ResultCorrection, Student
from tests.plugins.factories import make_activity, make_course, make_student

pytestmark = pytest.mark.django_db

User = get_user_model()


def demo(*args, **options):
    out = io.StringIO()
    call_command("timeback_demo", *args, students=1, days=3, seed=5, stdout=out, **options)
    return out.getvalue()


def counts():
    return {model.__name__: model.objects.count()
            for model in (User, Course, Student, Activity, Attempt, Result, Delivery, ResultCorrection, DemoRecord)}


def someone_elses_world():
    """A host user, course, student, graded attempt and a correction of its result: none of it the demo's."""
    alice = User.objects.create_user("alice", "alice@example.com", "pw")
    activity = make_activity(course=make_course(sourced_id="host-course"))
    attempt = attempts.record_attempt(make_student(sourced_id="host-student"), activity, total_questions=10,
                                      correct_questions=9, active_seconds=600)
    correction = ResultCorrection.objects.create(result=attempt.result, corrected_by=alice, reason="regraded",
                                                 before={"score": 90}, after={"score": 95})
    return alice, correction


def test_the_demo_marks_what_it_makes():
    demo()
    assert set(User.objects.filter(pk__in=DemoRecord.objects.values("user")).values_list("username", flat=True)) == {
        "admin", "teacher1", "teacher2", "teacher3", "student1"}
    assert DemoRecord.objects.exclude(course=None).count() == 3
    assert DemoRecord.objects.exclude(student=None).count() == Student.objects.count() == 3
    assert Attempt.objects.exists() and Delivery.objects.exists()


def test_a_second_run_without_reset_changes_nothing():
    demo()
    before = counts()
    assert "loaded already" in demo()
    assert counts() == before


def test_reset_refuses_without_debug_or_force(settings):
    settings.DEBUG = False
    demo()
    before = counts()
    with pytest.raises(CommandError, match=r"only with DEBUG on .* or with --force"):
        demo("--reset")
    assert counts() == before


@pytest.mark.parametrize("debug, flags", [(True, ()), (False, ("--force",))])
def test_reset_recreates_the_demo_with_debug_or_force(settings, debug, flags):
    settings.DEBUG = debug
    demo()
    before = counts()
    first_admin = User.objects.get(username="admin").pk
    demo("--reset", *flags)
    assert counts() == before
    assert User.objects.get(username="admin").pk != first_admin  # made again, not kept


def test_reset_keeps_users_and_audit_rows_it_did_not_make(settings):
    settings.DEBUG = True
    alice, correction = someone_elses_world()
    demo()
    demo("--reset")
    assert User.objects.filter(pk=alice.pk).exists()
    assert ResultCorrection.objects.filter(pk=correction.pk, corrected_by=alice).exists()
    assert Course.objects.filter(sourced_id="host-course").exists()
    assert Student.objects.filter(sourced_id="host-student").exists()
    assert Result.objects.filter(pk=correction.result_id).exists()
    assert DemoRecord.objects.exclude(course=None).count() == 3


def test_reset_refuses_to_touch_a_correction_of_demo_data(settings):
    settings.DEBUG = True
    demo()
    alice = User.objects.create_user("alice", "alice@example.com", "pw")
    result = Result.objects.filter(student__sourced_id="student-123").first()
    ResultCorrection.objects.create(result=result, corrected_by=alice, reason="regraded", before={}, after={})
    before = counts()
    with pytest.raises(CommandError, match="nothing deleted: 1 result correction"):
        demo("--reset")
    assert counts() == before


def test_reset_refuses_when_a_demo_user_made_a_correction_elsewhere(settings):
    """Deleting the demo's admin would blank ``corrected_by`` on someone else's audit row."""
    settings.DEBUG = True
    _alice, correction = someone_elses_world()
    demo()
    ResultCorrection.objects.create(result=correction.result, corrected_by=User.objects.get(username="admin"),
                                    reason="again", before={}, after={})
    before = counts()
    with pytest.raises(CommandError, match="nothing deleted"):
        demo("--reset")
    assert counts() == before


@pytest.mark.parametrize("flags", [(), ("--reset",)])
def test_never_makes_a_superuser_of_someone_elses_user(settings, flags):
    settings.DEBUG = True
    admin = User.objects.create_user("admin", "owner@example.com", "owner-password")
    before = counts()
    with pytest.raises(CommandError, match="user 'admin'"):
        demo(*flags)
    admin.refresh_from_db()
    assert not admin.is_superuser and admin.check_password("owner-password") and admin.email == "owner@example.com"
    assert counts() == before


def test_refuses_to_load_over_a_course_it_did_not_make():
    make_course(sourced_id="math-grade-5", title="Rostered math")
    before = counts()
    with pytest.raises(CommandError, match="course 'math-grade-5'"):
        demo()
    assert counts() == before
    assert Course.objects.get(sourced_id="math-grade-5").title == "Rostered math"
