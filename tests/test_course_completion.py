"""The course's mastery-completion entry (docs/semantics/course-completion.md).

A student who masters every masterable unit of a course gets
``StudentProgress.course_completed_at`` and, through the real outbox, exactly
one completion line item (linked to the course's component resource) and one
result at the sandbox; a correction below 100% withdraws it (``tobedeleted``);
the fast path and a rebuild agree on it after every step.
"""

import random
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from timeback_progress.gradebook import attempts, corrections, derivation
from timeback_progress.models import Attempt, Course, Delivery, Result, StudentProgress
from timeback_progress.outbox import completion, sending
from tests.plugins.factories import complete, make_activity, make_course, make_student
from tests.test_gradebook import assert_rows_equal_a_rebuild

pytestmark = pytest.mark.django_db

BASE = timezone.now().replace(microsecond=0) - timedelta(days=3)


def course_of(units=3, **kw):
    """A course of ``units`` one-unit activities, each with a component resource of its own."""
    course = make_course(masterable_units=units, **kw)
    activities = [
        make_activity(course, app_name="Math App", component_resource_sourced_id=f"{course.sourced_id}-res-{i}")
        for i in range(units)
    ]
    return course, activities


def master_all(student, activities, *, start=BASE):
    """Pass every activity once, an hour apart; returns the attempts."""
    return [complete(student, a, correct=9, completed_at=start + timedelta(hours=i)) for i, a in enumerate(activities)]


def completion_rows(**filters):
    return Delivery.objects.filter(payload__has_key=completion.REF, **filters)


def completed_at(student, course):
    return StudentProgress.objects.get(student=student, course=course).course_completed_at


def ids(course, student):
    return completion.line_item_sourced_id(course.sourced_id), completion.result_sourced_id(course.sourced_id, student.sourced_id)


@pytest.fixture
def live(sandbox, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True, "BACKOFF_BASE_SECONDS": 0.0}
    return sandbox


def deliver():
    summary = sending.deliver_due()
    assert summary.dead == 0 and summary.retrying == 0 and summary.deferred == 0
    return summary


@pytest.fixture
def corrector(django_user_model):
    return django_user_model.objects.create(username="corrector")


def test_mastering_every_unit_sends_one_completion_entry(live):
    course, activities = course_of(3, title="Fractions")
    student = make_student()
    *first, last = master_all(student, activities)
    assert completed_at(student, course) == last.completed_at
    assert completion_rows().count() == 2  # the line item and the student's result
    deliver()
    # Repeated saves, a re-attempt and a recalculation: the student stays at 100%, nothing more is written.
    Attempt.objects.get(pk=last.pk).save()
    complete(student, activities[0], correct=10, completed_at=BASE + timedelta(days=1))
    derivation.recalculate_attempts(Attempt.objects.filter(student=student))
    assert completion_rows().count() == 2
    deliver()

    item_id, result_id = ids(course, student)
    assert live.state.line_items[item_id] == {
        "sourcedId": item_id, "status": "active", "title": "Math App: Complete",
        "course": {"sourcedId": course.sourced_id}, "componentResource": {"sourcedId": f"{course.sourced_id}-cr"},
        "resultValueMin": 0, "resultValueMax": 100, "metadata": {"appName": "Math App"},
    }
    stamp = last.completed_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert live.state.results[result_id] == {
        "sourcedId": result_id, "status": "active", "assessmentLineItem": {"sourcedId": item_id},
        "student": {"sourcedId": student.sourced_id}, "score": 100, "scoreStatus": "fully graded", "scoreDate": stamp,
        "metadata": {"isMasteryCompletion": True, "appName": "Math App", "completedAt": stamp},
    }
    # Only the completion entry is linked: the activities' own line items are not (the default).
    linked = [li["sourcedId"] for li in live.state.line_items.values() if "componentResource" in li]
    assert linked == [item_id]
    assert len(live.state.line_items) == 1 + len(activities)
    assert sum(bool(r["metadata"].get("isMasteryCompletion")) for r in live.state.results.values()) == 1


def test_a_course_s_own_component_resource_and_a_second_student(live):
    course, activities = course_of(2)
    course.component_resource_sourced_id = "fractions-cr-custom"
    course.save()
    students = [make_student(), make_student()]
    for student in students:
        master_all(student, activities)
    assert completion_rows(kind=Delivery.Kind.LINE_ITEM).count() == 1  # once per course
    assert completion_rows(kind=Delivery.Kind.RESULT).count() == 2  # once per student
    deliver()
    item_id = completion.line_item_sourced_id(course.sourced_id)
    assert live.state.line_items[item_id]["componentResource"] == {"sourcedId": "fractions-cr-custom"}
    assert {ids(course, s)[1] for s in students} <= set(live.state.results)


