"""The admin: progress at a glance, corrections with an audit trail, sync health."""

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.plugins.admin import add_attempts, add_students
from tests.plugins.factories import complete, enroll, make_activity, make_course, make_student
from timeback_progress.admin.display import REDACTED, redact
from timeback_progress.admin.forms import ResultCorrectionForm
from timeback_progress.admin.roster import ATTEMPTS_PER_PAGE
from timeback_progress.models import Attempt, Delivery, Result, ResultCorrection, StudentProgress

pytestmark = pytest.mark.django_db

STUDENTS = reverse("admin:timeback_progress_student_changelist")
DELIVERIES = reverse("admin:timeback_progress_delivery_changelist")
APP_INDEX = reverse("admin:app_list", args=["timeback_progress"])


def student_url(student):
    return reverse("admin:timeback_progress_student_change", args=[student.pk])


def result_url(result):
    return reverse("admin:timeback_progress_result_change", args=[result.pk])


def correct_url(result):
    return reverse("admin:timeback_progress_result_correct", args=[result.pk])


def count_queries(client, url):
    client.get(url)  # warm per-process caches (content types) so only the page's own queries count
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx)


def changelist_names(response):
    return [str(s) for s in response.context["cl"].result_list]


@pytest.fixture
def graded(db):
    """A student with two real completed attempts (one result each) in one course."""
    course = make_course(masterable_units=4)
    activity = make_activity(course, masterable_units=2)
    student = make_student(given_name="Ada", family_name="Lovelace", email="ada@example.com")
    enroll(course, student=student)
    first = complete(student, activity, total=10, correct=8, active=600)
    second = complete(student, activity, total=10, correct=10, active=300)
    return {"course": course, "activity": activity, "student": student, "attempts": [first, second]}


# -- progress at a glance ---------------------------------------------------------


def test_page_query_counts_do_not_grow_with_students_or_attempts(admin_client, graded):
    course, student = graded["course"], graded["student"]
    other = make_course()
    add_students(9, [course, other])
    small = {
        "list": count_queries(admin_client, STUDENTS),
        "filtered": count_queries(admin_client, f"{STUDENTS}?course={course.pk}&o=-3"),
        "student": count_queries(admin_client, student_url(student)),
        "index": count_queries(admin_client, APP_INDEX),
        "deliveries": count_queries(admin_client, DELIVERIES),
    }
    add_students(490, [course, other])
    add_attempts(student, graded["activity"], 3 * ATTEMPTS_PER_PAGE)
    large = {
        "list": count_queries(admin_client, STUDENTS),
        "filtered": count_queries(admin_client, f"{STUDENTS}?course={course.pk}&o=-3"),
        "student": count_queries(admin_client, student_url(student)),
        "index": count_queries(admin_client, APP_INDEX),
        "deliveries": count_queries(admin_client, DELIVERIES),
    }
    assert large == small
    # Each page: session + user, then the changelist: filtered and full counts, the
    # course filter's choices, the page; the student: progress, attempt count and
    # page, chart, the student, whether it has attempts (identity lock); the health
    # box: counts of the statuses that need attention, oldest unsent, the worker's
    # record, the newest sent row (by the status index); one count per list (no full count).
    # On PostgreSQL a list's count is the planner's estimate once it is large: one EXPLAIN more.
    from django.db import connection

    explain = 1 if connection.vendor == "postgresql" else 0
    assert small == {"list": 6 + explain, "filtered": 6 + explain, "student": 8, "index": 6, "deliveries": 8 + explain}


