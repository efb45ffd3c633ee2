"""Counting, correcting and completing the way Timeback does (issue 16).

The vendor's server SDK (``timeback-sdk`` 0.4.0) is the reference: attempts are
counted from completed results (``handlers/activity/attempts.py``), a
completion carries ``pctCompleteApp`` (``handlers/activity/submit.py``), and
question counts are whole numbers (``handlers/activity/schema.py``).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from timeback_progress.gradebook import attempts, corrections
from timeback_progress.models import Attempt, Delivery, Result
from tests.plugins.factories import complete, make_activity, make_course

pytestmark = pytest.mark.django_db


def activity_events(attempt):
    rows = Delivery.objects.filter(kind="caliper_event", attempt=attempt, payload__type="ActivityEvent")
    return [row.payload for row in rows.order_by("id")]


def metrics(event):
    return {item["type"]: item["value"] for item in event["generated"]["items"]}


@pytest.fixture
def quiz(course):
    return make_activity(course, expected_xp=Decimal(10), masterable_units=1)


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create(username="boss")


# -- 1. attempts as Timeback counts them ----------------------------------------


def test_an_abandoned_start_costs_no_xp(student, quiz):
    attempts.start_attempt(student, quiz)  # opened, tab closed
    run = attempts.start_attempt(student, quiz)
    attempts.complete_attempt(run, total_questions=10, correct_questions=10)
    run.refresh_from_db()
    assert (run.number, run.attempt_number) == (2, 1)
    assert (run.multiplier, run.xp_earned) == (Decimal("1.25"), Decimal("12.50"))
    assert Result.objects.get(attempt=run).metadata["attempt"] == 1
    [event] = activity_events(run)
    assert event["generated"]["attempt"] == 1


def test_a_failed_completion_counts_as_an_attempt(student, quiz):
    """As in the vendor's SDK: every completed result counts, failed ones too."""
    first = complete(student, quiz, correct=5)
    second = complete(student, quiz, correct=10)
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.attempt_number, first.xp_earned) == (1, 0)
    assert (second.attempt_number, second.multiplier, second.xp_earned) == (2, Decimal("0.50"), Decimal("5.00"))


def test_attempts_are_numbered_in_the_order_they_were_completed(student, quiz):
    """An older run completed after a newer one is the later attempt; a back-dated one moves the chain."""
    older = attempts.start_attempt(student, quiz)
    newer = attempts.start_attempt(student, quiz)
    attempts.complete_attempt(newer, total_questions=10, correct_questions=10)
    attempts.complete_attempt(older, total_questions=10, correct_questions=10)
    older.refresh_from_db(), newer.refresh_from_db()
    assert (newer.attempt_number, newer.xp_earned) == (1, Decimal("12.50"))
    assert (older.attempt_number, older.xp_earned) == (2, Decimal("5.00"))
    # A run completed (back-dated) before both becomes attempt 1: the others move, as corrections.
    early = attempts.start_attempt(student, quiz, started_at=timezone.now() - timedelta(hours=2))
    attempts.complete_attempt(early, total_questions=10, correct_questions=9,
                              completed_at=timezone.now() - timedelta(hours=1))
    numbers = dict(Attempt.objects.filter(student=student).values_list("pk", "attempt_number"))
    assert (numbers[early.pk], numbers[newer.pk], numbers[older.pk]) == (1, 2, 3)
    newer.refresh_from_db()
    assert newer.xp_earned == Decimal("5.00")
    [completion, correction] = activity_events(newer)
    assert metrics(correction) == {"xpEarned": -7.5, "masteredUnits": -1}  # mastery moved to the early run
    assert correction["generated"]["attempt"] == 2


def test_the_fast_path_and_the_chain_agree_on_numbers(student, quiz):
    attempts.start_attempt(student, quiz)
    runs = [complete(student, quiz, correct=c) for c in (6, 9, 10)]
    attempts.start_attempt(student, quiz)
    runs.append(complete(student, quiz, correct=10))
    fast = {a.pk: (a.attempt_number, a.xp_earned, a.mastered_units) for a in Attempt.objects.filter(student=student)}
    from timeback_progress.gradebook.derivation import recalculate_attempts

    recalculate_attempts(Attempt.objects.filter(student=student))
    again = {a.pk: (a.attempt_number, a.xp_earned, a.mastered_units) for a in Attempt.objects.filter(student=student)}
    assert fast == again
    assert [fast[r.pk][0] for r in runs] == [1, 2, 3, 4]


# -- 2. corrections as deltas -----------------------------------------------------


def test_mastery_corrections_reach_caliper_as_differences(student, quiz, boss):
    first = complete(student, quiz, correct=9)  # mastered 1
    result = Result.objects.get(attempt=first)
    corrections.correct_result(result, user=boss, reason="copied answers", mastered_units=0)
    corrections.correct_result(result, user=boss, reason="cleared on review", mastered_units=1)
    events = activity_events(first)
    assert [metrics(e)["masteredUnits"] for e in events] == [1, -1, 1]
    assert [metrics(e)["xpEarned"] for e in events] == [10, 0, 0]
    assert len({e["id"] for e in events}) == 3
    assert [e.get("extensions", {}).get("isCorrection", False) for e in events] == [False, True, True]
    # Timeback's sums equal the app's.
    first.refresh_from_db()
    assert sum(metrics(e)["masteredUnits"] for e in events) == first.mastered_units == 1


def test_a_correction_that_changes_nothing_timeback_holds_sends_no_event(student, quiz, boss):
    first = complete(student, quiz, correct=9)
    corrections.correct_result(Result.objects.get(attempt=first), user=boss, reason="rubric", score=95)
    assert len(activity_events(first)) == 1


