"""The dashboards in a real browser (headless Chromium through Playwright)."""

import csv
import datetime as dt
import io
import os
import random
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from timeback_progress.models import StudentProgress
from timeback_progress.xp import course_percent
from tests.plugins.factories import complete, enroll, make_activity, make_student

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAMES = [
    ("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper"), ("Edsger", "Dijkstra"), ("Barbara", "Liskov"),
    ("Donald", "Knuth"), ("Frances", "Allen"), ("John", "Backus"), ("Margaret", "Hamilton"), ("Ken", "Thompson"),
]


@pytest.fixture
def showcase(users):
    """Ten students with a few weeks of attempts, made through the real services path."""
    rng = random.Random(7)
    course = users["course"]
    activities = [
        make_activity(course, name=name, expected_xp=Decimal(xp), masterable_units=units)
        for name, xp, units in (("Fractions", 10, 2), ("Decimals", 15, 1), ("Ratios", 20, 2), ("Percentages", 12, 1))
    ]
    now = timezone.now()
    students = {}
    for i, (given, family) in enumerate(NAMES):
        student = make_student(given_name=given, family_name=family)
        enroll(course, student=student)
        students[family] = student
        skill = 0.95 - i * 0.06
        for n in range(3 + i % 4):
            when = now - dt.timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 8))
            correct = sum(rng.random() < skill for _ in range(10))
            complete(student, rng.choice(activities), total=10, correct=correct, active=rng.randint(120, 900),
                     inactive=rng.randint(0, 120), completed_at=when)
    for _ in range(3):  # Knuth is struggling: three failures in a row, today
        complete(students["Knuth"], activities[2], total=10, correct=4, active=200)
    return {**users, "students": students}


def figure(page, name):
    return page.locator(f'[data-testid=figures] [data-figure="{name}"]').inner_text().strip()


def table_names(page):
    return [t.strip() for t in page.locator("[data-testid=students] tbody th[scope=row] a").all_inner_texts()]


def test_teacher_reviews_a_class(browser_login, showcase, artifacts_dir):
    course = showcase["course"]
    page = browser_login("teacher")
    assert page.url.endswith("/progress/")
    page.get_by_role("link", name="Algebra 1").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Algebra 1"

    # Figures shown match the database.
    progress = StudentProgress.objects.filter(course=course)
    class_xp = progress.aggregate(s=Sum("xp_total"))["s"]
    assert figure(page, "students") == "10"
    assert figure(page, "xp") == f"{class_xp:,.1f}"
    struggling = sorted(
        f"{p.student.given_name} {p.student.family_name}" for p in progress.select_related("student") if p.failed_streak >= 3
    )
    inactive = sorted(
        f"{p.student.given_name} {p.student.family_name}"
        for p in progress.select_related("student")
        if p.last_activity_at < timezone.now() - dt.timedelta(days=7)
    )
    assert "Donald Knuth" in struggling
    assert figure(page, "struggling") == str(len(struggling))
    assert figure(page, "inactive-students") == str(len(inactive))
    for row in progress.select_related("student"):
        cells = page.locator(f'tr[data-student="{row.student.sourced_id}"]')
        assert cells.locator('[data-col="xp"]').inner_text() == f"{row.xp_total:,.1f}"
        assert cells.locator('[data-col="accuracy"]').inner_text() == f"{row.accuracy:.1f}%"
        assert cells.locator('[data-col="completed"]').inner_text() == str(row.completed_count)
        assert cells.locator('[data-col="mastered"]').inner_text() == f"{row.mastered_units} / {course.masterable_units}"
        share = course_percent(row.mastered_units, course.masterable_units)
        assert cells.locator('[data-col="progress"]').inner_text() == ("–" if share is None else f"{share}%")
    knuth_row = page.locator(f'tr[data-student="{showcase["students"]["Knuth"].sourced_id}"]')
    assert "struggling" in knuth_row.locator('[data-col="status"]').inner_text()
    assert "under 80%" in knuth_row.locator('[data-col="status"]').inner_text()
    assert page.evaluate("() => !!Chart.getChart(document.getElementById('tbp-class-chart'))")
    page.screenshot(path=os.path.join(artifacts_dir, "dashboard-overview.png"), full_page=True)

    # Sort by XP: first click sorts high to low, the second flips it.
    page.locator("th[data-sort-key=xp] a").click()
    page.wait_for_load_state()
    assert page.locator("th[data-sort-key=xp]").get_attribute("aria-sort") == "descending"
    def by_xp(*order):
        return [f"{p.student.given_name} {p.student.family_name}" for p in progress.select_related("student").order_by(*order)]

    assert table_names(page) == by_xp("-xp_total", "student__family_name")
    page.locator("th[data-sort-key=xp] a").click()
    page.wait_for_load_state()
    assert page.locator("th[data-sort-key=xp]").get_attribute("aria-sort") == "ascending"
    assert table_names(page) == by_xp("xp_total", "student__family_name")

    # Search and the stuck filter.
    page.get_by_label("Search by name").fill("hopper")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    assert table_names(page) == ["Grace Hopper"]
    assert figure(page, "students") == "1"
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Show").select_option("struggling")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    assert sorted(table_names(page)) == struggling

    # The CSV download carries the same filters.
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    with open(info.value.path(), encoding="utf-8") as fh:
        rows = {f"{r['given_name']} {r['family_name']}": r for r in csv.DictReader(fh)}
    assert sorted(rows) == struggling and {r["struggling"] for r in rows.values()} == {"yes"}
    knuth = progress.get(student=showcase["students"]["Knuth"])
    assert rows["Donald Knuth"]["xp"] == f"{knuth.xp_total:.2f}"

    # Drill into a student.
    page.get_by_role("link", name="Donald Knuth").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Donald Knuth")
    assert page.locator("[data-testid=student-figures] [data-figure=xp]").inner_text() == f"{knuth.xp_total:,.1f}"
    reasons = page.locator('[data-testid=attempts] [data-col="reason"]').all_inner_texts()
    assert len(reasons) == knuth.attempts_count
    assert reasons[0] == "Accuracy below 80% earns no XP."
    assert page.evaluate("() => !!Chart.getChart(document.getElementById('tbp-student-chart'))")
    page.screenshot(path=os.path.join(artifacts_dir, "dashboard-student.png"), full_page=True)


