"""The roster import, over real HTTP against the sandbox's OneRoster rostering."""

import json
import math
import pydoc
import socket
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.messages import constants as message_levels
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.plugins.factories import complete, enroll, make_activity, make_course, make_student
from tests.plugins.roster import RosterSchool, enrollment_record, student_record
from tests.plugins.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from timeback_progress.models import Attempt, Course, Enrollment, RosterClass, Student, SyncState
from timeback_progress.roster.actions import import_roster_action
from timeback_progress.roster.importer import import_roster
from timeback_progress.roster.records import parse_since
from timeback_progress.roster.tasks import SCHEDULE_NAME, ensure_schedule, run_scheduled_import
from timeback_progress.contrib.sandbox.rostering import generate_roster

ROOT = Path(__file__).resolve().parent.parent
ROSTERING = "/ims/oneroster/rostering/v1p2"


def sync(*args):
    out = StringIO()
    call_command("timeback_roster_sync", *args, stdout=out)
    return out.getvalue()


def counts():
    return {m.__name__: m.objects.count() for m in (Course, RosterClass, Student, Enrollment)}


# -- full and incremental ------------------------------------------------------------


def test_full_import_mirrors_the_roster(school):
    summary = school.run()

    assert summary.mode == "full"
    assert counts() == {"Course": 3, "RosterClass": 3, "Student": 12, "Enrollment": 12 * 3 + 3}
    math_course = Course.objects.get(sourced_id="math-grade-5")
    assert (math_course.title, math_course.subject, math_course.grade) == ("Math Grade 5", "Math", "05")
    assert (math_course.total_xp, math_course.masterable_units) == (1000, 10)
    first = school.data["users"][3]
    student = Student.objects.get(sourced_id=first["sourcedId"])
    assert (student.email, student.given_name, student.family_name) == (first["email"], first["givenName"], first["familyName"])
    enrollment = Enrollment.objects.get(sourced_id="enr-math-grade-5-class-a-teacher-1")
    assert (enrollment.role, enrollment.course, enrollment.user_sourced_id) == ("teacher", math_course, "teacher-1")
    assert summary.total("created") == 3 + 3 + 12 + 39 and summary.total("skipped") == 0
    state = SyncState.objects.get(name="roster")
    assert state.high_water_mark == school.latest()
    assert state.last_summary["totals"]["created"] == summary.total("created")


def test_incremental_run_reads_only_what_changed_since_the_mark(school):
    school.run()
    mark = SyncState.objects.get(name="roster").high_water_mark
    renamed = school.data["users"][5]["sourcedId"]
    school.touch("users", renamed, givenName="Renamed")
    school.add("users", student_record("student-new"))
    school.add("enrollments", enrollment_record("student-new", "science-grade-5-class-a"))

    summary = school.run()

    assert summary.mode == "incremental" and summary.since == mark
    assert Student.objects.get(sourced_id=renamed).given_name == "Renamed"
    assert Enrollment.objects.get(student__sourced_id="student-new").course.sourced_id == "science-grade-5"
    assert summary.counts["students"]["updated"] == 1 and summary.counts["students"]["created"] == 1
    assert summary.counts["enrollments"]["created"] == 1
    # Only the changed records (and any stamped exactly at the old mark) were read.
    read = sum(sum(c.values()) for c in summary.counts.values())
    assert read <= 3 + 2
    assert SyncState.objects.get(name="roster").high_water_mark == school.latest()


def test_since_overrides_the_mark(school):
    school.run()
    summary = school.run(since=parse_since("2000-01-01"))
    assert summary.mode == "incremental"
    assert summary.total("unchanged") == 3 + 3 + 12 + 39


def test_paging_reads_every_page(make_school, settings):
    school = make_school(students=40)
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "ROSTER_PAGE_SIZE": 7}
    seen = []

    summary = import_roster(progress=lambda kind, done, total: seen.append((kind, done, total)))

    assert counts() == {"Course": 3, "RosterClass": 3, "Student": 40, "Enrollment": 40 * 3 + 3}
    users = [done for kind, done, _ in seen if kind == "users"]
    assert users == [*range(7, 43, 7), 43]  # 43 users: 7 pages, the last one short
    pages = sum(math.ceil(n / 7) for n in (3, 3, 43, 123))
    assert school.requests() == pages
    assert summary.total("skipped") == 0