def test_correction_ids_are_deterministic_per_correction(student, quiz, boss):
    first = complete(student, quiz, correct=9)
    corrections.correct_result(Result.objects.get(attempt=first), user=boss, reason="a", xp=3)
    first.refresh_from_db()
    assert activity_events(first)[1]["id"] == f"urn:uuid:{first.derived_uuid('xp-correction/0')}"


# -- 3. passive activities, 8. fractional answers, 4. pctCompleteApp ------------------


def test_a_watched_video_is_done_not_failed(student, course):
    video = make_activity(course, name="Intro video", is_graded=False, masterable_units=0)
    run = complete(student, video, total=0, correct=0, active=600)
    run.refresh_from_db()
    assert run.accuracy is None and run.xp_earned == 0
    result = Result.objects.get(attempt=run)
    assert (result.score, result.text_score, result.score_status) == (None, "completed", "fully graded")
    assert result.metadata == {"xp": 0.0, "masteredUnits": 0, "attempt": 1, "passive": True, "activeSeconds": 600}
    [event] = activity_events(run)
    assert metrics(event) == {"xpEarned": 0}  # no question counts, as the vendor leaves out absent metrics


def test_partial_credit_is_exact_in_the_result_and_whole_in_caliper(student, quiz):
    run = complete(student, quiz, total=10, correct=Decimal("8.5"))
    result = Result.objects.get(attempt=run)
    assert (result.metadata["correctQuestions"], result.metadata["accuracy"]) == (8.5, 85.0)
    [event] = activity_events(run)
    assert (metrics(event)["correctQuestions"], metrics(event)["totalQuestions"]) == (8, 10)


def test_completions_carry_the_course_share(student):
    course = make_course(masterable_units=3)
    units = [make_activity(course, masterable_units=1) for _ in range(3)]
    shares = []
    for activity in units:
        run = complete(student, activity, correct=9)
        shares.append(activity_events(run)[0]["generated"]["extensions"]["pctCompleteApp"])
    assert shares == [33, 67, 100]
    # A second pass at a mastered unit masters nothing new: still 100, never more.
    again = complete(student, units[0], correct=10)
    assert activity_events(again)[0]["generated"]["extensions"]["pctCompleteApp"] == 100


def test_no_share_without_masterable_units(student):
    course = make_course(masterable_units=0)
    run = complete(student, make_activity(course, masterable_units=0))
    assert "extensions" not in activity_events(run)[0]["generated"]


def test_an_attempt_saved_anywhere_is_counted_the_same_way(student, quiz):
    """The post_save path (admin, shell) numbers like the app's own operations."""
    Attempt.objects.create(student=student, activity=quiz)  # abandoned
    run = Attempt.objects.create(student=student, activity=quiz)
    run.total_questions, run.correct_questions, run.completed_at = 10, Decimal(10), timezone.now()
    run.save()
    run.refresh_from_db()
    assert (run.number, run.attempt_number, run.xp_earned) == (2, 1, Decimal("12.50"))



# -- existing installs: recount with the command ----------------------------------


def _legacy(student, quiz):
    """What 0.3 stored: an abandoned start made the perfect run attempt 2 (0.5x)."""
    from timeback_progress.gradebook import progress

    attempts.start_attempt(student, quiz)
    run = complete(student, quiz, correct=10)
    Attempt.objects.filter(pk=run.pk).update(attempt_number=2, multiplier=Decimal("0.50"), xp_earned=Decimal("5.00"))
    Result.objects.filter(attempt=run).update(metadata={**Result.objects.get(attempt=run).metadata, "xp": 5.0, "attempt": 2})
    progress.rebuild(student.pk, quiz.pk, quiz.course_id, using="default")
    Delivery.objects.update(status="sent")
    return run


def test_renumber_dry_run_reports_and_changes_nothing(student, quiz):
    from io import StringIO

    from django.core.management import call_command

    run = _legacy(student, quiz)
    rows = Delivery.objects.count()
    out = StringIO()
    call_command("timeback_renumber_attempts", "--dry-run", "--list", stdout=out)
    text = out.getvalue()
    assert "1 would be renumbered (1 attempts)" in text
    assert "XP change: +7.50" in text and "1 correction events would be queued" in text
    assert f"{student.sourced_id} / {quiz.activity_id} run 2: attempt 2 -> 1" in text
    run.refresh_from_db()
    assert (run.attempt_number, run.xp_earned, Delivery.objects.count()) == (2, Decimal("5.00"), rows)


def test_renumber_corrects_xp_and_tells_timeback(student, quiz):
    from io import StringIO

    from django.core.management import call_command

    run = _legacy(student, quiz)
    call_command("timeback_renumber_attempts", stdout=StringIO())
    run.refresh_from_db()
    assert (run.attempt_number, run.multiplier, run.xp_earned) == (1, Decimal("1.25"), Decimal("12.50"))
    assert student.progress.get().xp_total == Decimal("12.50")
    correction = activity_events(run)[-1]
    assert correction["extensions"]["isCorrection"] is True
    assert (metrics(correction), correction["generated"]["attempt"]) == ({"xpEarned": 7.5, "masteredUnits": 0}, 1)
    assert Result.objects.get(attempt=run).metadata["attempt"] == 1
    assert Delivery.objects.filter(kind="result", status="pending").count() == 1  # the result is PUT again
    out = StringIO()
    call_command("timeback_renumber_attempts", stdout=out)  # again: nothing left to do
    assert "0 were renumbered" in out.getvalue()


def test_renumber_refuses_an_unknown_course(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No course with sourcedId 'nope'"):
        call_command("timeback_renumber_attempts", "--course", "nope")
