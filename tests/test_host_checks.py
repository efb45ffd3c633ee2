"""The checks of the host's setup (``timeback_progress/host_checks.py``, docs/checks.md): each through
``run_checks`` (so registration is tested too), on the suite's settings and with one thing wrong."""

import io
import sys
import types

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import override_settings
from django.urls import clear_url_caches, include, path

HOST_IDS = {f"timeback_progress.{i}" for i in ("W007", "W008", "W009", "W010", "W011", "W012", "W013", "E013", "E014")}
GOOD_Q = {"name": "t", "orm": "default", "timeout": 300, "retry": 360, "max_attempts": 1}


def host_ids(**kwargs):
    """The host checks' ids found by every registered check, as ``manage.py check`` runs them."""
    return sorted(e.id for e in run_checks(**kwargs) if e.id in HOST_IDS)


def messages(check_id):
    return " ".join(f"{e.msg} {e.hint}" for e in run_checks() if e.id == check_id)


@pytest.fixture
def urlconf():
    """A URLconf module made per test; the resolver caches are cleared around it."""
    module = types.ModuleType("tests._host_urls")
    sys.modules[module.__name__] = module
    clear_url_caches()
    yield module
    del sys.modules[module.__name__]
    clear_url_caches()


def test_the_suite_settings_pass_every_host_check():
    assert host_ids() == []


def test_call_command_check_is_silent_on_a_good_setup(settings):
    settings.DEBUG = True  # the suite's locmem throttle cache is W005 with DEBUG off
    out = io.StringIO()
    call_command("check", stdout=out)
    assert "System check identified no issues" in out.getvalue()


# -- sign-in and sign-out (W007, W008) ---------------------------------------------------


def test_dashboards_without_any_sign_in_page(urlconf):
    urlconf.urlpatterns = [path("progress/", include("timeback_progress.urls"))]
    with override_settings(ROOT_URLCONF=urlconf.__name__, LOGIN_URL="/accounts/login/"):
        assert host_ids() == ["timeback_progress.W007", "timeback_progress.W008"]
        assert "/accounts/login/, a 404" in messages("timeback_progress.W007")
        assert "timeback_progress.auth_urls" in messages("timeback_progress.W007")


def test_the_apps_sign_in_pages_satisfy_both(urlconf):
    urlconf.urlpatterns = [path("progress/", include("timeback_progress.urls")),
                           path("accounts/", include("timeback_progress.auth_urls"))]
    with override_settings(ROOT_URLCONF=urlconf.__name__, LOGIN_URL="/accounts/login/"):
        assert host_ids() == []
    with override_settings(ROOT_URLCONF=urlconf.__name__, LOGIN_URL="login"):  # a URL name
        assert host_ids() == []


def test_a_login_url_pointing_past_the_login_view_names_the_fix(urlconf):
    urlconf.urlpatterns = [path("progress/", include("timeback_progress.urls")),
                           path("accounts/", include("django.contrib.auth.urls"))]
    with override_settings(ROOT_URLCONF=urlconf.__name__, LOGIN_URL="/signin/"):
        assert host_ids() == ["timeback_progress.W007"]
        assert 'set LOGIN_URL = "login"' in messages("timeback_progress.W007")


def test_an_external_sign_in_is_trusted_and_an_api_only_host_needs_none(urlconf):
    urlconf.urlpatterns = [path("progress/", include("timeback_progress.urls")), path("x/", include("django.contrib.auth.urls"))]
    with override_settings(ROOT_URLCONF=urlconf.__name__, LOGIN_URL="https://sso.example.com/login"):
        assert host_ids() == []
    urlconf.urlpatterns = [path("api/", include("timeback_progress.api.urls"))]
    with override_settings(ROOT_URLCONF=urlconf.__name__, LOGIN_URL="/nowhere/"):
        assert host_ids() == []


# -- Q_CLUSTER (W009, W010) -----------------------------------------------------------


def test_no_q_cluster(settings):
    del settings.Q_CLUSTER
    assert host_ids() == ["timeback_progress.W009"]


def test_no_q_cluster_is_fine_without_django_q(settings):
    del settings.Q_CLUSTER
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "django_q"]
    assert host_ids() == []


@pytest.mark.parametrize("change, says", [
    ({"max_attempts": 0}, "'max_attempts' is 0"),
    ({"max_attempts": None}, "'max_attempts' is None"),
    ({"timeout": None}, "'timeout' is not set"),
    ({"retry": 300}, "'retry' (300) is not larger than 'timeout' (300)"),
    ({"retry": 60}, "'retry' (60) is not larger than 'timeout' (300)"),
])
def test_a_q_cluster_that_lets_django_q_rerun_a_task(settings, change, says):
    settings.Q_CLUSTER = {**GOOD_Q, **change}
    assert host_ids() == ["timeback_progress.W010"]
    assert says in messages("timeback_progress.W010")


