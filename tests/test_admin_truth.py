"""An admin that tells the truth (issue 19, point 3): what the pages say is what the data holds.

"Corrected" means a correction exists (whatever it changed) and its filter
finds exactly those results; results, attempts and outbox rows are titled by
student, activity and run; sync health says disabled, healthy or why not,
from what the sending worker recorded; an outbox row shows the body the
sender builds.
"""

import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.plugins.factories import complete, enroll, make_activity, make_course, make_student
from tests.test_admin import correct_url, correction_data, result_url
from timeback_progress.models import Attempt, Delivery, Result

pytestmark = pytest.mark.django_db

RESULTS = reverse("admin:timeback_progress_result_changelist")
ATTEMPTS = reverse("admin:timeback_progress_attempt_changelist")
TITLE_RELATED = ("result__student", "result__attempt__activity", "attempt__student", "attempt__activity")


@pytest.fixture
def graded(db):
    """Ada Lovelace's two completed attempts at one activity (as in test_admin)."""
    course = make_course(masterable_units=4)
    activity = make_activity(course, masterable_units=2)
    student = make_student(given_name="Ada", family_name="Lovelace", email="ada@example.com")
    enroll(course, student=student)
    attempts = [complete(student, activity, total=10, correct=8, active=600), complete(student, activity, total=10, correct=10)]
    return {"course": course, "activity": activity, "student": student, "attempts": attempts}


