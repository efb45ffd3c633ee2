"""The course overview's time window, flags, section filter and week comparison.

A window (``start``/``end``) is a range of local days of the chart time zone:
cards, table, chart and CSV then show the attempts *completed* in it, for the
students the other filters select, every one of them listed (zeros included).
The expected figures here are summed from the attempts themselves, so the
per-day rows the pages read are held against their source.
"""

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import formats, timezone

from timeback_progress.dashboards import days, queries
from timeback_progress.gradebook import attempts
from timeback_progress.gradebook.progress import chart_day
from timeback_progress.models import Attempt, Enrollment, RosterClass, StudentProgress
from tests.plugins.factories import complete, enroll, make_activity, make_student

pytestmark = pytest.mark.django_db
ZONE = "America/New_York"  # days are not UTC days here


def url(name, course):
    return reverse(f"timeback_progress:{name}", args=[course.pk])


def local(day, hour, minute=0):
    """An aware instant on local ``day`` of the chart time zone."""
    tz = timezone.get_default_timezone()
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)), tz)


@pytest.fixture
def klass(users, settings):
    """Four students, attempts spread over a month, two of them either side of a local midnight."""
    settings.TIME_ZONE = ZONE
    course = users["course"]
    quiz = make_activity(course, name="Quiz", expected_xp=Decimal(10), masterable_units=2)
    drill = make_activity(course, name="Drill", expected_xp=Decimal(20), masterable_units=1)
    video = make_activity(course, name="Video", expected_xp=Decimal(5), masterable_units=0)
    people = {}
    for given, family in (("Ada", "Lovelace"), ("Bob", "Builder"), ("Cy", "Young"), ("Dee", "Idle")):
        people[family] = make_student(given_name=given, family_name=family)
        enroll(course, student=people[family])
    today = days.today()
    first = today - dt.timedelta(days=20)  # the window: first..first + 6
    ada, bob, cy = people["Lovelace"], people["Builder"], people["Young"]
    complete(ada, quiz, total=10, correct=10, active=600, inactive=60, completed_at=local(first, 0, 30))
    complete(ada, drill, total=10, correct=Decimal("8.5"), active=300, inactive=5, completed_at=local(first + dt.timedelta(days=3), 12))
    complete(ada, video, total=0, correct=0, active=90, completed_at=local(first + dt.timedelta(days=6), 23, 30))
    complete(ada, drill, total=10, correct=9, active=100, completed_at=local(first + dt.timedelta(days=7), 0, 30))  # after
    complete(ada, quiz, total=10, correct=9, active=200, completed_at=local(first - dt.timedelta(days=1), 23, 30))  # before
    for n in range(3):  # struggling, all inside the window
        complete(bob, quiz, total=10, correct=4, active=120, inactive=30, completed_at=local(first + dt.timedelta(days=1), 9 + n))
    complete(cy, drill, total=10, correct=10, active=400, completed_at=local(today, 0, 5))  # today only
    open_attempt = attempts.start_attempt(cy, quiz, started_at=local(first + dt.timedelta(days=2), 8))
    attempts.add_time(open_attempt, active_seconds=500, inactive_seconds=50)  # open: all time only
    return {**users, "people": people, "first": first, "last": first + dt.timedelta(days=6), "quiz": quiz,
            "drill": drill, "today": today}


def expected(course, first, last, students=None):
    """Per student (pk) the sums of their attempts completed on local days first..last, summed from the attempts."""
    done = Attempt.objects.filter(course=course, completed_at__gte=local(first, 0),
                                  completed_at__lt=local(last + dt.timedelta(days=1), 0))
    if students is not None:
        done = done.filter(student__in=students)
    out = {}
    for attempt in done:
        row = out.setdefault(attempt.student_id, dict.fromkeys(
            ("xp", "completed", "active", "inactive", "total", "correct", "mastered"), 0))
        row["xp"] += attempt.xp_earned
        row["completed"] += 1
        row["active"] += attempt.active_seconds
        row["inactive"] += attempt.inactive_seconds
        row["total"] += attempt.total_questions or 0
        row["correct"] += attempt.correct_questions or 0
        row["mastered"] += attempt.mastered_units
    return out


def total(sums, name):
    return sum(row[name] for row in sums.values())


