"""Each input limit on its own (the sweep, tests/test_hostile_input.py, covers every route):
charsets, date bounds, admin filter values, JSON 404s, timestamp floor, time totals."""

import asyncio
import datetime as dt
import io
import json
import sys

from datetime import timedelta

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.urls import reverse
from django.utils import timezone

from tests.plugins.factories import complete
from timeback_progress import limits
from timeback_progress.charsets import AsgiCharsetGuard, CharsetGuard, unusable_charset
from timeback_progress.dashboards import export, queries
from timeback_progress.models import Attempt, Delivery, IdempotencyRecord, Result, ResultCorrection, StudentProgress

pytestmark = pytest.mark.django_db

WRITTEN = (Attempt, Result, StudentProgress, Delivery, IdempotencyRecord, ResultCorrection)
NOT_TEXT = ["base64", "rot13", "zlib", "hex", "uu", "bz2", "quopri", "punycode", "undefined"]


def counts():
    return {model.__name__: model.objects.count() for model in WRITTEN}


def api(name, *args):
    return reverse(f"timeback_progress_api:{name}", args=args)


def post_json(client, path, body, content_type="application/json"):
    return client.post(path, json.dumps(body), content_type=content_type)


def call_wsgi(application, path, query="", content_type=""):
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "CONTENT_TYPE": content_type,
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "HTTP_HOST": "testserver", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
    }
    captured = {}
    body = b"".join(application(environ, lambda status, headers: captured.update(status=status, headers=headers)))
    return captured["status"], dict(captured["headers"]), body


# -- charsets -------------------------------------------------------------------------


@pytest.mark.parametrize("charset", [*NOT_TEXT, "no-such-charset", "utf-16", "utf-7", "cp037"])
def test_api_write_in_an_unusable_charset_is_a_json_415_and_writes_nothing(api_world, client_for, charset):
    w = api_world
    before = counts()
    body = {"studentSourcedId": w.ann.sourced_id, "activityId": w.quiz.activity_id}
    response = post_json(client_for(w.ann.user), api("attempt-start"), body, f"application/json; charset={charset}")
    assert response.status_code == 415, response.content
    assert "charset" in response.json()["detail"] and "UTF-8" in response.json()["detail"]
    assert counts() == before


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", "latin-1", "ascii"])
def test_api_write_in_an_ascii_compatible_charset_is_read(api_world, client_for, charset):
    w = api_world
    body = {"studentSourcedId": w.ann.sourced_id, "activityId": w.quiz.activity_id}
    response = post_json(client_for(w.ann.user), api("attempt-start"), body, f"application/json; charset={charset}")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("charset", NOT_TEXT)
def test_django_itself_fails_on_a_non_text_charset_with_a_query_string(charset):
    # Why the guard wraps the application: the error is raised building the request, before any middleware.
    with pytest.raises((LookupError, UnicodeError)):
        call_wsgi(WSGIHandler(), "/progress/", "q=a", f"text/plain; charset={charset}")


@pytest.mark.parametrize("charset", [*NOT_TEXT, "a\x00b"])
def test_the_example_projects_wsgi_application_answers_415(charset):
    from project.wsgi import application

    status, headers, body = call_wsgi(application, "/progress/", "q=a", f"text/plain; charset={charset}")
    assert status.startswith("415") and headers["Content-Type"] == "application/json"
    assert "Unsupported charset" in json.loads(body)["detail"]


def test_the_guard_lets_usable_and_unknown_charsets_through():
    assert [unusable_charset(f"text/plain; charset={c}") for c in ("utf-8", "latin-1", "utf-16", "nope", "")] == [
        None] * 5
    assert unusable_charset("text/plain") is None and unusable_charset("") is None
    assert [unusable_charset(f"application/json; charset={c}") for c in NOT_TEXT] == NOT_TEXT
    reached = []

    def app(environ, start_response):
        reached.append(1)
        start_response("200 OK", [])
        return [b"ok"]

    guard = CharsetGuard(app)
    assert call_wsgi(guard, "/", "", "text/plain; charset=utf-8")[2] == b"ok" and reached == [1]


def test_the_asgi_guard_answers_415_and_passes_the_rest():
    sent, reached = [], []

    async def app(scope, receive, send):
        reached.append(scope["type"])

    async def send(message):
        sent.append(message)

    guard = AsgiCharsetGuard(app)
    bad = {"type": "http", "headers": [(b"content-type", b"application/json; charset=zlib")]}
    asyncio.run(guard(bad, None, send))
    assert sent[0]["status"] == 415 and reached == []
    asyncio.run(guard({"type": "http", "headers": [(b"content-type", b"application/json")]}, None, send))
    asyncio.run(guard({"type": "lifespan"}, None, send))
    assert reached == ["http", "lifespan"]


# -- dashboard dates ----------------------------------------------------------------------


@pytest.mark.parametrize("query", ["end=9999-12-31", "end=0001-01-01", "start=0001-01-01", "start=9999-12-31",
                                   "start=1999-12-31", "end=2100-01-01"])