def test_full_csv_download(browser_login, showcase):
    page = browser_login("teacher")
    page.goto(f"/progress/courses/{showcase['course'].pk}/")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    text = open(info.value.path(), encoding="utf-8").read()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["family_name"] for r in rows} == {family for _given, family in NAMES}
    db = {p.student.sourced_id: p for p in StudentProgress.objects.filter(course=showcase["course"]).select_related("student")}
    for row in rows:
        assert Decimal(row["xp"]) == db[row["student_sourced_id"]].xp_total
        assert int(row["attempts"]) == db[row["student_sourced_id"]].attempts_count
        assert int(row["completed_attempts"]) == db[row["student_sourced_id"]].completed_count


def test_teacher_of_another_course_is_refused(browser_login, showcase):
    page = browser_login("other_teacher")
    assert "Algebra 1" not in page.content()
    response = page.goto(f"/progress/courses/{showcase['course'].pk}/")
    assert response.status == 403
    student = showcase["students"]["Lovelace"]
    response = page.goto(f"/progress/courses/{showcase['course'].pk}/students/{student.pk}/")
    assert response.status == 403
    response = page.goto(f"/progress/courses/{showcase['course'].pk}/export.csv")
    assert response.status == 403


def test_anonymous_visitor_gets_the_login_page(page, showcase):
    page.goto(f"/progress/courses/{showcase['course'].pk}/")
    assert "/accounts/login/" in page.url
    assert page.locator("#id_username").is_visible()