def test_changelist_shows_progress_summed_across_courses(admin_client, graded):
    student = graded["student"]
    other_course = make_course(masterable_units=6)
    complete(student, make_activity(other_course), total=4, correct=2, active=120)
    response = admin_client.get(f"{STUDENTS}?q=ada")
    row = response.context["cl"].result_list[0]
    # 10 + 5 XP (first attempt 80%, then 100% re-attempt x0.5) in course one, 0 in the other.
    assert (row.xp_sum, row.mastered_sum, row.masterable_sum, row.active_sum) == (Decimal("15.00"), 2, 10, 1020)
    assert row.accuracy_pct == pytest.approx(20 / 24 * 100)
    content = response.content.decode()
    assert "15.00" in content and "83.3%" in content and "2 / 10" in content and ">17<" in content
    # With the course filter, the figures are that course's only.
    row = admin_client.get(f"{STUDENTS}?course={other_course.pk}").context["cl"].result_list[0]
    assert (row.xp_sum, row.mastered_sum, row.masterable_sum, row.active_sum) == (Decimal("0.00"), 0, 6, 120)
    assert row.accuracy_pct == pytest.approx(50)


def test_changelist_search_filter_and_sort(admin_client, graded):
    course = graded["course"]
    other = make_course()
    add_students(5, [course], prefix="alpha")
    add_students(3, [other], prefix="beta")
    assert changelist_names(admin_client.get(f"{STUDENTS}?q=ada@example.com")) == ["Ada Lovelace"]
    assert changelist_names(admin_client.get(f"{STUDENTS}?q=beta-2")) == ["Bulk beta 0002"]
    assert changelist_names(admin_client.get(f"{STUDENTS}?q=Ada+Lovelace")) == ["Ada Lovelace"]
    assert len(changelist_names(admin_client.get(f"{STUDENTS}?course={other.pk}"))) == 3
    assert len(changelist_names(admin_client.get(f"{STUDENTS}?course={course.pk}"))) == 6
    # Every figure sorts, both ways, by the annotation behind it.
    columns = {3: "xp_sum", 4: "accuracy_pct", 5: "mastered_sum", 6: "active_sum", 7: "last_activity"}
    for index, attr in columns.items():
        for prefix, reverse_ in (("", False), ("-", True)):
            rows = admin_client.get(f"{STUDENTS}?course={course.pk}&o={prefix}{index}").context["cl"].result_list
            values = [getattr(r, attr) for r in rows]
            assert values == sorted(values, reverse=reverse_), (attr, prefix)
            assert len(set(values)) > 1


def test_student_page_summary_attempts_and_chart(admin_client, graded):
    student = graded["student"]
    old = add_attempts(student, graded["activity"], ATTEMPTS_PER_PAGE)
    response = admin_client.get(student_url(student))
    content = response.content.decode()
    assert response.context["summary"]["xp"] == Decimal("15.00")
    assert 'id="tbp-xp">15.00<' in content and 'id="tbp-mastered">2 / 4<' in content
    page = response.context["attempts_page"]
    assert page.paginator.count == ATTEMPTS_PER_PAGE + 2
    assert [a.pk for a in page] == [graded["attempts"][1].pk, graded["attempts"][0].pk] + [a.pk for a in old[:-2]]
    page2 = admin_client.get(student_url(student) + "?attempts_page=2").context["attempts_page"]
    assert [a.pk for a in page2] == [a.pk for a in old[-2:]]
    # Chart data from DailyProgress, passed with json_script, Chart.js from our static files.
    chart = json.loads(content.split('<script id="tbp-xp-data" type="application/json">')[1].split("</script>")[0])
    assert chart == [{"day": timezone.localdate().isoformat(), "xp": 15.0}]
    assert "timeback_progress/vendor/chart.umd.min.js" in content and "cdn" not in content.lower()
    assert reverse("admin:timeback_progress_result_change", args=[graded["attempts"][0].result.pk]) in content