def test_server_capping_limit_does_not_end_paging_early(make_school, monkeypatch):
    """A server may answer fewer records than asked for; X-Total-Count says there is more."""
    from timeback_progress.contrib.sandbox import rostering

    make_school(students=30)
    original = rostering.paged

    def capped(request, records, key):
        request.query["limit"] = [str(min(int(request.param("limit", 100)), 10))]
        return original(request, records, key)

    monkeypatch.setattr(rostering, "paged", capped)
    import_roster(page_size=100)

    assert Student.objects.count() == 30


# -- deactivation, bad records ----------------------------------------------------------


def test_tobedeleted_deactivates_and_keeps_what_attempts_refer_to(school):
    school.run()
    leaving = school.data["users"][4]["sourcedId"]
    student = Student.objects.get(sourced_id=leaving)
    complete(student, make_activity(Course.objects.get(sourced_id="math-grade-5")))
    enrollment = school.data["enrollments"][10]
    school.touch("users", leaving, status="tobedeleted")
    school.touch("enrollments", enrollment["sourcedId"], status="tobedeleted")
    school.touch("courses", "science-grade-5", status="tobedeleted")

    summary = school.run()

    student.refresh_from_db()
    assert not student.is_active and Attempt.objects.filter(student=student).count() == 1
    assert not Enrollment.objects.get(sourced_id=enrollment["sourcedId"]).is_active
    assert not Course.objects.get(sourced_id="science-grade-5").is_active
    assert {k: c["deactivated"] for k, c in summary.counts.items()} == {"courses": 1, "students": 1, "enrollments": 1}
    assert counts()["Student"] == 12  # nothing deleted


def test_malformed_records_are_skipped_with_a_reason_and_the_rest_imported(sandbox, db):
    data = generate_roster(10)
    data["users"].append(student_record("student-bad-date", dateLastModified="yesterday"))
    data["users"].append(student_record("student-bad-email", email="not an email"))
    data["users"].append({"status": "active", "dateLastModified": "2025-08-01T12:00:00Z", "givenName": "Nobody"})
    data["users"].append("just a string")
    data["courses"].append({"sourcedId": "untitled", "status": "active", "dateLastModified": "2025-08-01T12:00:00Z"})
    data["classes"].append({"sourcedId": "orphan-class", "status": "active", "dateLastModified": "2025-08-01T12:00:00Z",
                            "course": {"sourcedId": "no-such-course"}})
    data["enrollments"].append(enrollment_record("student-0002", "no-such-class"))
    data["enrollments"].append(enrollment_record("student-ghost", "math-grade-5-class-a"))
    data["enrollments"].append(enrollment_record("student-0002", "math-grade-5-class-a", status="archived",
                                                 sourcedId="enr-archived"))
    RosterSchool(sandbox, data)

    out = sync("--full")

    assert counts() == {"Course": 3, "RosterClass": 3, "Student": 10, "Enrollment": 33}
    skipped = SyncState.objects.get(name="roster").last_summary["skipped"]
    reasons = {(s["kind"], s["sourcedId"]): s["reason"] for s in skipped}
    assert "dateLastModified must be an ISO 8601 date-time" in reasons[("users", "student-bad-date")]
    assert "not a valid address" in reasons[("students", "student-bad-email")]
    unkeyed = sorted(s["reason"] for s in skipped if s["sourcedId"] == "(no sourcedId)")
    assert unkeyed == ["sourcedId is missing", "the record is a str, not an object"]
    assert reasons[("courses", "untitled")] == "title is missing"
    assert reasons[("classes", "orphan-class")] == "course 'no-such-course' is not in the local roster"
    assert reasons[("enrollments", "enr-no-such-class-student-0002")] == "class 'no-such-class' is not in the local roster"
    assert reasons[("enrollments", "enr-math-grade-5-class-a-student-ghost")] == "student 'student-ghost' is not in the local roster"
    assert "status must be 'active' or 'tobedeleted'" in str(reasons)
    assert len(skipped) == 9
    assert "Skipped 9 records:" in out and "student-bad-date: dateLastModified must be" in out