def csv_of(response):
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_window_shows_the_attempts_completed_in_it_everywhere(client, klass):
    course, first, last = klass["course"], klass["first"], klass["last"]
    want = expected(course, first, last)
    assert len(want) == 2 and total(want, "xp") > 0 and total(want, "mastered") > 0 and total(want, "inactive") > 0
    client.force_login(klass["teacher"])
    params = {"start": first.isoformat(), "end": last.isoformat()}
    response = client.get(url("course-overview", course), params)
    assert response.status_code == 200
    rows = {r.pk: r for r in response.context["rows"]}
    # Every student is listed; the ones without attempts in the window read 0.
    assert set(rows) == {s.pk for s in klass["people"].values()}
    for pk, row in rows.items():
        sums = want.get(pk)
        if sums is None:
            assert (row.xp_total, row.completed_count, row.active_seconds, row.mastered_units) == (0, 0, 0, 0)
            assert row.accuracy is None and row.accuracy_display == "–"
            continue
        assert row.xp_total == sums["xp"]
        assert (row.completed_count, row.active_seconds, row.inactive_seconds) == (sums["completed"], sums["active"], sums["inactive"])
        assert (row.total_questions, row.correct_questions, row.mastered_units) == (sums["total"], sums["correct"], sums["mastered"])
        assert row.accuracy == (sums["correct"] * 100 / sums["total"]).quantize(Decimal("0.01"))
    # Cards = the table's sum = the chart's sum = the CSV's sum = the attempts' sum.
    figures = response.context["figures"]
    assert figures["students"] == 4 and figures["active_students"] == 2
    assert figures["xp"] == sum(r.xp_total for r in rows.values()) == total(want, "xp")
    assert figures["completed"] == total(want, "completed") and figures["mastered"] == total(want, "mastered")
    assert figures["active_seconds"] == total(want, "active") and figures["inactive_seconds"] == total(want, "inactive")
    assert figures["accuracy"] == (total(want, "correct") * 100 / total(want, "total")).quantize(Decimal("0.1"))
    chart = response.context["chart"]
    assert chart["labels"][0] == first.isoformat() and chart["labels"][-1] == last.isoformat() and len(chart["labels"]) == 7
    assert chart["display"][0] == first.strftime("%m/%d/%Y")  # the axis in the locale's format (en-us here)
    assert Decimal(str(sum(chart["xp"]))) == total(want, "xp")
    exported = csv_of(client.get(url("course-export", course), params))
    assert len(exported) == 4 and {r["window_start"] for r in exported} == {first.isoformat()}
    assert sum(Decimal(r["xp"]) for r in exported) == total(want, "xp")
    assert sum(int(r["active_seconds"]) for r in exported) == total(want, "active")
    assert sum(int(r["mastered_units"]) for r in exported) == total(want, "mastered")
    assert {r["attempts"] for r in exported} == {""}  # started attempts have no window
    # The page says which window, and in which time zone.
    scope = re.search(r'data-testid="scope">(.*?)</p>', response.content.decode(), re.S).group(1)
    assert first.strftime("%m/%d/%Y") in scope and last.strftime("%m/%d/%Y") in scope and ZONE in scope


def test_without_a_window_the_figures_are_all_time(client, klass):
    client.force_login(klass["teacher"])
    response = client.get(url("course-overview", klass["course"]))
    rows = {r.pk: r for r in response.context["rows"]}
    for progress in StudentProgress.objects.filter(course=klass["course"]):
        row = rows[progress.student_id]
        assert (row.xp_total, row.active_seconds, row.completed_count) == (progress.xp_total, progress.active_seconds, progress.completed_count)
    figures = response.context["figures"]
    all_time = StudentProgress.objects.filter(course=klass["course"]).aggregate(xp=Sum("xp_total"), active=Sum("active_seconds"))
    assert (figures["xp"], figures["active_seconds"]) == (all_time["xp"], all_time["active"])
    assert rows[klass["people"]["Young"].pk].active_seconds == 900  # the open attempt's time counts here
    assert "All-time figures." in response.content.decode()


def test_local_days_decide_what_a_one_day_window_holds(client, klass):
    """23:30 and 00:30 local time fall on two days, whatever their UTC dates."""
    client.force_login(klass["teacher"])
    last = klass["last"]
    day = {"start": last.isoformat(), "end": last.isoformat()}
    rows = client.get(url("course-overview", klass["course"]), day).context["rows"]
    ada = next(r for r in rows if r.family_name == "Lovelace")
    assert (ada.completed_count, ada.active_seconds) == (1, 90)  # the video at 23:30, not the drill at 00:30
    assert chart_day(local(last, 23, 30))[0] == last


def test_a_window_with_only_a_start_runs_to_today_and_the_chart_with_it(client, klass):
    client.force_login(klass["teacher"])
    start = klass["today"] - dt.timedelta(days=2)
    response = client.get(url("course-overview", klass["course"]), {"start": start.isoformat()})
    assert response.context["window"] == (start, klass["today"])
    assert response.context["chart"]["labels"] == [(start + dt.timedelta(days=n)).isoformat() for n in range(3)]
    assert response.context["figures"]["xp"] == Decimal("25.00")  # Cy's drill today: 20 x 1.25
    assert {r.family_name for r in response.context["rows"]} == {"Lovelace", "Builder", "Young", "Idle"}


