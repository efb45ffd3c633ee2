import pytest
from django.core.checks import run_checks
from django.test import override_settings

from timeback_progress.conf import ENVIRONMENTS, app_settings
from timeback_progress.checks import check_settings


def ids(settings_dict):
    with override_settings(TIMEBACK_PROGRESS=settings_dict):
        return sorted(e.id for e in check_settings())


def test_defaults_merge_and_environment_urls():
    with override_settings(TIMEBACK_PROGRESS={"ENVIRONMENT": "production"}):
        assert app_settings.CALIPER_URL == ENVIRONMENTS["production"]["CALIPER_URL"]
        assert app_settings.BATCH_SIZE == 100
    with override_settings(TIMEBACK_PROGRESS={"ENVIRONMENT": "staging", "API_URL": "http://127.0.0.1:9/"}):
        assert app_settings.API_URL == "http://127.0.0.1:9"  # trailing slash dropped
        assert app_settings.AUTH_URL == ENVIRONMENTS["staging"]["AUTH_URL"]


def test_cache_is_reset_when_settings_change():
    with override_settings(TIMEBACK_PROGRESS={"BATCH_SIZE": 7}):
        assert app_settings.BATCH_SIZE == 7
    assert app_settings.BATCH_SIZE != 7


def test_unknown_setting_name_raises():
    with pytest.raises(AttributeError, match="Invalid TIMEBACK_PROGRESS setting"):
        app_settings.NOT_A_SETTING


def test_clean_configuration_has_no_errors():
    assert ids({"ENVIRONMENT": "staging"}) == []


def test_sync_without_credentials_is_an_error():
    assert ids({"SYNC_ENABLED": True}) == ["timeback_progress.E003", "timeback_progress.E003"]
    assert ids({"SYNC_ENABLED": True, "CLIENT_ID": "x", "CLIENT_SECRET": "y"}) == []


def test_unknown_environment():
    assert "timeback_progress.E002" in ids({"ENVIRONMENT": "prod"})


def test_unknown_key_warns():
    assert ids({"BATCH_SIZ": 5}) == ["timeback_progress.W001"]


def test_bad_url_and_plain_http():
    assert ids({"API_URL": "ftp://example.com"}) == ["timeback_progress.E004"]
    found = ids({"SYNC_ENABLED": True, "CLIENT_ID": "x", "CLIENT_SECRET": "y", "API_URL": "http://timeback.example.com"})
    assert found == ["timeback_progress.W002"]
    assert ids({"SYNC_ENABLED": True, "CLIENT_ID": "x", "CLIENT_SECRET": "y", "API_URL": "http://127.0.0.1:8001"}) == []


def test_linking_every_line_item_to_its_component_resource_warns():
    """The seed's form is available, but on Timeback it can complete a course at its first graded result."""
    assert ids({"LINK_COMPONENT_RESOURCE": True}) == ["timeback_progress.W004"]
    assert ids({"LINK_COMPONENT_RESOURCE": False}) == []
    # With CALIPER_PROCESS the app sends no line items at all: W003 says so, W004 has nothing to add.
    assert ids({"LINK_COMPONENT_RESOURCE": True, "CALIPER_PROCESS": True}) == ["timeback_progress.W003"]


def test_bad_policy_and_numbers():
    assert ids({"XP_POLICY": "nowhere.policy"}) == ["timeback_progress.E005"]
    assert ids({"BATCH_SIZE": 0}) == ["timeback_progress.E006"]
    for bad in ("60", -1, float("nan"), True):
        assert ids({"TIME_FLUSH_SECONDS": bad}) == ["timeback_progress.E006"], bad
    assert ids({"TIME_FLUSH_SECONDS": 0}) == ids({"TIME_FLUSH_SECONDS": 2.5}) == []
    for bad in (0, 86_401, 7.5, "15", True, None):
        assert ids({"TIME_WINDOW_SECONDS": bad}) == ["timeback_progress.E006"], bad
    assert ids({"TIME_WINDOW_SECONDS": 1}) == ids({"TIME_WINDOW_SECONDS": 86_400}) == []
    assert ids({"SUBJECT_MAP": []}) == ["timeback_progress.E007"]


