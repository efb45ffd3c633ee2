"""The grid and the activities view in a real browser (headless Chromium through Playwright)."""

import csv
import os
import random
from decimal import Decimal

import pytest

from tests.plugins.factories import complete, enroll, make_activity, make_student

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("GRID_SHOTS", "/tmp/shots")
NAMES = [
    ("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper"), ("Edsger", "Dijkstra"), ("Barbara", "Liskov"),
    ("Donald", "Knuth"), ("Frances", "Allen"), ("John", "Backus"), ("Margaret", "Hamilton"), ("Ken", "Thompson"),
]
LESSONS = ["Fractions", "Decimals", "Ratios", "Percentages", "Exponents", "Roots", "Equations", "Inequalities",
           "Functions", "Graphs", "Geometry", "Angles"]


@pytest.fixture
def klass(users):
    """Ten students, twelve lessons and a video, attempts through the real services path."""
    rng = random.Random(11)
    course = users["course"]
    lessons = [make_activity(course, name=name, expected_xp=Decimal(10), masterable_units=1 + i % 2)
               for i, name in enumerate(LESSONS)]
    video = make_activity(course, name="Intro video", expected_xp=Decimal(5), masterable_units=0, is_graded=False)
    for i, (given, family) in enumerate(NAMES):
        student = make_student(given_name=given, family_name=family)
        enroll(course, student=student)
        skill = 0.97 - i * 0.05
        for lesson in rng.sample(lessons, 3 + i % 6):
            for _ in range(1 + (i % 3 == 0)):
                complete(student, lesson, total=10, correct=sum(rng.random() < skill for _ in range(10)),
                         active=rng.randint(120, 900))
        if i % 2 == 0:
            complete(student, video, total=0, correct=0, active=300 + 30 * i)
    return users


RANK = {"Mastered": 4, "Completed": 3, "Done": 2, "In progress": 1, "Not started": 0}


def state_of(title):
    return next(label for label in RANK if title.startswith(label))


def grid_cells(page):
    """``{student name: [cell title, ...]}`` and the names in the page's order."""
    order, cells = [], {}
    for row in page.locator("[data-testid=grid] tbody tr").all():
        name = row.locator("th").inner_text().strip()
        order.append(name)
        cells[name] = [td.get_attribute("title") for td in row.locator("td").all()]
    return order, cells


def column_names(page):
    return [a.inner_text().strip().rstrip("▲▼↕").strip() for a in page.locator("[data-testid=grid] thead th a").all()][1:]


def test_grid_sorts_by_keyboard_and_downloads_the_same_cells(browser_login, klass):
    course = klass["course"]
    page = browser_login("teacher")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"/progress/courses/{course.pk}/grid/")
    assert page.locator("[data-testid=grid] tbody tr").count() == 10
    assert column_names(page) == sorted(LESSONS + ["Intro video"])
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, "grid-desktop.png"), full_page=True)

    # Keyboard only: Tab from the top of the page to the "Ratios" header, then Enter.
    target = page.locator('[data-testid=grid] thead th a[title="Ratios"]')
    href = target.get_attribute("href")
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.getAttribute('href')") == href:
            break
    else:
        pytest.fail("Tab never reached the Ratios header")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    header = page.locator('[data-testid=grid] thead th:has(a[title="Ratios"])')
    assert header.get_attribute("aria-sort") == "descending"
    order, cells = grid_cells(page)
    column = column_names(page).index("Ratios")
    ranks = [RANK[state_of(cells[name][column])] for name in order]
    assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) > 1
    # Enter on the same header again flips it.
    page.locator('[data-testid=grid] thead th a[title="Ratios"]').focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator('[data-testid=grid] thead th:has(a[title="Ratios"])').get_attribute("aria-sort") == "ascending"
    order, cells = grid_cells(page)

    # The CSV link downloads the same cells in the same order.
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    with open(info.value.path(), encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][3:] == column_names(page)
    assert [f"{r[1]} {r[2]}" for r in rows[1:]] == order
    assert {f"{r[1]} {r[2]}": r[3:] for r in rows[1:]} == cells

    # The first column stays put while the grid scrolls sideways.
    wrap = page.locator(".tbp-grid-wrap")
    first = page.locator("[data-testid=grid] tbody th").first
    before = first.bounding_box()["x"]
    wrap.evaluate("node => node.scrollLeft = 400")
    assert wrap.evaluate("node => node.scrollLeft") > 0
    assert first.bounding_box()["x"] == before


def test_activities_view_agrees_with_the_grid(browser_login, klass):
    course = klass["course"]
    page = browser_login("teacher")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"/progress/courses/{course.pk}/grid/")
    _order, cells = grid_cells(page)
    columns = column_names(page)
    ids = [th.get_attribute("data-activity") for th in page.locator("[data-testid=grid] thead th[data-activity]").all()]
    page.get_by_role("link", name="Activities", exact=True).click()
    page.wait_for_load_state()
    page.screenshot(path=os.path.join(SHOTS, "grid-activities-desktop.png"), full_page=True)
    for name in columns:
        states = [state_of(row[columns.index(name)]) for row in cells.values()]
        attempted = sum(s != "Not started" for s in states)
        completed = sum(s in ("Mastered", "Completed", "Done") for s in states)
        mastered = sum(s == "Mastered" for s in states)
        row = page.locator(f'[data-testid=activities] tbody tr[data-activity="{ids[columns.index(name)]}"]')
        assert row.locator('[data-col="attempted"]').inner_text() == str(attempted), name
        shown_completed = row.locator('[data-col="completed"]').inner_text()
        if name == "Intro video":
            assert shown_completed == f"{completed} done" and row.locator('[data-col="accuracy"]').inner_text() == "–"
        else:
            assert shown_completed == str(completed), name
            rate = row.locator('[data-col="mastery"]').inner_text()
            assert rate == ("–" if not attempted else f"{Decimal(mastered * 100) / attempted:.1f}%"), name

    # Sorting by a column with the keyboard.
    page.locator('[data-testid=activities] th[data-sort-key="accuracy"] a').focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator('[data-testid=activities] th[data-sort-key="accuracy"]').get_attribute("aria-sort") == "descending"
    shown = [t.rstrip("%") for t in page.locator('[data-testid=activities] [data-col="accuracy"]').all_inner_texts()]
    numbers = [Decimal(t) for t in shown if t != "–"]
    assert numbers == sorted(numbers, reverse=True) and shown[len(numbers):] == ["–"] * (len(shown) - len(numbers))


def test_phone_widths_scroll_only_the_grid(browser_login, klass):
    course = klass["course"]
    page = browser_login("teacher")
    page.set_viewport_size({"width": 390, "height": 844})
    for view, shot in (("grid", "grid-phone.png"), ("activities", "grid-activities-phone.png")):
        page.goto(f"/progress/courses/{course.pk}/{view}/")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), view
        page.screenshot(path=os.path.join(SHOTS, shot), full_page=True)