def test_dashboard_dates_outside_the_bounds_are_a_form_error(client, users, query):
    client.force_login(users["teacher"])
    course = users["course"]
    page = client.get(f"{reverse('timeback_progress:course-overview', args=[course.pk])}?{query}")
    assert page.status_code == 400
    assert "Enter a date between 2000-01-01 and 2099-12-31." in page.content.decode()
    export_response = client.get(f"{reverse('timeback_progress:course-export', args=[course.pk])}?{query}")
    assert export_response.status_code == 400
    assert "2000-01-01 and 2099-12-31" in export_response.content.decode()


def test_dashboard_dates_on_the_bounds_are_accepted(client, users):
    client.force_login(users["teacher"])
    course = users["course"]
    url = reverse("timeback_progress:course-overview", args=[course.pk])
    assert client.get(f"{url}?start=2000-01-01&end=2099-12-31").status_code == 200
    assert client.get(f"{url}?end=2000-01-01").status_code == 200  # the chart's 30 days stop at the floor


def test_chart_range_and_day_bounds_stay_within_the_bounds():
    low, high = limits.EARLIEST_DATE, limits.LATEST_DATE
    assert queries.chart_range(None, dt.date(2000, 1, 3)) == (low, dt.date(2000, 1, 3))
    assert queries.chart_range(None, dt.date.min) == (low, low)
    assert queries.chart_range(dt.date.max, None, today=dt.date(2024, 5, 1)) == (high, high)
    assert queries.chart_range(None, None, today=dt.date(2024, 5, 30))[0] == dt.date(2024, 5, 1)
    with timezone.override("Pacific/Kiritimati"):
        assert queries.day_bounds(dt.date.min, dt.date.max)[1].year == 2100


def test_export_writes_a_stored_year_one_timestamp_in_utc():
    with timezone.override("America/New_York"):
        assert export.escape_cell(dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)) == "0001-01-01T00:00:00+00:00"
        assert export.escape_cell(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)) == "2023-12-31T19:00:00-05:00"


def test_course_ids_past_the_column_are_a_404(client, users):
    client.force_login(users["teacher"])
    huge = "1234567890123456789012345"
    for url in (f"/progress/courses/{huge}/", f"/progress/courses/{huge}/export.csv", f"/progress/courses/{huge}/students/1/"):
        assert client.get(url).status_code == 404


# -- admin ------------------------------------------------------------------------------


STUDENTS = "/admin/timeback_progress/student/"


@pytest.mark.parametrize("value", ["abc", "1234567890123456789012345", "%C2%B2", "-1", "1.5", "%00"])
def test_a_bad_course_filter_value_is_the_changelists_error_redirect(admin_client, api_world, value):
    response = admin_client.get(f"{STUDENTS}?course={value}")
    assert response.status_code == 302 and response["Location"] == f"{STUDENTS}?e=1"


def test_a_course_filter_value_that_is_an_id_still_filters(admin_client, api_world):
    other = api_world.math.__class__.objects.create(sourced_id="empty", title="Empty")
    assert admin_client.get(f"{STUDENTS}?course={other.pk}").context["cl"].result_count == 0
    assert admin_client.get(f"{STUDENTS}?course={api_world.math.pk}").context["cl"].result_count == 2


@pytest.mark.parametrize("query", [
    "pk__in=1234567890123456789012345", "created_at__year=9999", "created_at__year=1234567890123456789012345",
])
def test_lookups_past_python_or_the_column_are_the_error_redirect(admin_client, query):
    # SQLite cannot bind the integer (the redirect); PostgreSQL compares it as a numeric (no row matches).
    url = "/admin/timeback_progress/resultcorrection/"
    response = admin_client.get(f"{url}?{query}")
    if response.status_code == 200:
        assert query.startswith("pk__in") and response.context["cl"].result_count == 0
    else:
        assert response.status_code == 302 and response["Location"] == f"{url}?e=1"


def test_empty_to_field_means_the_primary_key(admin_client, api_world):
    url = reverse("admin:timeback_progress_student_change", args=[api_world.ann.pk])
    assert admin_client.get(f"{url}?_to_field=").status_code == 200


def test_an_action_on_a_selection_that_names_no_row_changes_nothing(admin_client, api_world):
    complete(api_world.ann, api_world.quiz)
    before = counts()
    url = reverse("admin:timeback_progress_result_changelist")
    for selected in ("abc", "1234567890123456789012345", "\u00b2"):
        response = admin_client.post(url, {"action": "resync", "_selected_action": selected, "index": "0"})
        assert response.status_code == 302
    assert counts() == before


def test_an_add_form_with_a_bad_autocomplete_value_shows_the_field_error(admin_client, api_world):
    url = reverse("admin:timeback_progress_enrollment_add")
    for value in ("abc", "1.5", "1234567890123456789012345"):
        response = admin_client.post(url, {"course": value, "role": "student", "student": value})
        assert response.status_code == 200
        assert response.context["adminform"].form.errors["course"]


# -- API: JSON 404s, timestamps, time totals ----------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/attempts/abc/", "/api/v1/attempts/1.5/time/", "/api/v1/nothing",
                                  "/api/v1/attempts/%C2%B2/", "/api/nothing/", "/api/v2/attempts/"])