def test_a_record_the_database_refuses_is_skipped_and_the_page_goes_on(school):
    """An enrollment moved into a course the student is already in breaks a unique constraint."""
    school.run()
    student = school.data["users"][3]["sourcedId"]
    classes = {e["class"]["sourcedId"]: e for e in school.data["enrollments"] if e["user"]["sourcedId"] == student}
    moved = classes["science-grade-5-class-a"]
    school.add("classes", {"sourcedId": "math-grade-5-class-b", "status": "active", "title": "Math B",
                           "course": {"sourcedId": "math-grade-5"}})
    school.touch("enrollments", moved["sourcedId"], **{"class": {"sourcedId": "math-grade-5-class-b"}})
    other = school.touch("enrollments", school.data["enrollments"][-1]["sourcedId"], status="tobedeleted")

    summary = school.run()

    assert [s["sourcedId"] for s in summary.skipped] == [moved["sourcedId"]]
    assert "the database refused it" in summary.skipped[0]["reason"]
    assert not Enrollment.objects.get(sourced_id=other["sourcedId"]).is_active
    assert Enrollment.objects.get(sourced_id=moved["sourcedId"]).course.sourced_id == "science-grade-5"


# -- idempotency, dry run, errors -----------------------------------------------------------


def test_running_twice_changes_nothing_the_second_time(school):
    school.run()
    before = counts()
    stamps = sorted(Student.objects.values_list("sourced_id", "updated_at"))

    summary = school.run(full=True)
    out = sync("--full")

    assert counts() == before
    assert sorted(Student.objects.values_list("sourced_id", "updated_at")) == stamps
    assert (summary.total("created"), summary.total("updated"), summary.total("deactivated")) == (0, 0, 0)
    assert summary.total("unchanged") == sum(before.values())
    assert "total        created 0  updated 0  deactivated 0" in out


def test_dry_run_writes_nothing_and_reports_what_it_would_do(school):
    out = sync("--dry-run")

    assert counts() == {"Course": 0, "RosterClass": 0, "Student": 0, "Enrollment": 0}
    assert not SyncState.objects.exists()
    assert "DRY RUN" in out and "students     created 12" in out


def test_dry_run_after_an_import_leaves_the_mark(school):
    school.run()
    mark = SyncState.objects.get(name="roster").high_water_mark
    school.touch("users", school.data["users"][3]["sourcedId"], familyName="Changed")

    sync("--dry-run")

    assert SyncState.objects.get(name="roster").high_water_mark == mark
    assert not Student.objects.filter(family_name="Changed").exists()


@pytest.mark.parametrize("args, message", [
    (["--since", "last tuesday"], "--since must be an ISO 8601 date or date-time"),
    (["--since", "2025-02-30"], "--since must be an ISO 8601 date or date-time"),
    (["--since", "2025-01-01", "--full"], "--since and --full exclude each other"),
    (["--page-size", "0"], "--page-size must be at least 1"),
])
def test_bad_options_are_refused(school, args, message):
    with pytest.raises(CommandError, match=message):
        sync(*args)
    assert not SyncState.objects.exists() and not Student.objects.exists()


def test_unreachable_timeback_is_a_clear_error_and_keeps_the_mark(school, settings):
    school.run()
    mark = SyncState.objects.get(name="roster").high_water_mark
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "API_URL": dead}

    with pytest.raises(CommandError, match="Cannot read the roster from Timeback: .*connection failed"):
        sync()

    state = SyncState.objects.get(name="roster")
    assert state.high_water_mark == mark and "connection failed" in state.last_summary["error"]
    assert SANDBOX_CLIENT_SECRET not in state.last_summary["error"]


