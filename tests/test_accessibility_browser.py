"""Every dashboards page, and the app's admin additions, pass axe-core at desktop and phone widths.

``PAGES`` lists each page as (name, user, URL builder, expected status,
scope): add a row for a new page. ``scope`` is None for the app's own pages
(every serious or critical violation fails) and a CSS selector for pages the
app only adds to (Django's admin): there only violations inside the app's
additions fail, Django's own are printed. See docs/dashboards.md, "Accessibility".
"""

from dataclasses import dataclass, field
from typing import Callable

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
# The app's own elements inside Django's admin pages.
APP_ADDITIONS = '[class*="tbp-"], [id^="tbp-"]'


@dataclass
class Page:
    name: str
    user: str | None  # a username of the ``walk`` fixture, None: signed out
    url: Callable[[dict], str]
    status: int = 200
    scope: str | None = None
    check: Callable | None = field(default=None, repr=False)  # page -> None, asserts the page is the one meant


def overview(d, query=""):
    return reverse("timeback_progress:course-overview", args=[d["course"].pk]) + query


def detail(d):
    return reverse("timeback_progress:student-detail", args=[d["course"].pk, d["ada"].pk])


PAGES = [
    Page("login", None, lambda d: reverse("login")),
    Page("course-list-teacher", "teacher", lambda d: reverse("timeback_progress:course-list")),
    Page("course-list-staff", "staff", lambda d: reverse("timeback_progress:course-list")),
    Page("course-overview", "teacher", overview),
    Page("course-overview-filtered", "teacher", lambda d: overview(d, "?q=Student&stuck=on&sort=-xp&page=1")),
    Page("course-overview-400", "teacher", lambda d: overview(d, "?start=2025-13-01&end=nope"), status=400),
    Page("course-grid", "teacher", lambda d: reverse("timeback_progress:course-grid", args=[d["course"].pk])),
    Page("course-grid-sorted", "teacher",
         lambda d: reverse("timeback_progress:course-grid", args=[d["course"].pk]) + "?sort=-name"),
    Page("course-activities", "teacher", lambda d: reverse("timeback_progress:course-activities", args=[d["course"].pk])),
    Page("student-detail", "teacher", detail),
    Page("student-detail-page-2", "teacher", lambda d: detail(d) + "?page=2"),
    Page("my-progress", "ada", lambda d: reverse("timeback_progress:my-progress")),
    Page("forbidden", "ada", detail, status=403),
    # The example project's error page (templates/404.html; DEBUG is off in tests).
    Page("not-found", "teacher", lambda d: "/no-such-page/", status=404),
    Page("admin-attempt-changelist", "admin", lambda d: reverse("admin:timeback_progress_attempt_changelist"),
         scope=APP_ADDITIONS),
    Page("admin-attempt-change", "admin", lambda d: reverse("admin:timeback_progress_attempt_change", args=[d["attempt"].pk]),
         scope=APP_ADDITIONS),
    Page("admin-result-changelist", "admin", lambda d: reverse("admin:timeback_progress_result_changelist"),
         scope=APP_ADDITIONS),
    Page("admin-result-change", "admin", lambda d: reverse("admin:timeback_progress_result_change", args=[d["result"].pk]),
         scope=APP_ADDITIONS),
    # The outbox's changelist: the app's sync health box and status badges.
    Page("admin-delivery-changelist", "admin", lambda d: reverse("admin:timeback_progress_delivery_changelist"),
         scope=APP_ADDITIONS),
]


@pytest.mark.parametrize("spec", PAGES, ids=[p.name for p in PAGES])
def test_page_has_no_serious_axe_violations(spec, walk, page, browser_login, assert_accessible, shots):
    if spec.user:
        browser_login(spec.user)
    url = spec.url(walk)
    failures = []
    for label, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        response = page.goto(url)
        assert response.status == spec.status, f"{spec.name}: {url} answered {response.status}"
        page.wait_for_load_state("load")
        if spec.check:
            spec.check(page)
        page.screenshot(path=f"{shots}/a11y-{spec.name}-{label}.png", full_page=True)
        try:
            assert_accessible(page, context=f"{spec.name} at {label} width", scope=spec.scope)
        except AssertionError as error:
            failures.append(str(error))
    assert not failures, "\n\n".join(failures)


def test_the_throttled_page_has_no_serious_axe_violations(users, settings, page, browser_login, assert_accessible, shots):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "THROTTLE_RATES": {
        **settings.TIMEBACK_PROGRESS["THROTTLE_RATES"], "timeback_dashboard": "3/min"}}
    browser_login("teacher")  # the sign-in lands on the course list: one request of three
    url = reverse("timeback_progress:course-list")
    for label, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        statuses = [page.goto(url).status for _ in range(5)]
        assert statuses[-1] == 429, statuses
        page.screenshot(path=f"{shots}/a11y-throttled-{label}.png", full_page=True)
        assert_accessible(page, context=f"throttled at {label} width")