def listed(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


# -- "corrected" -------------------------------------------------------------------------------


def test_a_correction_of_xp_only_marks_the_result_corrected_and_the_filter_finds_it(admin_client, graded):
    """The demo's case: the history shows a correction, so the page and the filter must say so."""
    first, second = (a.result for a in graded["attempts"])
    response = admin_client.post(correct_url(first), correction_data(first, xp="20"))
    assert response.status_code == 302

    first.refresh_from_db()
    assert not first.is_corrected  # the score was not touched: the rules still compute it
    assert [r.pk for r in listed(admin_client, RESULTS + "?corrected=yes")] == [first.pk]
    assert [r.pk for r in listed(admin_client, RESULTS + "?corrected=no")] == [second.pk]
    page = admin_client.get(result_url(first)).content.decode()
    assert "Correction history" in page and "10.0 → 20.0" in page
    assert corrected_cell(page) == "True"
    assert corrected_cell(admin_client.get(result_url(second)).content.decode()) == "False"


def test_a_correction_through_the_api_marks_the_result_corrected(api_world, client_for, admin_client):
    from django.contrib.auth.models import Permission

    from tests.plugins.api import make_user

    attempt = complete(api_world.ann, api_world.quiz, total=10, correct=8)
    corrector = make_user("corrector")
    corrector.user_permissions.add(Permission.objects.get(codename="correct_result"))
    response = client_for(corrector).post(
        reverse("timeback_progress_api:attempt-corrections", args=[attempt.pk]),
        json.dumps({"reason": "Miscounted question 7", "correctQuestions": 9}), content_type="application/json",
    )
    assert response.status_code == 201, response.content
    result = Result.objects.get(attempt=attempt)
    assert [r.pk for r in listed(admin_client, RESULTS + "?corrected=yes")] == [result.pk]
    changelist = admin_client.get(RESULTS).content.decode()
    assert 'alt="True"' in changelist  # the ✓ icon in the "corrected" column


def corrected_cell(page):
    """The readonly "corrected" field's icon on a result page: "True" or "False"."""
    start = page.index('class="form-row field-corrected')
    icon = page.index('alt="', start) + len('alt="')
    return page[icon : page.index('"', icon)]


# -- titles ------------------------------------------------------------------------------------


def test_results_attempts_and_outbox_rows_are_titled_by_student_activity_and_run(admin_client, graded):
    student, activity = graded["student"], graded["activity"]
    second = graded["attempts"][1]
    expected = f"Ada Lovelace – {activity.name} #2"
    assert str(second) == str(second.result) == expected

    rows = Delivery.objects.select_related(*TITLE_RELATED)
    result_row = rows.filter(kind=Delivery.Kind.RESULT, result=second.result).first()
    assert str(result_row) == f"Result: {expected}"
    event = rows.filter(kind=Delivery.Kind.CALIPER_EVENT, attempt=second, payload__type="ActivityEvent").first()
    assert str(event) == f"Caliper ActivityEvent: {expected}"
    # Without its relations loaded a row names its key: a list never pays a query per row for its title.
    plain = Delivery.objects.get(pk=event.pk)
    assert str(plain) == f"Caliper ActivityEvent: {event.key}"

    page = admin_client.get(result_url(second.result)).content.decode()
    assert f"<title>Ada Lovelace – {activity.name} #2 | " in page.replace("&ndash;", "–")
    assert second.result.sourced_id not in page.split("<h2>", 1)[0].split('<div id="content"', 1)[-1]  # not in the title
    delivery_page = admin_client.get(reverse("admin:timeback_progress_delivery_change", args=[result_row.pk]))
    assert f"Result: {expected}" in delivery_page.content.decode()
    assert str(Attempt.objects.get(pk=second.pk)) in admin_client.get(ATTEMPTS).content.decode()
    assert student.sourced_id


# -- sync health -------------------------------------------------------------------------------

HEALTH = reverse("admin:app_list", args=["timeback_progress"])


def sync_on(settings, on=True):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": on}


def box(client):
    content = client.get(HEALTH).content.decode()
    start = content.index('id="tbp-sync-health"')
    return content[start : content.index("</section>", start)]


def test_disabled_is_what_the_sending_worker_read_not_this_process(admin_client, graded, settings):
    """The demo's case: the web process started before .env turned sync on (or off)."""
    from timeback_progress.outbox import tasks

    sync_on(settings, False)
    tasks.deliver_due()  # a worker run with sync off records it
    sync_on(settings, True)  # this web process reads sync on
    html = box(admin_client)
    assert 'data-state="disabled"' in html and "Sync is off in the worker" in html
    assert "restart the worker" in html and "healthy" not in html

    tasks.deliver_due()  # the worker, restarted with sync on (tests' transport: nothing reachable)
    sync_on(settings, False)  # and a web process that still has it off
    html = box(admin_client)
    assert 'data-state="disabled"' not in html and "restart the web process" in html


def test_healthy_only_while_rows_flow(admin_client, graded, settings):
    from timeback_progress.outbox import health

    sync_on(settings)
    Delivery.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    waiting = Delivery.objects.unsent().count()
    assert waiting
    health.record_worker("run", {"sent": 0})
    html = box(admin_client)  # rows wait, none delivered yet, not for long: attention
    assert 'data-state="attention"' in html and f"{waiting} rows wait and nothing was delivered" in html
    assert "last delivery: never" in html

    Delivery.objects.update(created_at=timezone.now() - timedelta(hours=1))
    assert 'data-state="failing"' in box(admin_client)  # waiting longer than the window, nothing sent

    health.record_worker("run", {"sent": 3})  # the worker delivered just now: flowing again, but a backlog
    html = box(admin_client)
    assert 'data-state="attention"' in html and "the oldest waiting row was queued 1\xa0hour ago" in html

    Delivery.objects.update(status=Delivery.State.SENT)
    html = box(admin_client)
    assert 'data-state="healthy"' in html and "nothing waiting" in html and "0\xa0minutes ago" in html


def test_rows_waiting_with_no_worker_seen_lately(admin_client, graded, settings):
    from timeback_progress.models import SyncState
    from timeback_progress.outbox import health

    sync_on(settings)
    assert "No worker has run yet: is qcluster running?" in box(admin_client)
    health.record_worker("run", {"sent": 1})
    SyncState.objects.filter(name=health.WORKER_STATE).update(last_run_at=timezone.now() - timedelta(hours=3))
    assert "No worker has run for 3\xa0hours: is qcluster running?" in box(admin_client)


def test_the_box_never_counts_sent_rows(admin_client, graded, settings):
    """At 3M rows (99% sent) a count of every status was the slowest query of the admin home."""
    sync_on(settings)
    Delivery.objects.update(status=Delivery.State.SENT)
    with CaptureQueriesContext(connection) as ctx:
        admin_client.get(HEALTH)
    counting = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper() and "delivery" in q["sql"]]
    assert len(counting) == 1 and "'sent'" not in counting[0] and "'pending'" in counting[0], counting