def test_overview_fits_a_phone(browser_login, showcase, artifacts_dir):
    page = browser_login("teacher")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/progress/courses/{showcase['course'].pk}/")
    # Only the table scrolls sideways, never the page.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=os.path.join(artifacts_dir, "dashboard-overview-phone.png"), full_page=True)
    # The week comparison fits without scrolling.
    weeks = page.locator("[data-testid=weeks] [role=region]")
    assert weeks.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    page.locator("[data-testid=weeks]").screenshot(path=os.path.join(artifacts_dir, "dashboard-weeks-phone.png"))
    # The students table is a scrollable region with a visible hint; the status column is reached by scrolling it.
    hint = page.locator("#tbp-students-hint")
    assert hint.is_visible() and "sideways" in hint.inner_text()
    region = page.locator("[role=region][aria-describedby=tbp-students-hint]")
    assert region.get_attribute("tabindex") == "0"
    assert region.evaluate("el => el.scrollWidth > el.clientWidth")
    status = page.locator('[data-testid=students] tbody tr').first.locator('[data-col="status"]')
    region.focus()
    page.keyboard.press("ArrowRight")  # the keyboard scrolls it (smoothly: wait for it)
    page.wait_for_function("el => el.scrollLeft > 0", arg=region.element_handle(), timeout=3000)
    region.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    box, frame = status.bounding_box(), region.bounding_box()
    assert box["x"] >= frame["x"] - 1 and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1, (box, frame)
    page.screenshot(path=os.path.join(artifacts_dir, "dashboard-overview-phone-scrolled.png"))


@pytest.mark.parametrize("width", [1280, 1366, 1440, 1920])
@pytest.mark.parametrize("active", [35_940, 1_234_567])
def test_every_figure_fits_its_card(browser_login, showcase, artifacts_dir, width, active):
    """The longest class totals ("9 h 59 min"; "342 h" for 342 h 56 min) stay inside the Active time card."""
    StudentProgress.objects.filter(course=showcase["course"]).update(active_seconds=0)
    StudentProgress.objects.filter(student=showcase["students"]["Lovelace"]).update(active_seconds=active)
    page = browser_login("teacher")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"/progress/courses/{showcase['course'].pk}/")
    overflowing = page.evaluate("""() => [...document.querySelectorAll('[data-testid=figures] .tbp-figure')]
        .filter(card => { const dd = card.querySelector('dd');
            return dd.scrollWidth > dd.clientWidth + 1 || dd.getBoundingClientRect().right > card.getBoundingClientRect().right; })
        .map(card => card.innerText)""")
    assert overflowing == []
    page.locator("[data-testid=figures]").screenshot(path=os.path.join(artifacts_dir, f"dashboard-figures-{width}-{active}.png"))


def test_window_figures_match_the_chart(browser_login, showcase, artifacts_dir):
    """The teacher picks a week: the cards, the table, the chart and the CSV all add up the same attempts."""
    from timeback_progress.dashboards import days
    from timeback_progress.models import Attempt

    course = showcase["course"]
    page = browser_login("teacher")
    page.goto(f"/progress/courses/{course.pk}/")
    last = days.today() - dt.timedelta(days=3)
    first = last - dt.timedelta(days=6)
    page.get_by_label("From", exact=True).fill(first.isoformat())
    page.get_by_label("Until", exact=True).fill(last.isoformat())
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    tz = timezone.get_default_timezone()
    low = timezone.make_aware(dt.datetime.combine(first, dt.time.min), tz)
    high = timezone.make_aware(dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min), tz)
    done = Attempt.objects.filter(course=course, completed_at__gte=low, completed_at__lt=high)
    want = sum((a.xp_earned for a in done), Decimal(0))
    assert want > 0
    chart = page.evaluate("() => Chart.getChart(document.getElementById('tbp-class-chart')).data.datasets[0].data")
    assert len(chart) == 7 and Decimal(str(round(sum(chart), 2))) == want
    assert figure(page, "xp") == f"{want:,.1f}"
    assert figure(page, "completed") == str(done.count())
    cells = page.locator('[data-testid=students] tbody [data-col="xp"]').all_inner_texts()
    assert len(cells) == len(NAMES)  # everyone listed, idle students with 0.0
    assert sum(Decimal(c.replace(",", "")) for c in cells) == want
    scope = page.locator("[data-testid=scope]").inner_text()
    assert first.strftime("%-m/%-d/%Y") in scope or first.strftime("%m/%d/%Y") in scope
    assert "UTC" in scope
    page.screenshot(path=os.path.join(artifacts_dir, "dashboard-overview-window.png"), full_page=True)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    with open(info.value.path(), encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(NAMES) and sum(Decimal(r["xp"]) for r in rows) == want
    assert {(r["window_start"], r["window_end"]) for r in rows} == {(first.isoformat(), last.isoformat())}
