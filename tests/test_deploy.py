"""The example project is safe by default (issue 17; docs/deploy.md).

Each test runs the example project's own settings (project/settings.py) in a
fresh process, from a scratch copy of the repository's ``project/``,
``templates/`` and ``manage.py`` with no ``.env`` and none of the developer's
variables, so only the environment a test gives counts:

- with a production-like environment ``manage.py check --deploy`` is clean;
- DEBUG is off unless DJANGO_DEBUG=true, and without DJANGO_SECRET_KEY the
  project refuses to start with a clear message instead of using a published key;
- under ``runserver`` with DEBUG off, an unknown URL, a bad ``Host``, a 10 MB
  body and a server error get the project's plain pages (no debug page, no
  URLconf, no environment), and static files are served (WhiteNoise).
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from project import demo_env

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = ("DJANGO_", "DATABASE_", "TIMEBACK_", "REDIS_URL", "Q_WORKERS", "PYTHONPATH")
MISSING_KEY = "DJANGO_SECRET_KEY is not set"

# What a host behind a TLS-terminating proxy sets (docs/deploy.md).
PRODUCTION = {
    "DJANGO_ALLOWED_HOSTS": "progress.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://progress.example.com",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "TIMEBACK_ENVIRONMENT": "production",
    "TIMEBACK_CLIENT_ID": "client-id",
    "TIMEBACK_CLIENT_SECRET": "client-secret-value",
    "TIMEBACK_SENSOR": "https://progress.example.com",
    "TIMEBACK_SYNC_ENABLED": "true",
}


def scratch_tree(folder):
    """A copy of the example project (no .env) in ``folder``; the app itself comes from this checkout."""
    shutil.copytree(ROOT / "project", folder / "project", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "templates", folder / "templates")
    shutil.copy(ROOT / "manage.py", folder / "manage.py")
    return folder


def environment(tree, **given):
    """The process environment without the developer's project variables, plus ``given``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE)}
    env.update({"PYTHONPATH": f"{tree}{os.pathsep}{ROOT}", "DATABASE_URL": f"sqlite:///{tree / 'db.sqlite3'}", **given})
    return env


def new_key():
    return secrets.token_urlsafe(50)


def run(tree, *args, **given):
    return subprocess.run([sys.executable, *args], cwd=tree, env=environment(tree, **given),
                          capture_output=True, text=True, timeout=120)


def read_settings(tree, *names, **given):
    code = "import project.settings as s; print(repr({" + ", ".join(f"{n!r}: s.{n}" for n in names) + "}))"
    done = run(tree, "-c", code, **given)
    assert done.returncode == 0, done.stderr
    return eval(done.stdout)  # noqa: S307 - our own repr of plain values


# --- settings -----------------------------------------------------------------------------------