# -- the first delivery after qcluster starts --------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_qcluster_delivers_the_backlog_as_it_starts(sandbox, cluster_factory, course, admin_client, settings):
    """No kick from a commit (sync is off in this process) and no sweep (a day away): only the start-up kick."""
    from django_q.models import OrmQ, Schedule

    from tests.test_delivery_integration import FAST_RETRIES, expected, make_backlog, arrived_and_nothing_lost
    from tests.plugins.cluster import wait_for
    from timeback_progress.models import SyncState
    from timeback_progress.outbox import health, tasks

    make_backlog(course, students=3)
    assert Schedule.objects.filter(name=tasks.SWEEP_SCHEDULE_NAME).exists()
    Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))
    assert not OrmQ.objects.exists()  # nothing queued: the backlog waits for a worker to look
    events, results = expected()
    started = time.monotonic()
    cluster = cluster_factory(sandbox, extra=FAST_RETRIES)
    wait_for(lambda: arrived_and_nothing_lost(sandbox, events, results), timeout=25,
             message=f"the start-up kick's delivery\n{cluster.output()}")
    waited = time.monotonic() - started
    print(f"first delivery {waited:.1f} s after qcluster started")
    assert waited < 20  # django-q2's scheduler first runs ~30 s after start
    wait_for(lambda: not Delivery.objects.exclude(status="sent").exists(), timeout=20, message="rows marked sent")
    wait_for(lambda: (SyncState.objects.filter(name=health.WORKER_STATE).values_list("high_water_mark", flat=True)
                      .first()) is not None, timeout=20, message="the worker's record")
    seen = SyncState.objects.get(name=health.WORKER_STATE).last_summary
    assert seen["sync_enabled"] is True and seen["run"]["sent"] > 0
    html = box(admin_client)  # this process has sync off; the worker that sends has it on
    assert 'data-state="healthy"' in html and "restart the web process" in html


# -- an outbox row's body ----------------------------------------------------------------------


def delivery_page(client, row):
    return client.get(reverse("admin:timeback_progress_delivery_change", args=[row.pk])).content.decode()


def shown_json(value):
    from django.utils.html import escape

    from timeback_progress.admin.display import redact

    return escape(json.dumps(redact(value), indent=2, sort_keys=True, default=str))


def test_a_result_row_shows_the_body_the_sender_builds_not_its_reference(admin_client, graded):
    from timeback_progress.timeback import gradebook

    result = graded["attempts"][1].result
    row = Delivery.objects.get(kind=Delivery.Kind.RESULT, result=result)
    assert row.payload == {"create": True}  # what the page used to show
    page = delivery_page(admin_client, row)
    body = gradebook.result_body(result)
    assert body["assessmentResult"]["sourcedId"] == result.sourced_id
    assert shown_json(body) in page and "Built now, as the sender builds it" in page and "POSTed first" in page

    Delivery.objects.filter(pk=row.pk).update(status=Delivery.State.SENT)
    assert "the body sent then is not stored" in delivery_page(admin_client, row)


def test_line_item_and_event_bodies_and_secrets_redacted(admin_client, graded, settings):
    from timeback_progress.timeback import gradebook

    secret = "s3cret-client-value-42"
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "CLIENT_SECRET": secret}
    activity = graded["activity"]
    type(activity).objects.filter(pk=activity.pk).update(name=f"Quiz {secret}")
    activity.refresh_from_db()
    item = Delivery.objects.filter(kind=Delivery.Kind.LINE_ITEM).first()
    page = delivery_page(admin_client, item)
    assert secret not in page and "assessmentLineItem" in page
    assert shown_json(gradebook.line_item_body(activity)) in page

    event = Delivery.objects.filter(kind=Delivery.Kind.CALIPER_EVENT).first()
    page = delivery_page(admin_client, event)
    assert shown_json(event.payload) in page and "in a Caliper envelope" in page


# -- the student page's chart ------------------------------------------------------------------


def test_the_chart_has_every_day_so_even_spacing_is_time_spacing():
    from datetime import date

    from timeback_progress.admin.roster import every_day

    series = every_day({date(2025, 3, 1): 10.0, date(2025, 3, 4): 5.0}, today=date(2025, 3, 6))
    assert [p["day"] for p in series] == [f"2025-03-0{d}" for d in range(1, 7)]
    assert [p["xp"] for p in series] == [10.0, 0.0, 0.0, 5.0, 0.0, 0.0]
    assert every_day({}, today=date(2025, 3, 6)) == []