def test_a_q_cluster_missing_max_attempts_and_retry_says_both(settings):
    settings.Q_CLUSTER = {"name": "t", "orm": "default", "timeout": 300}
    text = messages("timeback_progress.W010")
    assert "'max_attempts' is 0" in text and "'retry' (60) is not larger than 'timeout' (300)" in text


def test_the_good_q_cluster_passes(settings):
    settings.Q_CLUSTER = GOOD_Q
    assert host_ids() == []


# -- the app's place in INSTALLED_APPS (W011) -----------------------------------------


def test_the_app_after_the_admin(settings):
    apps_list = [a for a in settings.INSTALLED_APPS if a != "timeback_progress"]
    at = apps_list.index("django.contrib.admin")
    settings.INSTALLED_APPS = [*apps_list[:at + 1], "timeback_progress", *apps_list[at + 1:]]
    assert host_ids() == ["timeback_progress.W011"]
    assert "no sync-health box" in messages("timeback_progress.W011")


# -- caches (W012, E014) ----------------------------------------------------------------


SYNC = {"SYNC_ENABLED": True, "CLIENT_ID": "x", "CLIENT_SECRET": "y"}


@pytest.mark.parametrize("backend", ["locmem.LocMemCache", "dummy.DummyCache"])
def test_a_per_process_token_cache_with_several_processes(settings, backend):
    settings.DEBUG = False
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, **SYNC}
    settings.CACHES = {**settings.CACHES, "default": {"BACKEND": f"django.core.cache.backends.{backend}"}}
    assert host_ids() == ["timeback_progress.W012"]


def test_a_per_process_token_cache_is_fine_with_debug_or_without_sync(settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, **SYNC}
    settings.DEBUG = True
    assert host_ids() == []
    settings.DEBUG = False
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": False}
    assert host_ids() == []


def test_a_shared_token_cache_passes(settings):
    settings.DEBUG = False
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, **SYNC}
    settings.CACHES = {**settings.CACHES, "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                                                      "LOCATION": "cache"}}
    assert host_ids() == []


def test_a_token_cache_alias_not_in_caches(settings):
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "TOKEN_CACHE_ALIAS": "tokens"}
    assert host_ids() == ["timeback_progress.E014"]


# -- USE_TZ (E013) and the API's apps (W013) --------------------------------------------


def test_use_tz_off(settings):
    settings.USE_TZ = False
    assert host_ids() == ["timeback_progress.E013"]


def test_the_api_routed_without_drf_spectacular(settings):
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if not a.startswith("drf_spectacular")]
    assert host_ids() == ["timeback_progress.W013"]
    assert "drf_spectacular is not in INSTALLED_APPS" in messages("timeback_progress.W013")


# -- what the app offers so that a host need not write it ----------------------------------


@pytest.mark.django_db
def test_the_apps_sign_in_page_renders_signs_in_and_offers_sign_out(urlconf, client, django_user_model):
    """``timeback_progress.auth_urls``: Django ships no registration/login.html; the app's page stands in."""
    urlconf.urlpatterns = [path("progress/", include("timeback_progress.urls")),
                           path("accounts/", include("timeback_progress.auth_urls"))]
    django_user_model.objects.create_user("teacher", password="pw-123456789")
    with override_settings(ROOT_URLCONF=urlconf.__name__, LOGIN_URL="/accounts/login/"):
        visit = client.get("/progress/")
        assert visit.status_code == 302 and visit["Location"] == "/accounts/login/?next=/progress/"
        page = client.get(visit["Location"])
        assert page.status_code == 200 and b'data-testid="sign-in"' in page.content
        signed_in = client.post("/accounts/login/", {"username": "teacher", "password": "pw-123456789", "next": "/progress/"})
        assert signed_in.status_code == 302 and signed_in["Location"] == "/progress/"
        assert b'action="/accounts/logout/"' in client.get("/progress/").content
        assert client.post("/accounts/logout/").status_code in (200, 302)


@pytest.mark.django_db
def test_the_api_include_serves_the_schema_and_its_swagger_page(urlconf, admin_client):
    urlconf.urlpatterns = [path("api/", include("timeback_progress.api.urls"))]
    with override_settings(ROOT_URLCONF=urlconf.__name__):
        schema = admin_client.get("/api/schema/", {"format": "json"})
        assert schema.status_code == 200 and "/api/v1/attempts/" in schema.json()["paths"]
        docs = admin_client.get("/api/docs/")
        assert docs.status_code == 200 and b"/api/schema/" in docs.content
