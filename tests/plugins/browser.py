"""A headless Chromium page (Debian's /usr/bin/chromium) driven by Playwright.

Tests using ``page`` need ``live_server``; they are marked ``browser`` and
skip with a clear reason where Chromium or Playwright is missing (CI installs
both, see .ci/run).
"""

import os
import shutil
import tempfile

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    playwright_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; Django's ORM
    # calls from the test body are still synchronous and safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


# DOCS_SCREENSHOTS=1 also copies these test screenshots into docs/images/ (the docs show them):
# DOCS_SCREENSHOTS=1 pytest tests/test_dashboards_browser.py tests/test_dashboards_grid_browser.py \
#   tests/test_student_pages_browser.py tests/test_admin_browser.py tests/test_held.py -k "browser or screenshots"
DOCS_IMAGES = {
    "dashboard-overview.png": "overview.png",
    "grid-desktop.png": "grid.png",
    "dashboard-student.png": "student.png",
    "student-home-desktop.png": "my-progress.png",
    "admin_student.png": "admin-student.png",
    "held-sync-health.png": "admin-sync-health.png",
}


def _copy_to_docs(page):
    """Wrap ``page.screenshot``: a shot named in DOCS_IMAGES is also saved, top 1366x900 only, for the docs."""
    docs = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "images")
    shoot = page.screenshot

    def screenshot(*args, **kwargs):
        taken = shoot(*args, **kwargs)
        name = DOCS_IMAGES.get(os.path.basename(kwargs.get("path") or ""))
        if name:
            shoot(path=os.path.join(docs, name), full_page=True, clip={"x": 0, "y": 0, "width": 1366, "height": 900})
        return taken

    page.screenshot = screenshot


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    if os.environ.get("DOCS_SCREENSHOTS"):
        _copy_to_docs(page)
    yield page
    context.close()


@pytest.fixture
def browser_login(page, live_server):
    """Sign ``user`` in through the example project's login page."""

    def login(username, password="pw"):
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        return page

    return login


@pytest.fixture
def artifacts_dir():
    path = os.environ.get("TEST_ARTIFACTS", os.path.join(tempfile.gettempdir(), "timeback-test-artifacts"))
    os.makedirs(path, exist_ok=True)
    return path