@pytest.mark.parametrize("key, bad", [
    ("READ_TIMEOUT", "abc"), ("READ_TIMEOUT", "30"), ("READ_TIMEOUT", 0), ("READ_TIMEOUT", None),
    ("CONNECT_TIMEOUT", -1), ("CONNECT_TIMEOUT", float("nan")), ("CONNECT_TIMEOUT", True),
    ("TOKEN_REFRESH_MARGIN", "sixty"), ("TOKEN_REFRESH_MARGIN", -5), ("TOKEN_REFRESH_MARGIN", float("inf")),
    ("ROSTER_PAGE_SIZE", 0), ("ROSTER_PAGE_SIZE", 2.5), ("BACKOFF_BASE_SECONDS", -1), ("BACKOFF_MAX_SECONDS", "1h"),
])
def test_client_numbers_are_checked(key, bad):
    """E010: the numbers the client and the sender read, refused at startup with a sentence naming the setting."""
    with override_settings(TIMEBACK_PROGRESS={key: bad}):
        found = [e for e in check_settings() if e.id == "timeback_progress.E010"]
    assert len(found) == 1 and f"['{key}'] must be" in found[0].msg and repr(bad) in found[0].msg


def test_client_numbers_in_range_pass():
    good = {"READ_TIMEOUT": 0.5, "CONNECT_TIMEOUT": 3, "TOKEN_REFRESH_MARGIN": 0, "ROSTER_PAGE_SIZE": 1,
            "BACKOFF_BASE_SECONDS": 0, "BACKOFF_MAX_SECONDS": 60}
    assert ids(good) == []


def test_a_secret_pasted_into_a_number_is_not_shown():
    with override_settings(TIMEBACK_PROGRESS={"CLIENT_SECRET": "s3cr3t+/=value", "READ_TIMEOUT": "s3cr3t+/=value"}):
        text = " ".join(e.msg for e in check_settings())
    assert "READ_TIMEOUT" in text and "s3cr3t" not in text


def test_not_a_dict():
    assert ids(["x"]) == ["timeback_progress.E001"]


def test_registered_with_django():
    with override_settings(TIMEBACK_PROGRESS={"ENVIRONMENT": "nowhere"}):
        assert "timeback_progress.E002" in {e.id for e in run_checks()}


def test_error_messages_never_show_the_secret():
    with override_settings(TIMEBACK_PROGRESS={"SYNC_ENABLED": True, "CLIENT_ID": "", "CLIENT_SECRET": "s3cr3t-value"}):
        text = " ".join(str(e) for e in check_settings())
    assert "s3cr3t-value" not in text


def test_caliper_process_mode_warns():
    assert ids({"CALIPER_PROCESS": True}) == ["timeback_progress.W003"]


def test_the_old_flag_settings_still_work_with_a_warning_naming_the_new_key():
    """STUCK_FAILED_ATTEMPTS / STUCK_INACTIVE_DAYS, set by a host before the flags were split."""
    with override_settings(TIMEBACK_PROGRESS={"STUCK_FAILED_ATTEMPTS": 5, "STUCK_INACTIVE_DAYS": 10}):
        assert (app_settings.STRUGGLING_ATTEMPTS, app_settings.INACTIVE_DAYS) == (5, 10)
        found = [e for e in check_settings() if e.id == "timeback_progress.W006"]
    assert len(found) == 2 and "'STRUGGLING_ATTEMPTS'" in found[0].msg and "'INACTIVE_DAYS'" in found[1].msg
    # The new name wins when both are set; the warning says the old one is ignored.
    with override_settings(TIMEBACK_PROGRESS={"STUCK_FAILED_ATTEMPTS": 5, "STRUGGLING_ATTEMPTS": 2}):
        assert app_settings.STRUGGLING_ATTEMPTS == 2
        assert "ignored" in next(e.msg for e in check_settings() if e.id == "timeback_progress.W006")
    assert (app_settings.STRUGGLING_ATTEMPTS, app_settings.INACTIVE_DAYS) == (3, 7)
    assert ids({"STRUGGLING_ATTEMPTS": 4, "INACTIVE_DAYS": 14}) == []


@pytest.mark.parametrize("key", ["STRUGGLING_ATTEMPTS", "INACTIVE_DAYS", "STUCK_INACTIVE_DAYS"])
def test_flag_settings_must_be_positive_integers(key):
    found = ids({key: 0})
    assert "timeback_progress.E006" in found