def test_export_csv_escapes_formulas(admin_client, graded):
    student = graded["student"]
    student.given_name = "=HYPERLINK(\"http://evil\")"
    student.family_name = "@SUM(1)"
    student.save()
    untouched = make_student()
    response = admin_client.post(
        STUDENTS, {"action": "export_progress_csv", "_selected_action": [student.pk]}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["student sourcedId", "given name", "family name"]
    assert len(rows) == 2
    assert rows[1][1:3] == ["'=HYPERLINK(\"http://evil\")", "'@SUM(1)"]
    assert rows[1][6] == "15.00" and untouched.sourced_id not in "".join(rows[1])


# -- corrections -------------------------------------------------------------------


def correction_data(result, **changes):
    data = dict(ResultCorrectionForm(result=result).initial)
    data["reason"] = "Teacher re-marked the paper."
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_correction_writes_audit_row_progress_and_resync(admin_client, admin_user, graded):
    attempt = graded["attempts"][0]
    result = attempt.result
    Delivery.objects.update(status=Delivery.State.SENT)  # the original sync went out
    response = admin_client.post(correct_url(result), correction_data(result, score="95", correct_questions="10", xp="20"))
    assert response.status_code == 302 and response.url == result_url(result)

    correction = ResultCorrection.objects.get()
    assert (correction.result, correction.corrected_by, correction.reason) == (result, admin_user, "Teacher re-marked the paper.")
    assert correction.before["score"] == "80.00" and correction.before["xp"] == 10.0
    assert correction.after["score"] == "95.00" and correction.after["xp"] == 20.0
    assert correction.after["correctQuestions"] == 10.0
    result.refresh_from_db()
    assert (result.score, result.is_corrected, result.metadata["xp"]) == (Decimal("95.00"), True, 20.0)
    progress = StudentProgress.objects.get(student=graded["student"])
    assert progress.xp_total == Decimal("25.00")  # 20 (pinned) + 5
    # Re-sync: the result PUT again and an ActivityEvent with the XP difference.
    pending = Delivery.objects.filter(status=Delivery.State.PENDING)
    assert pending.filter(kind=Delivery.Kind.RESULT, result=result).count() == 1
    deltas = [d.payload for d in pending.filter(kind=Delivery.Kind.CALIPER_EVENT) if d.payload["type"] == "ActivityEvent"]
    assert [{i["type"]: i["value"] for i in d["generated"]["items"]}["xpEarned"] for d in deltas] == [10]
    assert LogEntry.objects.filter(object_id=str(result.pk), change_message__contains="Corrected").exists()
    # The history is on the result page.
    page = admin_client.get(result_url(result)).content.decode()
    assert "Teacher re-marked the paper." in page and "80.00 → 95.00" in page


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"correct_questions": "11"}, "correct_questions"),
        ({"total_questions": "5"}, "correct_questions"),  # 8 correct of 5
        ({"score": "-1"}, "score"),
        ({"xp": "-5"}, "xp"),
        ({"total_questions": "-1", "correct_questions": "0"}, "total_questions"),
        ({"mastered_units": "-1"}, "mastered_units"),
        ({"mastered_units": "3"}, "mastered_units"),  # the activity has 2
        ({"score_status": "graded by a cat"}, "score_status"),
        ({"score": "90", "reason": "   "}, "reason"),
        ({"score": "NaN"}, "score"),
    ],
)
def test_invalid_correction_is_a_form_error_and_changes_nothing(admin_client, graded, changes, field):
    result = graded["attempts"][0].result
    before = (Result.objects.values().get(pk=result.pk), Attempt.objects.values().get(pk=result.attempt_id))
    deliveries = list(Delivery.objects.values_list("pk", "status"))
    response = admin_client.post(correct_url(result), correction_data(result, **changes))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert ResultCorrection.objects.count() == 0
    assert (Result.objects.values().get(pk=result.pk), Attempt.objects.values().get(pk=result.attempt_id)) == before
    assert list(Delivery.objects.values_list("pk", "status")) == deliveries


def test_correction_without_a_change_is_refused(admin_client, graded):
    result = graded["attempts"][0].result
    response = admin_client.post(correct_url(result), correction_data(result))
    assert response.status_code == 200 and "Nothing changed" in response.content.decode()
    assert ResultCorrection.objects.count() == 0


def test_service_errors_land_on_the_form(graded):
    form = ResultCorrectionForm({}, result=graded["attempts"][0].result)
    form.is_valid()
    form.add_service_error(ValidationError({"score_status": "Unknown.", "attempt": "Locked."}))
    form.add_service_error(ValidationError("Cannot correct: foo."))
    assert "Unknown." in form.errors["score_status"]
    assert {"Locked.", "Cannot correct: foo."} <= set(form.non_field_errors())


