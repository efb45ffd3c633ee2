"""Students without an email: their events are held (not dead), shown in sync health, and go out once one is added.

The scripted run goes through the outbox to the sandbox over loopback HTTP; the
other tests cover each entry point: the write side, the send side, the
release (a save, the admin form, the roster import, a bulk update), sync
health, the commands and the API.
"""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from timeback_progress.gradebook import attempts, corrections
from timeback_progress.models import Attempt, Delivery, IdempotencyRecord, Result, Student
from timeback_progress.outbox import held, sending
from timeback_progress.outbox.health import sync_health
from timeback_progress.timeback.caliper import actor
from tests.plugins.factories import complete, make_activity, make_student
from tests.plugins.roster import student_record
from tests.test_vendor_contract import EVENT_KINDS, JUDGES, outbox, problems

pytestmark = pytest.mark.django_db

EVENT = Delivery.Kind.CALIPER_EVENT
HEALTH_URL = reverse("admin:app_list", args=["timeback_progress"])


def events_of(student):
    return Delivery.objects.filter(kind=EVENT, attempt__student=student)


def student_url(student):
    return reverse("admin:timeback_progress_student_change", args=[student.pk])


def change_form(student, **changes):
    """What the admin's student form posts (the sourcedId is read-only once attempts exist)."""
    data = {
        "sourced_id": student.sourced_id, "email": student.email, "given_name": student.given_name,
        "family_name": student.family_name, "user": "", "is_active": "on",
        "date_last_modified_0": "", "date_last_modified_1": "", "_save": "Save",
    }
    data.update(changes)
    return data


def sandbox_sums(sandbox, student):
    """(active, inactive, xpEarned, masteredUnits) summed over the events the sandbox stored for ``student``."""
    actor_id = actor(student)["id"]
    sums = {"active": 0, "inactive": 0, "xpEarned": Decimal(0), "masteredUnits": 0}
    for event in list(sandbox.state.events.values()):
        if event["actor"]["id"] == actor_id:
            for item in event["generated"]["items"]:
                if item["type"] in sums:
                    sums[item["type"]] += Decimal(str(item["value"]))
    return tuple(sums.values())


def app_sums(student):
    rows = Attempt.objects.filter(student=student)
    progress = student.progress.get()
    return (sum(a.active_seconds for a in rows), sum(a.inactive_seconds for a in rows), progress.xp_total,
            progress.mastered_units)


@pytest.fixture
def live(sandbox, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True, "BACKOFF_BASE_SECONDS": 0.0,
                                  "TIME_FLUSH_SECONDS": 60}
    return sandbox


@pytest.fixture
def no_email(db):
    return make_student(email="", sourced_id="no-email-1")


# -- the scripted run ------------------------------------------------------------------------------


def test_held_until_the_admin_adds_an_email_then_delivered_with_the_same_ids(live, admin_client, no_email, activity):
    other = make_student()
    run = attempts.start_attempt(no_email, activity)
    attempts.add_time(run, active_seconds=50, inactive_seconds=15)  # a full window: a TimeSpentEvent now
    attempts.complete_attempt(run, total_questions=10, correct_questions=9, active_seconds=20, inactive_seconds=4)
    complete(no_email, make_activity(activity.course), total=4, correct=4, active=90)
    complete(other, activity)

    summary = sending.deliver_due()
    rows = list(events_of(no_email))
    assert len(rows) >= 4 and {r.status for r in rows} == {"held"}
    assert summary.dead == 0 and not Delivery.objects.filter(status="dead").exists()
    assert all(no_email.sourced_id in r.last_error and "email" in r.last_error for r in rows)
    # Everything else went out: the other student's events, and this one's results (they need no email).
    assert set(events_of(other).values_list("status", flat=True)) == {"sent"}
    assert not Delivery.objects.exclude(kind=EVENT).exclude(status="sent").exists()
    assert not [e for e in live.state.events.values() if e["actor"]["id"] == actor(no_email)["id"]]

    health = sync_health()
    assert (health["held"], health["healthy"], health["dead"]) == (len(rows), False, 0)
    assert health["held_reasons"] == [(rows[0].last_error, len(rows))]
    page = admin_client.get(HEALTH_URL).content.decode()
    assert "tbp-health--attention" in page and f"{len(rows)} rows held until their data is complete" in page
    assert no_email.sourced_id in page and "healthy" not in page

    keys = {r.key for r in rows}
    response = admin_client.post(student_url(no_email), change_form(no_email, email="late@example.com"), follow=True)
    assert response.status_code == 200, response.content[:2000]
    assert f"{len(rows)} held events of this student will now be sent" in response.content.decode()
    assert set(events_of(no_email).values_list("status", flat=True)) == {"pending"}

    summary = sending.deliver_due()
    assert summary.dead == summary.held == 0
    assert set(events_of(no_email).values_list("key", flat=True)) == keys  # no new rows, the same ids
    assert not Delivery.objects.exclude(status="sent").exists()
    arrived = {k: live.state.events[k] for k in keys}  # KeyError: an id never reached the sandbox
    assert {e["actor"]["email"] for e in arrived.values()} == {"late@example.com"}
    no_email.refresh_from_db()
    assert sandbox_sums(live, no_email) == app_sums(no_email)
    assert sandbox_sums(live, no_email)[0] == 160  # 50 + 20 + 90 s active: nothing lost, nothing twice
    assert sync_health()["healthy"]