def test_the_chart_and_cards_follow_the_search_and_flags(client, klass):
    course, first, last = klass["course"], klass["first"], klass["last"]
    client.force_login(klass["teacher"])
    params = {"start": first.isoformat(), "end": last.isoformat()}
    bob = klass["people"]["Builder"]
    for narrowed in ({"q": "builder"}, {"show": "struggling"}):
        response = client.get(url("course-overview", course), {**params, **narrowed})
        want = total(expected(course, first, last, [bob]), "xp")
        assert [r.family_name for r in response.context["rows"]] == ["Builder"]
        assert response.context["figures"]["xp"] == want
        assert Decimal(str(sum(response.context["chart"]["xp"]))) == want
    # Without a window too: the chart shows only the selected students' XP.
    response = client.get(url("course-overview", course), {"q": "young"})
    assert sum(response.context["chart"]["xp"]) == 25.0


def test_the_week_comparison_counts_monday_to_today_against_last_week(client, klass):
    course = klass["course"]
    monday = klass["today"] - dt.timedelta(days=klass["today"].weekday())
    dee = klass["people"]["Idle"]
    complete(dee, klass["quiz"], total=10, correct=8, active=70, completed_at=local(monday - dt.timedelta(days=7), 0, 1))
    complete(dee, klass["quiz"], total=10, correct=8, active=30, completed_at=local(monday - dt.timedelta(days=1), 23, 59))
    complete(dee, klass["quiz"], total=10, correct=8, active=11, completed_at=local(monday - dt.timedelta(days=8), 23, 59))  # before
    weeks = days.week_comparison(course, queries.student_ids(queries.class_rows(course)))
    assert (weeks["this_start"], weeks["last_start"], weeks["last_end"]) == (
        monday, monday - dt.timedelta(days=7), monday - dt.timedelta(days=1))
    this = expected(course, monday, klass["today"])
    last = expected(course, monday - dt.timedelta(days=7), monday - dt.timedelta(days=1))
    for week, want in (("this", this), ("last", last)):
        got = weeks[week]
        assert got["xp"] == total(want, "xp") and got["completed_count"] == total(want, "completed")
        assert got["active_seconds"] == total(want, "active") and got["active_students"] == len(want)
    assert weeks["last"]["active_seconds"] >= 100  # Dee's two attempts of last week, not the one before
    client.force_login(klass["teacher"])
    html = client.get(url("course-overview", course), {"q": "idle"}).content.decode()
    week_rows = re.search(r'data-testid="weeks".*?</section>', html, re.S).group(0)
    assert re.search(r'data-week="completed">.*?data-col="last">2<', week_rows, re.S)


# -- flags ------------------------------------------------------------------------


def test_struggling_inactive_and_finished_are_told_apart(client, klass):
    """Bob failed three in a row (struggling, active); Dee never started (inactive);
    Ada mastered every unit and then went quiet (neither)."""
    course = klass["course"]
    course.masterable_units = 3
    course.save()
    StudentProgress.objects.filter(student=klass["people"]["Lovelace"]).update(
        course_completed_at=timezone.now() - dt.timedelta(days=30), failed_streak=5,
        last_activity_at=timezone.now() - dt.timedelta(days=30))
    Enrollment.objects.filter(course=course).update(created_at=timezone.now() - dt.timedelta(days=60))
    StudentProgress.objects.filter(student=klass["people"]["Builder"]).update(last_activity_at=timezone.now())
    client.force_login(klass["teacher"])
    response = client.get(url("course-overview", course))
    rows = {r.family_name: r for r in response.context["rows"]}
    assert (rows["Builder"].is_struggling, rows["Builder"].is_inactive) == (True, False)
    assert (rows["Idle"].is_struggling, rows["Idle"].is_inactive) == (False, True)
    assert (rows["Lovelace"].is_struggling, rows["Lovelace"].is_inactive) == (False, False)
    assert rows["Idle"].inactive_reason == "no activity since enrolling"
    html = response.content.decode()
    lovelace = re.search(r'<tr data-student="%s".*?</tr>' % klass["people"]["Lovelace"].sourced_id, html, re.S).group(0)
    assert 'data-flag="finished"' in lovelace and 'data-flag="struggling"' not in lovelace
    figures = response.context["figures"]
    assert (figures["struggling"], figures["inactive_students"]) == (1, 1)
    body = client.get(reverse("timeback_progress_api:course-students", args=[course.sourced_id]), {"ordering": "name"}).json()
    flags = {r["familyName"]: (r["struggling"], r["inactive"], r["stuck"]) for r in body["results"]}
    assert flags["Builder"] == (True, False, True) and flags["Idle"] == (False, True, True)
    assert flags["Lovelace"] == (False, False, False)