def test_a_server_error_mid_run_keeps_the_mark(school):
    school.server.state.faults.update({"queue": [{"status": 500, "endpoint": "rostering"}]})
    with pytest.raises(CommandError, match="HTTP 500"):
        sync()
    assert SyncState.objects.get(name="roster").high_water_mark is None
    assert sync()  # the next run recovers
    assert SyncState.objects.get(name="roster").high_water_mark == school.latest()


# -- teachers, subjects, adoption --------------------------------------------------------------


def test_teacher_enrollments_link_to_host_users_by_email_or_map(school, settings):
    User = get_user_model()
    first = User.objects.create_user("maria", "Teacher1@Example.COM")
    okafor = User.objects.create_user("mr-okafor", "james@school.example")
    User.objects.create_user("twin-a", "teacher3@example.com")
    User.objects.create_user("twin-b", "TEACHER3@example.com")
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "ROSTER_USER_MAP": {"teacher2@example.com": "mr-okafor"}}

    summary = school.run()

    teachers = dict(Enrollment.objects.filter(role="teacher").values_list("user_sourced_id", "user"))
    assert teachers == {"teacher-1": first.pk, "teacher-2": okafor.pk, "teacher-3": None}
    assert summary.unmatched_teachers == {"teacher-3": "2 host users have the email teacher3@example.com; set ROSTER_USER_MAP"}


def test_a_teacher_who_signs_up_later_is_linked_by_a_full_run(school):
    school.run()
    assert Enrollment.objects.get(user_sourced_id="teacher-2", role="teacher").user is None
    user = get_user_model().objects.create_user("teacher2", "teacher2@example.com")

    incremental = school.run()
    assert Enrollment.objects.get(user_sourced_id="teacher-2", role="teacher").user is None
    full = school.run(full=True)

    assert Enrollment.objects.get(user_sourced_id="teacher-2", role="teacher").user == user
    assert full.counts["enrollments"]["updated"] == 1 and incremental.total("updated") == 0


def test_teachers_not_in_this_run_are_fetched_for_their_enrollments(school):
    school.run()
    get_user_model().objects.create_user("teacher1", "teacher1@example.com")
    enrollment = school.data["enrollments"][0]
    school.touch("enrollments", enrollment["sourcedId"], primary=False)  # the teacher record itself is unchanged

    summary = school.run()

    assert summary.teachers_seen == 0
    assert Enrollment.objects.get(sourced_id=enrollment["sourcedId"]).user.username == "teacher1"