def test_the_seed_s_linked_form_is_a_setting(live, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "LINK_COMPONENT_RESOURCE": True}
    course, activities = course_of(2)
    master_all(make_student(), activities)
    deliver()
    for activity in activities:
        assert live.state.line_items[activity.line_item_sourced_id]["componentResource"] == {
            "sourcedId": activity.component_resource_sourced_id}
    assert "componentResource" in live.state.line_items[completion.line_item_sourced_id(course.sourced_id)]


def test_a_correction_below_100_percent_withdraws_the_entry_and_one_back_restores_it(live, corrector):
    course, activities = course_of(3)
    student = make_student()
    done = master_all(student, activities)
    deliver()
    item_id, result_id = ids(course, student)
    assert live.state.results[result_id]["status"] == "active"

    middle = Result.objects.get(attempt=done[1])
    corrections.correct_result(middle, user=corrector, reason="copied", mastered_units=0)
    assert completed_at(student, course) is None
    assert completion_rows(kind=Delivery.Kind.RESULT, status="pending").count() == 1
    deliver()
    withdrawn = live.state.results[result_id]
    assert withdrawn["status"] == "tobedeleted" and withdrawn["score"] == 100
    assert "completedAt" not in withdrawn["metadata"]

    corrections.correct_result(middle, user=corrector, reason="not copied after all", mastered_units=1)
    assert completed_at(student, course) == done[-1].completed_at  # the attempt that completed it, again
    deliver()
    assert live.state.results[result_id]["status"] == "active"
    assert completion_rows(kind=Delivery.Kind.LINE_ITEM).count() == 1


def test_a_late_completion_dates_the_entry_by_completion_order():
    """Backdated: the unit completed last *in time* is the one that completed the course."""
    course, activities = course_of(3)
    student = make_student()
    complete(student, activities[0], correct=9, completed_at=BASE)
    complete(student, activities[1], correct=9, completed_at=BASE + timedelta(hours=5))
    complete(student, activities[2], correct=9, completed_at=BASE + timedelta(hours=1))  # reported late
    assert completed_at(student, course) == BASE + timedelta(hours=5)
    assert_rows_equal_a_rebuild()


def test_no_masterable_units_never_completes_and_caliper_process_writes_no_entry(settings):
    empty = make_course(masterable_units=0)
    complete(make_student(), make_activity(empty), correct=10)
    assert StudentProgress.objects.get(course=empty).course_completed_at is None
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "CALIPER_PROCESS": True}
    course, activities = course_of(2)
    student = make_student()
    master_all(student, activities)
    assert completed_at(student, course) is not None  # the app's own figure
    assert not completion_rows().exists()  # Timeback builds the gradebook itself then


def test_the_fast_path_reads_nothing_more_until_the_course_completes():
    """A mastering completion that leaves the course below 100% costs what a failed one does."""
    course, activities = course_of(4)
    student = make_student()
    complete(student, activities[0], correct=9, completed_at=BASE)
    counts = {}
    course_table = f'FROM "{Course._meta.db_table}"'
    for name, activity, correct in (("failed", activities[1], 2), ("mastered", activities[2], 9)):
        with CaptureQueriesContext(connection) as ctx:
            complete(student, activity, correct=correct, completed_at=BASE + timedelta(hours=len(counts) + 1))
        counts[name] = len(ctx.captured_queries)
        assert not [q for q in ctx.captured_queries if course_table in q["sql"]]  # the course came with the activity
    complete(student, activities[3], correct=9, completed_at=BASE + timedelta(hours=4))
    assert completed_at(student, course) is None  # 3 of 4 mastered: 75%
    with CaptureQueriesContext(connection) as ctx:
        complete(student, activities[1], correct=9, completed_at=BASE + timedelta(hours=5))
    counts["completing"] = len(ctx.captured_queries)
    print(f"queries per completion: {counts}")
    assert counts["mastered"] == counts["failed"]
    assert completed_at(student, course) == BASE + timedelta(hours=5)
    assert counts["completing"] <= counts["mastered"] + 2  # the outbox look-up and its insert