def test_check_deploy_is_clean_in_a_production_like_environment(tmp_path):
    tree = scratch_tree(tmp_path)
    done = run(tree, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
               DJANGO_SECRET_KEY=new_key(), **PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_debug_is_off_and_https_assumed_by_default(tmp_path):
    found = read_settings(scratch_tree(tmp_path), "DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                          "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER", "ALLOWED_HOSTS",
                          DJANGO_SECRET_KEY=new_key())
    assert found == {
        "DEBUG": False, "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 0, "SECURE_PROXY_SSL_HEADER": None, "ALLOWED_HOSTS": ["localhost", "127.0.0.1", "[::1]"],
    }


def test_the_security_settings_come_from_the_environment(tmp_path):
    found = read_settings(scratch_tree(tmp_path), "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SECURE_PROXY_SSL_HEADER",
                          "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
                          "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT",
                          DJANGO_SECRET_KEY=new_key(), DJANGO_SESSION_COOKIE_SECURE="false",
                          DJANGO_CSRF_COOKIE_SECURE="false", DJANGO_SECURE_SSL_REDIRECT="false", **PRODUCTION)
    assert found == {
        "ALLOWED_HOSTS": ["progress.example.com"], "CSRF_TRUSTED_ORIGINS": ["https://progress.example.com"],
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"), "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": False, "CSRF_COOKIE_SECURE": False, "SECURE_SSL_REDIRECT": False,
    }


@pytest.mark.parametrize("given", [{}, {"DJANGO_DEBUG": "false"}, {"DJANGO_SECRET_KEY": ""}],
                         ids=["nothing-set", "debug-off", "empty-key"])
def test_without_a_secret_key_the_project_refuses_to_start(tmp_path, given):
    tree = scratch_tree(tmp_path)
    done = run(tree, "manage.py", "check", **given)
    assert done.returncode != 0
    assert f"ImproperlyConfigured: {MISSING_KEY}" in done.stderr
    assert "project.demo_env" in done.stderr  # says how to get one


def test_a_development_key_only_with_debug_on(tmp_path):
    """DJANGO_DEBUG=true runs without a key, on one ``check --deploy`` refuses (security.W009)."""
    tree = scratch_tree(tmp_path)
    assert read_settings(tree, "DEBUG", DJANGO_DEBUG="true") == {"DEBUG": True}
    done = run(tree, "manage.py", "check", "--deploy", "--fail-level", "WARNING", DJANGO_DEBUG="true", **PRODUCTION)
    assert done.returncode != 0 and "security.W009" in done.stderr and "security.W018" in done.stderr


def test_a_proxy_header_needs_a_name_and_a_value(tmp_path):
    done = run(scratch_tree(tmp_path), "manage.py", "check", DJANGO_SECRET_KEY=new_key(),
               DJANGO_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    assert done.returncode != 0 and "DJANGO_SECURE_PROXY_SSL_HEADER must be a header and a value" in done.stderr


# --- the demo's .env ----------------------------------------------------------------------------


def test_the_demo_env_gives_a_new_key_and_plain_http_once(tmp_path, capsys):
    dotenv = tmp_path / ".env"
    demo_env.main(dotenv, environ={})
    first = dotenv.read_text()
    key = re.search(r"^DJANGO_SECRET_KEY=(\S+)$", first, re.M).group(1)
    assert len(key) >= 50 and "DJANGO_SECURE_SSL_REDIRECT=false" in first
    assert dotenv.stat().st_mode & 0o077 == 0  # a secret: owner only
    demo_env.main(dotenv, environ={})
    assert dotenv.read_text() == first  # run again: nothing changes, the key stays
    other = tmp_path / "other.env"
    demo_env.main(other, environ={})
    assert key not in other.read_text()  # a new key every time, never a published one


def test_the_demo_env_fills_an_empty_key_and_keeps_what_is_set(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("DJANGO_SECRET_KEY=\nDJANGO_SECURE_SSL_REDIRECT=true\n")
    demo_env.main(dotenv, environ={"DJANGO_CSRF_COOKIE_SECURE": "true"})
    lines = dotenv.read_text().splitlines()
    assert re.fullmatch(r"DJANGO_SECRET_KEY=\S{50,}", lines[0])  # in place: the first assignment is the one read
    assert "DJANGO_SECURE_SSL_REDIRECT=true" in lines and "DJANGO_SECURE_SSL_REDIRECT=false" not in lines
    assert not any(line.startswith("DJANGO_CSRF_COOKIE_SECURE") for line in lines)


def test_the_example_project_runs_on_the_demo_env(tmp_path):
    tree = scratch_tree(tmp_path)
    done = run(tree, "-m", "project.demo_env")
    assert done.returncode == 0, done.stderr
    assert "DJANGO_SECRET_KEY=" in (tree / ".env").read_text()  # beside manage.py, where settings read it
    found = read_settings(tree, "DEBUG", "SESSION_COOKIE_SECURE", "SECURE_SSL_REDIRECT")
    assert found == {"DEBUG": False, "SESSION_COOKIE_SECURE": False, "SECURE_SSL_REDIRECT": False}


# --- runserver with DEBUG off ---------------------------------------------------------------------

SENTINEL = "db-password-SENTINEL-4711"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """runserver on the production-like environment, DEBUG unset (off), static files collected.

    Its database has no tables, so a request that reads the session is a real
    500; its environment holds the sentinel (DATABASE_URL, as runserver passes
    the environment in request.META, which Django's debug page lists).
    """
    tree = scratch_tree(tmp_path_factory.mktemp("deploy"))
    given = {**PRODUCTION, "DJANGO_SECRET_KEY": new_key(), "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
             "DATABASE_URL": f"sqlite:///{tree / (SENTINEL + '.sqlite3')}", "TIMEBACK_CLIENT_SECRET": SENTINEL}
    collected = run(tree, "manage.py", "collectstatic", "--noinput", **given)
    assert collected.returncode == 0, collected.stderr
    port = free_port()
    log = open(tree / "runserver.log", "w")
    process = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                               cwd=tree, env=environment(tree, **given), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(base, timeout=1, allow_redirects=False)
            break
        except requests.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, (tree / "runserver.log").read_text()
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=10)
    log.close()


def get(server, path, method="GET", headers=None, **kwargs):
    """A request as the TLS-terminating proxy passes it on (X-Forwarded-Proto: https)."""
    return requests.request(method, server + path, headers={"X-Forwarded-Proto": "https", **(headers or {})},
                            allow_redirects=False, timeout=30, **kwargs)


def assert_plain(response, status, heading):
    """The project's own page: no debug page, no URLconf, nothing from the environment or settings."""
    assert response.status_code == status, response.text[:500]
    body = response.text
    assert f"<h1>{heading}</h1>" in body, body[:500]
    for leak in (SENTINEL, "DATABASE_URL", "Traceback", "URLconf", "project.urls", "api/schema", "DEBUG = True",
                 "settings file", "Request information", "META"):
        assert leak not in body, leak


def test_an_unknown_url_gets_a_plain_404(server):
    assert_plain(get(server, "/no-such-page/"), 404, "Page not found")
    assert_plain(get(server, "/progress/no-such-page/"), 404, "Page not found")


def test_a_bad_host_gets_a_plain_400(server):
    assert_plain(get(server, "/", headers={"Host": "attacker.example"}), 400, "Bad request")


def test_a_10_mb_body_gets_a_plain_400(server):
    """A form post past DATA_UPLOAD_MAX_MEMORY_SIZE, with a valid CSRF cookie and referer, so the body is read."""
    token = "a" * 32
    response = get(server, "/accounts/login/", method="POST", data=b"username=" + b"x" * (10 * 1024 * 1024),
                   headers={"Content-Type": "application/x-www-form-urlencoded",
                            "Referer": server.replace("http:", "https:") + "/",
                            "Cookie": f"csrftoken={token}", "X-CSRFToken": token})
    assert_plain(response, 400, "Bad request")


def test_a_server_error_shows_nothing_of_the_server(server):
    """The session table is missing: a real 500, and the page says only that."""
    response = get(server, "/progress/", headers={"Cookie": "sessionid=" + "s" * 32})
    assert_plain(response, 500, "Something went wrong")


def test_a_denied_page_is_the_plain_403(server):
    response = get(server, "/accounts/login/", method="POST", data={"username": "x"})  # no CSRF token
    assert response.status_code == 403 and SENTINEL not in response.text and "Traceback" not in response.text


def test_static_files_are_served_with_debug_off(server):
    page = get(server, "/accounts/login/")
    assert page.status_code == 200 and "Sign in" in page.text
    for path, kind in (("/static/timeback_progress/dashboard.css", "text/css"),
                       ("/static/timeback_progress/vendor/chart.umd.min.js", "javascript"),
                       ("/static/admin/css/base.css", "text/css")):
        response = get(server, path, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, path
        assert kind in response.headers["Content-Type"]
        assert response.headers.get("Content-Encoding") == "gzip"  # WhiteNoise's compressed copy


def test_https_is_enforced(server):
    plain = requests.get(server + "/accounts/login/", allow_redirects=False, timeout=10)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
    secure = get(server, "/accounts/login/")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "Secure" in secure.headers["Set-Cookie"]  # the CSRF cookie