def test_audit_trail_cannot_be_added_changed_or_deleted_even_by_a_superuser(admin_client, graded):
    result = graded["attempts"][0].result
    admin_client.post(correct_url(result), correction_data(result, score="90"))
    correction = ResultCorrection.objects.get()
    base = "admin:timeback_progress_resultcorrection"
    assert admin_client.get(reverse(f"{base}_add")).status_code == 403
    assert admin_client.post(reverse(f"{base}_delete", args=[correction.pk]), {"post": "yes"}).status_code == 403
    page = admin_client.get(reverse(f"{base}_change", args=[correction.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    admin_client.post(reverse(f"{base}_change", args=[correction.pk]), {"reason": "rewritten"})
    listing = admin_client.get(reverse(f"{base}_changelist"))
    assert "delete_selected" not in listing.content.decode()
    correction.refresh_from_db()
    assert correction.reason == "Teacher re-marked the paper."


def test_student_progress_list_shows_course_progress_next_to_xp(admin_client, graded):
    """Mastered / masterable units (2 of 4), never XP over the course's total XP."""
    listing = admin_client.get(reverse("admin:timeback_progress_studentprogress_changelist"))
    assert listing.status_code == 200
    row = listing.context["cl"].result_list[0]
    assert listing.context["cl"].model_admin.course_progress(row) == "50%"
    assert "50%" in listing.content.decode()


# -- permissions -------------------------------------------------------------------


def test_correction_needs_its_own_permission(client, make_staff, graded):
    result = graded["attempts"][0].result
    viewer = make_staff("view_result", "change_result")
    client.force_login(viewer)
    page = client.get(result_url(result))
    assert page.status_code == 200 and correct_url(result) not in page.content.decode()
    assert client.get(correct_url(result)).status_code == 403
    assert client.post(correct_url(result), correction_data(result, score="99")).status_code == 403
    # Whether a result exists is not disclosed: a missing one is a 403 too, not a 404.
    missing = reverse("admin:timeback_progress_result_correct", args=[result.pk + 10_000])
    assert client.get(missing).status_code == 403
    assert ResultCorrection.objects.count() == 0

    corrector = make_staff("view_result", "correct_result")
    client.force_login(corrector)
    assert correct_url(result) in client.get(result_url(result)).content.decode()
    assert client.post(correct_url(result), correction_data(result, score="99")).status_code == 302
    assert ResultCorrection.objects.get().corrected_by == corrector


def test_changelists_respect_view_permissions(client, make_staff, graded):
    client.force_login(make_staff("view_student"))
    assert client.get(STUDENTS).status_code == 200
    assert client.get(student_url(graded["student"])).status_code == 200
    assert client.get(DELIVERIES).status_code == 403
    assert client.get(reverse("admin:timeback_progress_result_changelist")).status_code == 403
    # The app index shows no sync box to someone who may not see deliveries.
    assert b"tbp-sync-health" not in client.get(APP_INDEX).content
    # A staff user with the correction permission alone cannot reach the result at all.
    client.force_login(make_staff("correct_result"))
    assert client.get(correct_url(graded["attempts"][0].result)).status_code == 403
    # Not staff: sent to the login page.
    client.logout()
    assert client.get(STUDENTS).status_code == 302


def test_actions_need_their_permissions(client, make_staff, graded):
    viewer = make_staff("view_result", "view_attempt", "view_delivery")
    client.force_login(viewer)
    actions = {
        reverse("admin:timeback_progress_result_changelist"): "resync",
        reverse("admin:timeback_progress_attempt_changelist"): "recalculate_xp",
        DELIVERIES: "retry_now",
    }
    for url, action in actions.items():
        assert f'value="{action}"' not in client.get(url).content.decode()
    before = Delivery.objects.count()
    client.post(reverse("admin:timeback_progress_result_changelist"),
                {"action": "resync", "_selected_action": [graded["attempts"][0].result.pk]})
    assert Delivery.objects.count() == before


# -- admin actions -----------------------------------------------------------------


def test_recalculate_xp_action(admin_client, graded):
    activity = graded["activity"]
    activity.expected_xp = Decimal(20)
    activity.save()
    response = admin_client.post(
        reverse("admin:timeback_progress_attempt_changelist"),
        {"action": "recalculate_xp", "_selected_action": [a.pk for a in graded["attempts"]]},
        follow=True,
    )
    assert "Recalculated 2 completed attempts." in response.content.decode()
    assert sorted(Attempt.objects.values_list("xp_earned", flat=True)) == [Decimal("10.00"), Decimal("20.00")]
    assert StudentProgress.objects.get(student=graded["student"]).xp_total == Decimal("30.00")


def test_resync_action_queues_a_result_put(admin_client, graded):
    result = graded["attempts"][0].result
    Delivery.objects.update(status=Delivery.State.SENT)
    admin_client.post(
        reverse("admin:timeback_progress_result_changelist"), {"action": "resync", "_selected_action": [result.pk]}
    )
    row = Delivery.objects.get(status=Delivery.State.PENDING)
    assert (row.kind, row.result, row.key) == (Delivery.Kind.RESULT, result, f"result:{result.sourced_id}")
    # Re-syncing again while it waits folds into the open row.
    admin_client.post(
        reverse("admin:timeback_progress_result_changelist"), {"action": "resync", "_selected_action": [result.pk]}
    )
    assert Delivery.objects.filter(status=Delivery.State.PENDING).count() == 1


# -- sync health -------------------------------------------------------------------


@pytest.fixture
def outbox(graded):
    """Rows in every state: the graded fixture's rows, made sent, plus one of each other state."""
    Delivery.objects.update(status=Delivery.State.SENT)
    later = timezone.now() + timedelta(hours=1)
    rows = {
        state: Delivery.objects.create(kind=Delivery.Kind.CALIPER_EVENT, key=f"urn:uuid:{state}", status=state,
                                       attempts=3, next_attempt_at=later, payload={"id": f"urn:uuid:{state}"})
        for state in (Delivery.State.PENDING, Delivery.State.RETRYING, Delivery.State.DEAD)
    }
    Delivery.objects.filter(pk=rows["pending"].pk).update(created_at=timezone.now() - timedelta(hours=2))
    return rows


def test_health_box_counts_by_status_and_oldest_pending(admin_client, outbox, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True}
    for url in (APP_INDEX, DELIVERIES):
        content = admin_client.get(url).content.decode()
        assert content.count('id="tbp-sync-health"') == 1
        assert 'data-status="sent"' not in content  # the millions of sent rows are never counted
        assert 'data-status="dead">1<' in content and 'data-status="sending">0<' in content
        assert 'data-status="pending">1<' in content and 'data-status="retrying">1<' in content
        assert 'data-state="failing"' in content and "1 dead row: Timeback refused it" in content
        assert reverse("admin:timeback_progress_delivery_change", args=[outbox["pending"].pk]) in content
        assert "queued 2\xa0hours ago" in content


def test_admin_index_override_shows_the_box_once(admin_client, outbox, settings):
    from pathlib import Path

    import timeback_progress

    package_templates = Path(timeback_progress.__file__).parent / "templates"
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [package_templates, *settings.TEMPLATES[0]["DIRS"]]}]
    for url in (reverse("admin:index"), APP_INDEX):
        assert admin_client.get(url).content.decode().count('id="tbp-sync-health"') == 1


def test_healthy_when_nothing_is_waiting(admin_client, graded, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True}
    Delivery.objects.update(status=Delivery.State.SENT, sent_at=timezone.now())
    content = admin_client.get(APP_INDEX).content.decode()
    assert 'data-state="healthy"' in content and "nothing waiting" in content
    assert 'id="tbp-last-sent"><time' in content


def test_retry_now_and_replay_dead(admin_client, outbox):
    ids = [row.pk for row in outbox.values()]
    admin_client.post(DELIVERIES, {"action": "retry_now", "_selected_action": ids})
    rows = {r.pk: r for r in Delivery.objects.filter(pk__in=ids)}
    for state in ("pending", "retrying"):
        row = rows[outbox[state].pk]
        assert row.status == state and row.next_attempt_at <= timezone.now()
    assert rows[outbox["dead"].pk].status == "dead" and rows[outbox["dead"].pk].next_attempt_at > timezone.now()

    admin_client.post(DELIVERIES, {"action": "replay_dead", "_selected_action": ids})
    dead = Delivery.objects.get(pk=outbox["dead"].pk)
    assert (dead.status, dead.attempts) == ("pending", 0) and dead.next_attempt_at <= timezone.now()


def test_replay_skips_a_key_that_is_already_queued(admin_client, outbox):
    dead = outbox["dead"]
    Delivery.objects.create(kind=dead.kind, key=dead.key, status=Delivery.State.DEAD, payload={})
    response = admin_client.post(
        DELIVERIES, {"action": "replay_dead", "_selected_action": list(Delivery.objects.values_list("pk", flat=True))},
        follow=True,
    )
    content = response.content.decode()
    assert "Replayed 1 dead row." in content and "1 dead row was skipped" in content
    assert Delivery.objects.filter(key=dead.key, status="pending").count() == 1
    # A key with an open row is never replayed beside it.
    Delivery.objects.filter(key=dead.key, status="pending").update(status=Delivery.State.RETRYING)
    admin_client.post(DELIVERIES, {"action": "replay_dead", "_selected_action": [dead.pk]})
    assert Delivery.objects.filter(key=dead.key, status="dead").count() == 1


@override_settings(TIMEBACK_PROGRESS={"CLIENT_ID": "client-abc", "CLIENT_SECRET": "sup3r-s3cret-value"})
def test_delivery_pages_never_show_a_secret(admin_client, graded):
    real = Delivery.objects.filter(kind=Delivery.Kind.CALIPER_EVENT, payload__type="ActivityEvent").first()
    page = admin_client.get(reverse("admin:timeback_progress_delivery_change", args=[real.pk])).content.decode()
    assert "&quot;type&quot;: &quot;ActivityEvent&quot;" in page  # pretty-printed, escaped
    row = Delivery.objects.create(
        kind=Delivery.Kind.CALIPER_EVENT, key="urn:uuid:leaky", status=Delivery.State.DEAD, response_status=401,
        payload={"id": "x", "client_secret": "abc", "nested": [{"Authorization": "Bearer xyz"}]},
        last_error="401 from token endpoint with client_secret=sup3r-s3cret-value",
    )
    for url in (DELIVERIES, reverse("admin:timeback_progress_delivery_change", args=[row.pk])):
        content = admin_client.get(url).content.decode()
        assert "sup3r-s3cret-value" not in content and "Bearer xyz" not in content
        assert REDACTED in content
    assert "tbp-badge--dead" in admin_client.get(DELIVERIES).content.decode()


def test_redact_leaves_ordinary_payloads_alone():
    payload = {"id": "urn:uuid:1", "generated": {"items": [{"type": "xpEarned", "value": 10}]}}
    assert redact(payload) == payload


def test_identity_fields_lock_once_attempts_exist(admin_client, db):
    """Changing a sourcedId under existing attempts would fork their Timeback ids."""
    from tests.plugins.factories import complete, make_activity, make_student

    student, activity = make_student(), make_activity()
    fresh = make_student()
    complete(student, activity)
    locked = admin_client.get(f"/admin/timeback_progress/student/{student.pk}/change/").content.decode()
    open_ = admin_client.get(f"/admin/timeback_progress/student/{fresh.pk}/change/").content.decode()
    assert 'name="sourced_id"' not in locked and student.sourced_id in locked
    assert 'name="sourced_id"' in open_
    page = admin_client.get(f"/admin/timeback_progress/activity/{activity.pk}/change/").content.decode()
    assert 'name="activity_id"' not in page and 'name="line_item_sourced_id"' not in page