def test_what_operations_add_equals_a_rebuild_across_completions_and_withdrawals(corrector):
    """Random completions (in and out of time order), re-attempts, saves and mastery corrections
    on a small course; ``course_completed_at`` is held against a rebuild after every step."""
    rng = random.Random(16)
    course = make_course(masterable_units=4)
    activities = [make_activity(course, masterable_units=units) for units in (1, 1, 2)]
    students = [make_student() for _ in range(3)]
    reached = withdrawn = 0
    for step in range(90):
        student, activity = rng.choice(students), rng.choice(activities)
        when = BASE + timedelta(hours=rng.randint(0, 48))  # out of order on purpose
        before = StudentProgress.objects.filter(student=student, course=course).values_list("course_completed_at", flat=True).first()
        roll = rng.random()
        if roll < 0.35:
            total = rng.randint(1, 10)
            complete(student, activity, total=total, correct=rng.randint(total // 2, total), completed_at=when)
        elif roll < 0.45:
            attempt = attempts.start_attempt(student, activity, started_at=when - timedelta(minutes=5))
            attempts.complete_attempt(attempt, total_questions=10, correct_questions=rng.choice([5, 9, 10]), completed_at=when)
        elif roll < 0.55 and Attempt.objects.filter(student=student).exists():
            plain = rng.choice(list(Attempt.objects.filter(student=student)))
            plain.save()
        elif roll < 0.8:
            # Take the unit back at one activity: every attempt that masters it, until none does.
            chain = Result.objects.filter(student=student, attempt__activity=activity).select_related("attempt__activity")
            while (mastering := chain.filter(attempt__mastered_units__gt=0).first()) is not None:
                corrections.correct_result(mastering, user=corrector, reason="copied", mastered_units=0)
        elif Result.objects.filter(student=student).exists():
            # Give a unit back (an override pins the attempt's figure).
            result = rng.choice(list(Result.objects.filter(student=student).select_related("attempt__activity")))
            units = result.attempt.activity.masterable_units
            corrections.correct_result(result, user=corrector, reason="review", mastered_units=units)
        after = StudentProgress.objects.filter(student=student, course=course).values_list("course_completed_at", flat=True).first()
        reached += before is None and after is not None
        withdrawn += before is not None and after is None
        assert_rows_equal_a_rebuild()
        # Every student at 100% has a completion result in the outbox.
        complete_now = StudentProgress.objects.filter(course=course, course_completed_at__isnull=False)
        for row in complete_now.select_related("student"):
            assert completion_rows(key=f"result:{ids(course, row.student)[1]}").exists()
    print(f"course completions reached {reached}, withdrawn {withdrawn}")
    assert reached >= 3 and withdrawn >= 2, (reached, withdrawn)
    assert completion_rows(kind=Delivery.Kind.LINE_ITEM).count() == 1


def test_a_result_waits_for_the_completion_line_item_and_is_released_by_it(live):
    """A completion result never goes before its line item: claimed alone, it is deferred;
    sending the line item makes it due at once (not after its wait)."""
    course, activities = course_of(1)
    student = make_student()
    master_all(student, activities)
    item_id, result_id = ids(course, student)
    item = Delivery.objects.filter(key=f"lineitem:{item_id}")
    item.update(next_attempt_at=timezone.now() + timedelta(hours=1))
    summary = sending.deliver_due()
    assert summary.deferred == 1 and item_id not in live.state.line_items
    assert not live.state.rejections
    item.update(next_attempt_at=timezone.now())  # the result still waits its DEFER_SECONDS
    sending.deliver_due()
    assert item_id in live.state.line_items and result_id in live.state.results
    assert not Delivery.objects.exclude(status="sent").exists()


def test_correct_questions_change_the_figure_only_through_mastery(corrector):
    """XP moves never complete or withdraw a course: only mastered units do."""
    course, activities = course_of(2)
    student = make_student()
    done = master_all(student, activities)
    corrections.correct_result(Result.objects.get(attempt=done[0]), user=corrector, reason="bonus", xp=Decimal(50))
    assert completed_at(student, course) == done[-1].completed_at


def test_a_recalculation_backfills_a_completion_from_before_the_column():
    """Existing installs: rows from before migration 0004 have no moment; recalculating sets it and writes the entry."""
    course, activities = course_of(2)
    student = make_student()
    done = master_all(student, activities)
    StudentProgress.objects.filter(student=student).update(course_completed_at=None)
    completion_rows().delete()
    derivation.recalculate_attempts(Attempt.objects.filter(course=course))
    assert completed_at(student, course) == done[-1].completed_at
    assert completion_rows().count() == 2