def test_unknown_api_paths_are_a_json_404(api_world, client_for, path):
    for client in (client_for(None), client_for(api_world.ann.user)):
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 404 and response.json() == {"detail": "Not found."}


def test_unknown_v1_paths_are_json_even_with_debug_on(api_world, client_for, settings):
    settings.DEBUG = True  # Django's own 404 would be its technical page, listing the URLconf
    client = client_for(api_world.ann.user)
    response = client.get("/api/v1/attempts/abc/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    hint = client.post("/api/v1/attempts")  # Django would redirect (and drop the body), or in DEBUG raise
    assert hint.status_code == 404 and "trailing slash: /api/v1/attempts/" in hint.json()["detail"]


def test_unknown_paths_elsewhere_keep_djangos_page(client):
    response = client.get("/progress/nothing/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def record_body(w, **fields):
    return {"studentSourcedId": w.ann.sourced_id, "activityId": w.quiz.activity_id, "totalQuestions": 10,
            "correctQuestions": 8, **fields}


@pytest.mark.parametrize("field, value", [
    ("startedAt", "0001-01-01T00:00:00Z"), ("completedAt", "1999-12-31T23:59:59Z"),
    ("completedAt", "0001-01-01T00:00:00+14:00"), ("startedAt", "1970-01-01T00:00:00Z"),
])
def test_timestamps_before_the_floor_are_a_400_naming_the_field(api_world, client_for, field, value):
    before = counts()
    body = record_body(api_world, **{field: value})
    response = post_json(client_for(api_world.service), api("attempt-record"), body)
    assert response.status_code == 400 and list(response.json()) == [field], response.json()
    assert counts() == before


@pytest.mark.parametrize("field", ["startedAt", "completedAt"])
def test_timestamps_in_the_future_are_a_400_naming_the_field(api_world, client_for, field):
    later = (timezone.now() + dt.timedelta(minutes=10)).isoformat()
    response = post_json(client_for(api_world.service), api("attempt-record"), record_body(api_world, **{field: later}))
    assert response.status_code == 400 and field in response.json()


def test_the_floor_itself_is_accepted(api_world, client_for):
    body = record_body(api_world, startedAt="2000-01-01T00:00:00Z", completedAt="2000-01-01T00:10:00Z")
    assert post_json(client_for(api_world.service), api("attempt-record"), body).status_code == 201


def test_a_time_report_past_the_attempts_cap_is_a_400_and_changes_nothing(api_world, client_for):
    w = api_world
    client = client_for(w.ann.user)
    pk = post_json(client, api("attempt-start"), {"studentSourcedId": w.ann.sourced_id, "activityId": w.quiz.activity_id}).json()["id"]
    # Started long enough ago that the wall clock allows the cap (time never runs ahead of it).
    Attempt.objects.filter(pk=pk).update(active_seconds=limits.MAX_ATTEMPT_SECONDS - 10,
                                         started_at=timezone.now() - timedelta(days=30))
    before = counts(), list(Attempt.objects.filter(pk=pk).values_list("active_seconds", "inactive_seconds"))
    response = post_json(client, api("attempt-time", pk), {"activeSeconds": 11})
    assert response.status_code == 400 and list(response.json()) == ["activeSeconds"]
    assert "at most 10 more" in response.json()["activeSeconds"][0]
    done = post_json(client, api("attempt-complete", pk), {"totalQuestions": 1, "correctQuestions": 1, "activeSeconds": 11})
    assert done.status_code == 400 and list(done.json()) == ["activeSeconds"]
    assert (counts(), list(Attempt.objects.filter(pk=pk).values_list("active_seconds", "inactive_seconds"))) == before
    assert post_json(client, api("attempt-time", pk), {"activeSeconds": 10, "inactiveSeconds": 5}).status_code == 200


def test_the_schema_ignores_a_version_parameter(client_for, api_world):
    response = client_for(api_world.staff).get("/api/schema/", {"format": "json", "version": "a\r\nb"})
    assert response.status_code == 200


@pytest.mark.parametrize("ahead, accepted", [(60, True), (180, False)])
def test_the_api_and_the_services_refuse_the_same_future_instants(api_world, client_for, ahead, accepted):
    """One bound (``limits.timestamp_problem``, ``TIME_TOLERANCE_SECONDS`` = 120 s ahead) for both callers."""
    from timeback_progress.gradebook import attempts as services

    w = api_world
    completed = timezone.now() + timedelta(seconds=ahead)
    body = {"studentSourcedId": w.ann.sourced_id, "activityId": w.quiz.activity_id, "totalQuestions": 1,
            "correctQuestions": 1, "completedAt": completed.isoformat()}
    response = client_for(w.service).post(reverse("timeback_progress_api:attempt-record"), body, format="json")
    assert (response.status_code == 201) is accepted, response.json()
    if not accepted:
        assert "completedAt" in response.json()
        with pytest.raises(services.AttemptError, match="in the future"):
            services.record_attempt(w.ann, w.quiz, total_questions=1, correct_questions=1, completed_at=completed)
    else:
        services.record_attempt(w.ann, w.quiz, total_questions=1, correct_questions=1, completed_at=completed)
