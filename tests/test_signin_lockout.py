"""The example project locks out repeated failed sign-ins (django-axes; issue 17, docs/deploy.md).

Found: 100 wrong passwords in 23 s, then the right one signed in. Here the
example project runs under ``runserver`` (its own settings, DEBUG off, a
scratch copy as in tests/test_deploy.py) with a short cool-off, and:

- after the failure limit every try gets the lockout page (429, ``Retry-After``,
  what happened and how long to wait), never a 500; the right password does
  not sign in during the cool-off, on the sign-in page or the admin's;
- the lockout is per username and address: another user at the same address
  signs in;
- after the cool-off the right password signs in.
"""

import subprocess
import sys
import time

import pytest
import requests

from tests.test_deploy import environment, free_port, new_key, run, scratch_tree

PASSWORD, OTHER_PASSWORD = "right-password-4711", "other-password-4711"
COOLOFF_SECONDS = 6
GIVEN = {
    "DJANGO_SECRET_KEY": new_key(),
    # Plain http on loopback, as the demo's .env.
    "DJANGO_SECURE_SSL_REDIRECT": "false", "DJANGO_SESSION_COOKIE_SECURE": "false", "DJANGO_CSRF_COOKIE_SECURE": "false",
    "DJANGO_AXES_FAILURE_LIMIT": "5", "DJANGO_AXES_COOLOFF_MINUTES": str(COOLOFF_SECONDS / 60),
}
USERS = (
    "from django.contrib.auth.models import User; "
    f"User.objects.create_user('teacher', password={PASSWORD!r}); "
    f"User.objects.create_user('other', password={OTHER_PASSWORD!r}, is_staff=True)"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tree = scratch_tree(tmp_path_factory.mktemp("lockout"))
    for args in (("migrate", "--noinput"), ("createcachetable",), ("shell", "-c", USERS)):
        done = run(tree, "manage.py", *args, **GIVEN)
        assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    log = open(tree / "runserver.log", "w")
    process = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                               cwd=tree, env=environment(tree, **GIVEN), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(base + "/accounts/login/", timeout=1)
            break
        except requests.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, (tree / "runserver.log").read_text()
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=10)
    log.close()


def sign_in(site, username, password, path="/accounts/login/", **headers):
    """A browser's sign-in: the form (for its CSRF cookie), then the post. The session and the response."""
    session = requests.Session()
    session.get(site + path, timeout=10)
    response = session.post(site + path, data={
        "username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"],
    }, headers=headers, allow_redirects=False, timeout=30)
    return session, response


def signed_in(site, session):
    """The dashboards answer a signed-in user (a 403 for a user who teaches nothing), else redirect to sign-in."""
    return session.get(site + "/progress/", allow_redirects=False, timeout=10).status_code != 302


def assert_lockout_page(response):
    assert response.status_code == 429, response.text[:300]
    assert response.headers["Retry-After"] == str(COOLOFF_SECONDS)
    assert "Sign-in paused" in response.text and "After 5 failed sign-ins" in response.text
    assert "even with the right password" in response.text and "Traceback" not in response.text


def test_a_hundred_wrong_passwords_lock_the_right_one_out_until_the_cooloff_ends(site):
    started = time.monotonic()
    statuses = []
    for _ in range(100):
        _, response = sign_in(site, "teacher", "wrong-password")
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert_lockout_page(response)
    print(f"100 wrong passwords in {time.monotonic() - started:.1f} s")
    assert 500 not in statuses
    assert statuses[:4] == [200] * 4 and set(statuses[4:]) == {429}  # the form's error, then the lockout

    session, response = sign_in(site, "teacher", PASSWORD)  # the right one, during the cool-off
    assert_lockout_page(response)
    assert not signed_in(site, session)
    _, admin = sign_in(site, "teacher", PASSWORD, path="/admin/login/")
    assert admin.status_code == 429  # the admin's sign-in is the same lock

    _, script = sign_in(site, "teacher", PASSWORD, **{"X-Requested-With": "XMLHttpRequest"})
    assert script.status_code == 429 and script.json()["retryAfter"] == COOLOFF_SECONDS

    other, response = sign_in(site, "other", OTHER_PASSWORD)  # per username and address
    assert response.status_code == 302 and signed_in(site, other)

    time.sleep(COOLOFF_SECONDS + 1)  # each try restarted the wait: a whole cool-off since the last
    session, response = sign_in(site, "teacher", PASSWORD)
    assert response.status_code == 302 and signed_in(site, session)