# -- writing -------------------------------------------------------------------------------------


def test_rows_are_written_held_with_the_reason(no_email, activity, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TIME_FLUSH_SECONDS": 30}
    run = attempts.start_attempt(no_email, activity)
    attempts.add_time(run, active_seconds=40)
    assert list(events_of(no_email).values_list("status", flat=True)) == ["held"]  # the time window
    complete(no_email, activity, active=10)  # 10 s: one time window
    rows = events_of(no_email)
    assert rows.count() == 3 and set(rows.values_list("status", flat=True)) == {"held"}
    reason = rows.first().last_error
    assert "no-email-1" in reason and "actor.email" in reason
    # Results carry no email: they wait as usual.
    assert set(Delivery.objects.exclude(kind=EVENT).values_list("status", flat=True)) == {"pending"}


def test_a_student_with_an_email_is_not_held(student, activity):
    complete(student, activity)
    assert set(events_of(student).values_list("status", flat=True)) == {"pending"}


@pytest.mark.parametrize("email", ["", "   ", None])
def test_needs_hold_rule(email):
    event = {"actor": {"id": "https://x/ims/oneroster/rostering/v1p2/users/s-1", "email": email}}
    if email is None:
        del event["actor"]["email"]
    assert held.needs_hold(event) and "s-1" in held.reason(event)
    assert not held.needs_hold({"actor": {"email": "a@example.com"}})


def test_host_code_may_create_a_student_without_an_email(db):
    student = Student(sourced_id="host-made")
    student.full_clean()  # valid: warned about where entered, held downstream, never refused
    student.save()


# -- releasing -----------------------------------------------------------------------------------


def test_saving_an_email_releases_the_rows_due_now_with_the_email_filled_in(no_email, activity,
                                                                            django_capture_on_commit_callbacks):
    complete(no_email, activity)
    before = {r.key: r.payload for r in events_of(no_email)}
    Student.objects.filter(pk=no_email.pk).update(email="")  # (unchanged: proves nothing releases without one)
    no_email.given_name = "Renamed"
    no_email.save()
    assert set(events_of(no_email).values_list("status", flat=True)) == {"held"}

    no_email.email = "now@example.com"
    with django_capture_on_commit_callbacks() as callbacks:
        no_email.save()
    assert callbacks, "delivery is kicked once the release commits"
    for row in events_of(no_email):
        assert (row.status, row.attempts, row.last_error) == ("pending", 0, "")
        assert row.next_attempt_at <= timezone.now()
        assert row.payload == {**before[row.key], "actor": {**before[row.key]["actor"], "email": "now@example.com"}}


def test_a_save_with_nothing_held_costs_one_query(student):
    student.given_name = "Renamed"
    with CaptureQueriesContext(connection) as ctx:
        student.save()
    assert len(ctx) == 2, [q["sql"] for q in ctx.captured_queries]  # the UPDATE, and whether anything is held


def test_a_save_of_other_fields_only_does_not_look_for_held_rows(no_email):
    no_email.email = "x@example.com"
    with CaptureQueriesContext(connection) as ctx:
        no_email.save(update_fields=["given_name"])
    assert not any("held" in q["sql"] for q in ctx.captured_queries)


def test_release_costs_the_same_queries_for_3_or_300_rows(db, activity):
    small, large = make_student(email=""), make_student(email="")
    for student, n in ((small, 3), (large, 300)):
        Delivery.objects.bulk_create(
            held.hold_if_needed(Delivery(kind=EVENT, key=f"urn:uuid:{student.pk}-{i}", attempt=attempt,
                                         payload={"id": f"urn:uuid:{student.pk}-{i}", "actor": actor(student)}))
            for i, attempt in enumerate([Attempt.objects.create(student=student, activity=activity, course=activity.course,
                                                                number=1)] * n)
        )
    queries = {}
    for student in (small, large):
        student.email = f"{student.sourced_id}@example.com"
        Student.objects.filter(pk=student.pk).update(email=student.email)  # release reads the stored email
        with CaptureQueriesContext(connection) as ctx:
            assert held.release([student]) == (3 if student is small else 300)
        queries[student.pk] = len(ctx)
    print(f"release: {queries[small.pk]} queries for 3 rows, {queries[large.pk]} for 300")
    # Whether any is held; the UPDATE in a savepoint (set, update, release); rows whose attempt is gone.
    assert queries[small.pk] == queries[large.pk] == 5, queries
    assert not Delivery.objects.filter(status="held").exists()


def test_a_held_row_whose_event_already_waits_steps_aside(no_email, activity):
    complete(no_email, activity)
    row = events_of(no_email).first()
    twin = Delivery.objects.create(kind=EVENT, key=row.key, payload=row.payload, status="pending")
    no_email.email = "x@example.com"
    no_email.save()
    row.refresh_from_db()
    assert row.status == "superseded" and Delivery.objects.get(pk=twin.pk).status == "pending"


def test_a_row_whose_attempt_was_deleted_is_matched_by_its_actor(no_email, activity):
    complete(no_email, activity)
    events_of(no_email).update(attempt=None)
    keys = set(Delivery.objects.filter(status="held").values_list("key", flat=True))
    no_email.email = "x@example.com"
    no_email.save()
    assert set(Delivery.objects.filter(key__in=keys).values_list("status", flat=True)) == {"pending"}


def test_an_email_set_by_a_bulk_update_is_released_by_the_next_delivery(live, no_email, activity):
    complete(no_email, activity)
    Student.objects.filter(pk=no_email.pk).update(email="bulk@example.com")  # no post_save
    summary = sending.deliver_due()
    assert summary.held == 0 and set(events_of(no_email).values_list("status", flat=True)) == {"sent"}
    assert {live.state.events[k]["actor"]["email"] for k in events_of(no_email).values_list("key", flat=True)} == {
        "bulk@example.com"}


# -- at send time (rows written before holding at the source) ------------------------------------


def test_pending_rows_without_an_email_are_held_or_filled_at_send_time(live, no_email, activity):
    later = make_student(email="")
    for student in (no_email, later):
        complete(student, activity)
    # As an install before this change wrote them: pending, with an empty email.
    Delivery.objects.filter(status="held").update(status="pending", last_error="")
    Student.objects.filter(pk=later.pk).update(email="later@example.com")  # got one since, without a signal
    summary = sending.deliver_due()
    assert summary.dead == 0 and summary.held == events_of(no_email).count() > 0
    assert set(events_of(no_email).values_list("status", flat=True)) == {"held"}
    assert all(no_email.sourced_id in e for e in events_of(no_email).values_list("last_error", flat=True))
    assert set(events_of(later).values_list("status", flat=True)) == {"sent"}
    sent = events_of(later).first()
    assert sent.payload["actor"]["email"] == live.state.events[sent.key]["actor"]["email"] == "later@example.com"


def test_replay_missing_email_brings_dead_rows_back(live, no_email, activity):
    complete(no_email, activity)
    Delivery.objects.filter(status="held").update(status="dead", last_error="actor.email: too short")
    Delivery.objects.create(kind=EVENT, key="urn:uuid:other-dead", status="dead",
                            payload={"id": "urn:uuid:other-dead", "actor": {"email": "a@example.com"}})
    out = StringIO()
    call_command("timeback_replay", "--missing-email", "--dry-run", stdout=out)
    assert f"{events_of(no_email).count()} dead rows would be replayed" in out.getvalue()
    call_command("timeback_replay", "--missing-email", stdout=StringIO())
    assert Delivery.objects.get(key="urn:uuid:other-dead").status == "dead"
    sending.deliver_due()
    assert set(events_of(no_email).values_list("status", flat=True)) == {"held"}  # still no email: held, not dead
    no_email.email = "x@example.com"
    no_email.save()
    sending.deliver_due()
    assert set(events_of(no_email).values_list("status", flat=True)) == {"sent"}


def test_timeback_sync_reports_held_rows_without_failing(live, no_email, activity):
    complete(no_email, activity)
    out = StringIO()
    call_command("timeback_sync", stdout=out, stderr=StringIO())  # exits non-zero only for dead rows
    text = out.getvalue()
    n = events_of(no_email).count()
    assert f"{n} rows are held until their data is complete" in text and no_email.sourced_id in text


# -- sync health ------------------------------------------------------------------------------------


def test_health_is_not_healthy_while_rows_are_held(admin_client, no_email, activity, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True}  # off, the box says "disabled"
    Delivery.objects.all().delete()
    assert sync_health()["healthy"]
    complete(no_email, activity, active=10)  # an ActivityEvent and one time window
    Delivery.objects.exclude(status="held").update(status="sent")
    health = sync_health()
    assert not health["healthy"] and health["held"] == 2 and not health["dead"]
    page = admin_client.get(HEALTH_URL).content.decode()
    assert 'data-status="held">2<' in page and "2 rows are held, not lost" in page
    deliveries = admin_client.get(reverse("admin:timeback_progress_delivery_changelist") + "?status__exact=held")
    assert "tbp-badge--held" in deliveries.content.decode() and no_email.sourced_id in deliveries.content.decode()


# -- the admin ---------------------------------------------------------------------------------------


def test_admin_marks_and_filters_students_without_an_email(admin_client, no_email, student):
    url = reverse("admin:timeback_progress_student_changelist")
    page = admin_client.get(url).content.decode()
    assert "no email: events held" in page and student.email in page
    listed = admin_client.get(url + "?email=missing").context["cl"].result_list
    assert [s.pk for s in listed] == [no_email.pk]
    assert no_email.pk not in [s.pk for s in admin_client.get(url + "?email=present").context["cl"].result_list]
    assert 'id="tbp-no-email"' in admin_client.get(student_url(no_email)).content.decode()
    assert 'id="tbp-no-email"' not in admin_client.get(student_url(student)).content.decode()


def test_admin_save_without_an_email_warns_and_saves(admin_client, no_email):
    response = admin_client.post(student_url(no_email), change_form(no_email, given_name="Still"), follow=True)
    warnings = [m.message for m in response.context["messages"] if m.level_tag == "warning"]
    assert response.status_code == 200 and len(warnings) == 1
    assert "no-email-1 has no email" in warnings[0] and "held (not lost)" in warnings[0]
    assert Student.objects.get(pk=no_email.pk).given_name == "Still"


# -- the roster import -----------------------------------------------------------------------------


def test_roster_import_warns_and_a_later_email_releases(make_school, activity):
    school = make_school(students=3)
    school.add("users", student_record("roster-no-email", email=""))
    summary = school.run()
    assert summary.warnings["no_email"] == 1
    assert summary.as_dict()["warnings"] == {"no_email": 1}
    assert [w["sourcedId"] for w in summary.warned] == ["roster-no-email"]
    student = Student.objects.get(sourced_id="roster-no-email")
    complete(student, activity)
    assert set(events_of(student).values_list("status", flat=True)) == {"held"}

    school.touch("users", "roster-no-email", email="found@example.com")
    summary = school.run()
    assert not summary.warnings
    assert set(events_of(student).values_list("status", flat=True)) == {"pending"}
    assert {p["actor"]["email"] for p in events_of(student).values_list("payload", flat=True)} == {"found@example.com"}


def test_roster_command_prints_the_warning(make_school):
    school = make_school(students=2)
    school.add("users", student_record("cmd-no-email", email=""))
    out = StringIO()
    call_command("timeback_roster_sync", stdout=out)
    assert "1 active students have no email" in out.getvalue() and "cmd-no-email" in out.getvalue()


# -- the API ---------------------------------------------------------------------------------------


def api_post(client, name, body):
    return client.post(reverse(f"timeback_progress_api:{name}"), json.dumps(body), content_type="application/json",
                       headers={"Idempotency-Key": "k-1"})


@pytest.fixture
def api_client(db, client):
    staff = get_user_model().objects.create_superuser("api-staff", "s@example.com", None)
    client.force_login(staff)
    return client


def test_api_start_refuses_a_student_without_an_email_and_writes_nothing(api_client, no_email, activity):
    before = (Attempt.objects.count(), Delivery.objects.count(), IdempotencyRecord.objects.count())
    response = api_post(api_client, "attempt-start", {"studentSourcedId": no_email.sourced_id,
                                                      "activityId": activity.activity_id})
    assert response.status_code == 400
    message = response.json()["studentSourcedId"][0]
    assert "no-email-1" in message and "no email" in message and "Nothing was written" in message
    assert (Attempt.objects.count(), Delivery.objects.count(), IdempotencyRecord.objects.count()) == before
    # Once the email is there, the same request (and key) starts the attempt.
    no_email.email = "x@example.com"
    no_email.save()
    assert api_post(api_client, "attempt-start", {"studentSourcedId": no_email.sourced_id,
                                                  "activityId": activity.activity_id}).status_code == 201


def test_api_record_accepts_and_holds(api_client, no_email, activity):
    response = api_post(api_client, "attempt-record", {
        "studentSourcedId": no_email.sourced_id, "activityId": activity.activity_id,
        "totalQuestions": 10, "correctQuestions": 10, "activeSeconds": 60,
    })
    assert response.status_code == 201, response.json()
    assert events_of(no_email).exists() and set(events_of(no_email).values_list("status", flat=True)) == {"held"}


# -- the vendor's models -----------------------------------------------------------------------------


@pytest.mark.parametrize("judge", JUDGES)
def test_held_events_would_be_refused_and_released_ones_are_accepted(judge, no_email, activity):
    """Holding is needed (both judges refuse the empty email) and enough (the released events pass)."""
    attempt = complete(no_email, activity, total=10, correct=10)
    corrections.correct_result(Result.objects.get(attempt=attempt), user=get_user_model().objects.create_user("c"),
                               reason="regraded", correct_questions=7)
    found = outbox()
    assert all(found[kind] for kind in EVENT_KINDS), {k: len(v) for k, v in found.items()}
    for kind in EVENT_KINDS:
        assert all(any("email" in p for p in problems(judge, kind, e)) for e in found[kind]), kind
    no_email.email = "released@example.com"
    no_email.save()
    found = outbox()
    for kind in EVENT_KINDS:
        for event in found[kind]:
            assert event["actor"]["email"] == "released@example.com"
            assert problems(judge, kind, event) == [], (kind, event)


# -- in a browser ------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_held_rows_and_the_marker_in_a_real_browser(page, browser_login, artifacts_dir, activity, settings):
    import os

    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True}  # off, the box says "disabled"

    get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    kim = make_student(email="", sourced_id="stu-kim", given_name="Kim", family_name="Noemail")
    complete(kim, activity, active=10)  # an ActivityEvent and one time window
    complete(make_student(given_name="Ada", family_name="Lovelace"), activity)
    Delivery.objects.exclude(status="held").update(status="sent")
    browser_login("boss")
    page.goto(HEALTH_URL)
    box = page.inner_text("#tbp-sync-health")
    assert "2 rows held until their data is complete" in box and "stu-kim has no email" in box
    assert page.eval_on_selector("#tbp-sync-health", "e => getComputedStyle(e).borderLeftColor") == "rgb(178, 106, 0)"
    page.screenshot(path=os.path.join(artifacts_dir, "held-sync-health.png"), full_page=True)
    page.goto(reverse("admin:timeback_progress_student_changelist"))
    assert page.inner_text(".tbp-badge--held") == "no email: events held"
    page.screenshot(path=os.path.join(artifacts_dir, "held-student-list.png"), full_page=True)
