"""The dashboards with the keyboard only (Tab, Enter): skip link first, sort, search, page.

Every element Tab lands on must show a visible focus indicator (a computed
outline of at least 2 px that is not ``none``), so the test also checks the
focus styles of every control on the way.
"""

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MAX_TABS = 150

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName, text: (el.innerText || el.value || "").trim().slice(0, 40),
    outline: style.outlineStyle, width: parseFloat(style.outlineWidth) || 0,
    html: el.outerHTML.slice(0, 120),
  };
}"""


def assert_focus_visible(page):
    focused = page.evaluate(FOCUSED)
    assert focused["tag"] != "BODY", "Tab left the page's controls"
    assert focused["outline"] not in ("none", "") and focused["width"] >= 2, f"no visible focus on {focused['html']}"
    return focused


def tab_to(page, selector, key="Tab"):
    """Press ``key`` until the focused element matches ``selector``; every stop must show its focus."""
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        assert_focus_visible(page)
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} not reached in {MAX_TABS} presses of {key}")


def test_the_course_overview_works_with_the_keyboard_only(walk, page, browser_login):
    browser_login("teacher")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(reverse("timeback_progress:course-overview", args=[walk["course"].pk]))

    # The skip link comes first, and takes the focus past the header.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.classList.contains('tbp-skip')")
    assert_focus_visible(page)
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "tbp-main"

    # Sort by XP: Tab to the column header's link, Enter; aria-sort follows.
    xp_header = page.locator('th[data-sort-key="xp"]')
    before = xp_header.get_attribute("aria-sort")
    tab_to(page, 'th[data-sort-key="xp"] a')
    with page.expect_navigation():
        page.keyboard.press("Enter")
    after = xp_header.get_attribute("aria-sort")
    assert after in ("ascending", "descending") and after != before
    page.keyboard.press("Tab")  # the focus starts again from the top of the new page
    tab_to(page, 'th[data-sort-key="xp"] a')
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert xp_header.get_attribute("aria-sort") not in (after, None)  # the other way round

    # Search: Tab to the field, type, Enter submits the filters (keeping the sort).
    tab_to(page, 'input[name="q"]')
    page.keyboard.type("Student")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "q=Student" in page.url and "sort=" in page.url
    assert page.locator('input[name="q"]').input_value() == "Student"

    # Pages: 55 students match, Tab to "Next", Enter, and back again with Shift+Tab from the end.
    tab_to(page, '.tbp-pagination a[rel="next"]')
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "page=2" in page.url and "q=Student" in page.url
    page.keyboard.press("End")
    page.locator("body").focus()
    tab_to(page, '.tbp-pagination a[rel="prev"]', key="Shift+Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "page=1" in page.url


def test_the_student_page_attempts_pagination_is_reached_with_the_keyboard(walk, page, browser_login):
    browser_login("teacher")
    page.goto(reverse("timeback_progress:student-detail", args=[walk["course"].pk, walk["ada"].pk]))
    # The chart's numbers open with the keyboard too.
    tab_to(page, ".tbp-chart-data > summary")
    page.keyboard.press("Space")
    assert page.locator(".tbp-chart-data").get_attribute("open") is not None
    tab_to(page, '.tbp-pagination a[rel="next"]')
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "page=2" in page.url