def test_sorting_by_flag_puts_struggling_then_inactive_first(client, klass):
    Enrollment.objects.filter(student=klass["people"]["Idle"]).update(created_at=timezone.now() - dt.timedelta(days=60))
    client.force_login(klass["teacher"])
    names = [r.family_name for r in client.get(url("course-overview", klass["course"]), {"sort": "-flags"}).context["rows"]]
    assert names[:2] == ["Builder", "Idle"]


# -- sections ---------------------------------------------------------------------


@pytest.fixture
def sections(klass):
    course = klass["course"]
    for sourced_id, title in (("cls-1", "Period 1"), ("cls-2", "Period 2")):
        RosterClass.objects.create(sourced_id=sourced_id, course=course, title=title)
    Enrollment.objects.filter(student__in=[klass["people"]["Lovelace"], klass["people"]["Young"]]).update(class_sourced_id="cls-1")
    Enrollment.objects.filter(student=klass["people"]["Builder"]).update(class_sourced_id="cls-2")
    return klass


def test_a_section_narrows_the_table_cards_chart_and_csv(client, sections):
    course, first, last = sections["course"], sections["first"], sections["last"]
    period1 = [sections["people"]["Lovelace"], sections["people"]["Young"]]
    client.force_login(sections["teacher"])
    params = {"section": "cls-1", "start": first.isoformat(), "end": last.isoformat()}
    response = client.get(url("course-overview", course), params)
    want = expected(course, first, last, period1)
    assert sorted(r.family_name for r in response.context["rows"]) == ["Lovelace", "Young"]
    assert response.context["figures"]["students"] == 2
    assert response.context["figures"]["xp"] == total(want, "xp")
    assert Decimal(str(sum(response.context["chart"]["xp"]))) == total(want, "xp")
    exported = csv_of(client.get(url("course-export", course), params))
    assert sorted(r["family_name"] for r in exported) == ["Lovelace", "Young"]
    html = response.content.decode()
    assert 'name="section"' in html and "Period 2" in html
    assert client.get(url("course-overview", course), {"section": "cls-elsewhere"}).status_code == 400
    assert client.get(url("course-export", course), {"section": "cls-elsewhere"}).status_code == 400


def test_no_section_field_without_roster_classes(client, klass):
    client.force_login(klass["teacher"])
    html = client.get(url("course-overview", klass["course"])).content.decode()
    assert 'name="section"' not in html


# -- telling students apart -------------------------------------------------------


def test_two_students_with_the_same_name_are_told_apart(client, klass):
    twin = make_student(given_name="Ada", family_name="Lovelace", email="ada.two@example.com")
    enroll(klass["course"], student=twin)
    client.force_login(klass["teacher"])
    html = client.get(url("course-overview", klass["course"]), {"q": "lovelace"}).content.decode()
    identities = re.findall(r'data-col="identity">([^<]+)<', html)
    assert len(identities) == 2 and len(set(identities)) == 2 and "ada.two@example.com" in identities


def test_times_on_the_page_are_in_the_named_zone_even_with_another_active(client, klass):
    """A host that activates another zone per request still gets the days and times the page names."""
    ada = klass["people"]["Lovelace"]
    last = StudentProgress.objects.get(student=ada).last_activity_at
    client.force_login(klass["teacher"])
    with timezone.override("Asia/Tokyo"):
        response = client.get(url("course-overview", klass["course"]), {"q": "lovelace"})
    row = response.context["rows"][0]
    shown = timezone.localtime(last, timezone.get_default_timezone())
    assert row.last_activity_display == formats.date_format(shown, "SHORT_DATETIME_FORMAT")
    assert shown.hour != timezone.localtime(last, ZoneInfo("Asia/Tokyo")).hour
    assert f"Days and times are in the {ZONE} time zone." in " ".join(response.content.decode().split())


@pytest.mark.parametrize("seconds, shown", [
    (40, "40\u00a0s"), (600, "10\u00a0min"), (35_940, "9\u00a0h 59\u00a0min"), (36_000, "10\u00a0h"), (1_234_567, "342\u00a0h"),
])
def test_a_card_duration_wraps_only_between_hours_and_minutes(seconds, shown):
    from timeback_progress.dashboards.display import hours

    assert hours(seconds) == shown