def test_subjects_map_through_subject_map(school, settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SUBJECT_MAP": {"Mathematics": "Math"}}
    school.touch("courses", "math-grade-5", subjects=["Mathematics"])
    school.touch("courses", "reading-grade-5", subjects=[])  # none given: Other (none that maps: see test_subjects)
    school.touch("courses", "science-grade-5", subjects=["Basket weaving", "science"])

    school.run()

    subjects = dict(Course.objects.values_list("sourced_id", "subject"))
    assert subjects == {"math-grade-5": "Math", "reading-grade-5": "Other", "science-grade-5": "Science"}


def test_enrollments_the_app_made_itself_are_adopted_not_duplicated(school):
    course = make_course(sourced_id="math-grade-5", title="Math")
    student = make_student(sourced_id=school.data["users"][3]["sourcedId"])
    mine = enroll(course, student=student)

    summary = school.run()

    mine.refresh_from_db()
    assert mine.sourced_id == f"enr-math-grade-5-class-a-{student.sourced_id}"
    assert Enrollment.objects.filter(course=course, student=student).count() == 1
    assert summary.counts["enrollments"]["updated"] == 1 and summary.total("skipped") == 0


def test_a_second_class_of_the_same_course_is_reported(school):
    school.run()
    student = school.data["users"][3]["sourcedId"]
    school.add("classes", {"sourcedId": "math-grade-5-class-b", "status": "active", "title": "Math B",
                           "course": {"sourcedId": "math-grade-5"}})
    extra = school.add("enrollments", enrollment_record(student, "math-grade-5-class-b"))

    summary = school.run()

    assert summary.skipped == [{"kind": "enrollments", "sourcedId": extra["sourcedId"], "reason":
                                "the same person is already enrolled in this course through enrollment "
                                f"'enr-math-grade-5-class-a-{student}'"}]


# -- scale ---------------------------------------------------------------------------------


def _insert_batches(page_size):
    """INSERTs the database needs for one page (SQLite caps bound parameters at 999; PostgreSQL: 1)."""
    widest = max(len([f for f in m._meta.concrete_fields if not f.primary_key]) for m in (Student, Enrollment))
    per_insert = connection.ops.bulk_batch_size([None] * widest, [None] * page_size)
    return math.ceil(page_size / max(1, per_insert))


# Per page, whatever its size (measured: 8 on PostgreSQL for 100, 500 and 2,000
# records a page): read what exists, the class/student/enrollment lookups,
# a savepoint pair and one upsert. SQLite splits the upsert into more INSERTs.
QUERIES_PER_PAGE = 8


@pytest.mark.parametrize("page_size", [500, 2000])
def test_ten_thousand_users_take_a_bounded_number_of_queries_per_page(make_school, page_size):
    make_school(students=10_000, courses_per_student=1)
    per_page = []

    with CaptureQueriesContext(connection) as ctx:
        summary = import_roster(page_size=page_size,
                                progress=lambda kind, done, total: per_page.append((kind, len(ctx.captured_queries))))

    assert Student.objects.count() == 10_000 and Enrollment.objects.count() == 10_003
    assert summary.total("skipped") == 0
    marks = [0] + [n for _kind, n in per_page]
    costs = [b - a for a, b in zip(marks, marks[1:])]
    assert len(costs) == 1 + 1 + math.ceil(10_003 / page_size) * 2
    bound = QUERIES_PER_PAGE + _insert_batches(page_size) - 1
    assert max(costs) <= bound, costs
    assert len(ctx.captured_queries) <= len(costs) * bound + 5


# -- entry points -----------------------------------------------------------------------------


def test_scheduled_import_and_its_schedule(school):
    from django_q.models import Schedule

    result = run_scheduled_import()
    schedule = ensure_schedule(minutes=30)

    assert result["totals"]["created"] == Student.objects.count() + 3 + 3 + Enrollment.objects.count()
    assert (schedule.func, schedule.minutes) == ("timeback_progress.roster.tasks.run_scheduled_import", 30)
    assert Schedule.objects.filter(name=SCHEDULE_NAME).count() == 1
    ensure_schedule(minutes=30)
    assert Schedule.objects.filter(name=SCHEDULE_NAME).count() == 1


def test_schedules_stored_under_the_old_dotted_path_still_resolve():
    """A Schedule made before the import became a package stores the old path; django-q2's
    worker resolves it with pydoc.locate, as it does the path ensure_schedule writes now."""
    assert pydoc.locate("timeback_progress.roster.run_scheduled_import") is run_scheduled_import
    assert pydoc.locate("timeback_progress.roster.tasks.run_scheduled_import") is run_scheduled_import


def test_admin_action_imports_for_permitted_users_only(school, admin_user, django_user_model):
    messages = []
    modeladmin = SimpleNamespace(message_user=lambda request, text, level: messages.append((level, text)))

    import_roster_action(modeladmin, SimpleNamespace(user=django_user_model.objects.create_user("clerk")), None)
    assert messages[-1][0] == message_levels.ERROR and not Student.objects.exists()

    import_roster_action(modeladmin, SimpleNamespace(user=admin_user), None)
    assert Student.objects.count() == 12
    assert messages[-1][0] == message_levels.WARNING  # three teachers have no host user
    assert "Roster imported (full): 57 created" in messages[-1][1]


def test_the_demo_fixture_imports_a_school(sandbox, db):
    data = json.loads((ROOT / "fixtures" / "sandbox_roster.json").read_text())
    RosterSchool(sandbox, data)
    for i in (1, 2, 3):
        get_user_model().objects.create_user(f"teacher{i}", f"teacher{i}@example.com")

    out = sync()

    assert set(Course.objects.values_list("sourced_id", flat=True)) == {"math-grade-5", "reading-grade-5", "science-grade-5"}
    assert Student.objects.count() == 60
    assert Enrollment.objects.filter(role="teacher", user__isnull=False).count() == 3
    assert "0 not matched" in out and "skipped 0" in out


# -- the sandbox's rostering endpoints ------------------------------------------------------------


@pytest.fixture
def api(school):
    http = requests.Session()
    token = http.post(f"{school.server.url}/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET}).json()
    http.headers["Authorization"] = f"Bearer {token['access_token']}"
    return lambda path, **params: http.get(f"{school.server.url}{ROSTERING}{path}", params=params, timeout=5)


def test_sandbox_filters_pages_and_sorts(api, school):
    students = api("/users", filter="role='student'", limit=5, offset=10, sort="sourcedId", orderBy="desc")
    assert students.status_code == 200 and students.headers["X-Total-Count"] == "12"
    ids = [u["sourcedId"] for u in students.json()["users"]]
    assert ids == sorted((u["sourcedId"] for u in school.data["users"][3:]), reverse=True)[10:15]
    teachers = api("/users", filter="role='teacher' AND email~'TEACHER2'")
    assert [u["sourcedId"] for u in teachers.json()["users"]] == ["teacher-2"]
    latest = school.touch("users", "teacher-3", givenName="Late")
    changed = api("/users", filter=f"dateLastModified>'{school.data['users'][0]['dateLastModified']}' AND dateLastModified>='{latest['dateLastModified']}'")
    assert [u["sourcedId"] for u in changed.json()["users"]] == ["teacher-3"]
    assert api("/teachers").headers["X-Total-Count"] == "3"
    assert api("/classes/math-grade-5-class-a").json()["class"]["course"]["sourcedId"] == "math-grade-5"
    assert api("/users/nobody").status_code == 404


@pytest.mark.parametrize("bad", ["role=student", "role='a' AND x='b' OR y='c'", "role=='student'"])
def test_sandbox_refuses_a_bad_filter(api, bad):
    answer = api("/users", filter=bad)
    assert answer.status_code == 400 and "filter" in answer.json()["imsx_description"]


def test_sandbox_rostering_needs_a_token_and_takes_seeds_over_http(school):
    assert requests.get(f"{school.server.url}{ROSTERING}/users", timeout=5).status_code == 401
    url = f"{school.server.url}/_sandbox/roster"
    assert requests.post(url, json={"users": [student_record("x")], "merge": True}, timeout=5).json()["users"] == 16
    bad = requests.post(url, json={"pupils": []}, timeout=5)
    assert bad.status_code == 400 and "unknown roster collections" in bad.json()["message"]
    assert requests.post(url, json={}, timeout=5).json() == {"users": 0, "courses": 0, "classes": 0, "enrollments": 0}


def test_sandbox_command_refuses_a_bad_roster_seed(tmp_path):
    broken = tmp_path / "roster.json"
    broken.write_text("{not json")
    with pytest.raises(CommandError, match="Bad --roster-seed"):
        call_command("timeback_sandbox", "--port", "0", "--roster-seed", str(broken), stdout=StringIO())
    with pytest.raises(CommandError, match="Cannot read --roster-seed"):
        call_command("timeback_sandbox", "--port", "0", "--roster-seed", str(tmp_path / "missing.json"), stdout=StringIO())


def test_admin_sync_state_page_offers_the_import(school, admin_client):
    school.run()
    state = SyncState.objects.get(name="roster")
    school.touch("users", school.data["users"][3]["sourcedId"], givenName="ViaAdmin")

    answer = admin_client.post("/admin/timeback_progress/syncstate/", {
        "action": "import_roster_action", "_selected_action": [state.pk]}, follow=True)

    assert answer.status_code == 200
    assert Student.objects.filter(given_name="ViaAdmin").count() == 1
    assert "Roster imported (incremental)" in answer.content.decode()
