"""Run docs/quickstart.md as written, against the package as it would be published.

    python -m tests.quickstart.drive [--python python3.12] [--dist DIR] [--keep]

1. Builds the wheel and the sdist (``python -m build``), runs ``twine check``
   and checks what they hold (``package.py``), unless ``--dist`` names built ones.
2. In a new directory, runs the quick start's marked blocks in order, with the
   interpreter of ``--python`` as ``python3``:

   - ``<!-- quickstart: run -->`` over a ``bash`` block: run by bash (``set -eo
     pipefail``); exported variables and the directory carry over to the next
     block, as in one terminal; ``run, then wait for URL ...`` then waits until
     each URL answers. The block's ``pip install timeback-progress[...]`` installs
     the built wheel (with the same extras) instead of the one on PyPI.
   - ``<!-- quickstart: append FILE -->`` / ``write FILE`` over a ``python`` block:
     added to / written as that file of the project.

   Ports 8000 and 8765 become free ones (other servers may hold those).
3. Checks what the page promises: ``check`` prints no issue and no warning,
   every migration is applied, an anonymous visit to the dashboards reaches a
   sign-in page that signs the teacher in, the API completed the attempt, the
   served schema is a valid OpenAPI document and the Swagger page answers, and
   the qcluster delivered the completion to the sandbox.

Stops every process it started; keeps the directory on failure (or with
``--keep``). Exit status 0 when everything holds. Needs ``build``, ``twine``
and ``openapi-spec-validator`` (the ``release`` extra) in the interpreter
running it, and PyPI for the project's dependencies.
"""

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.quickstart.package import REPO, sdist_problems, wheel_problems

DOC = REPO / "docs" / "quickstart.md"
BLOCK = re.compile(r"<!-- quickstart: (?P<how>.+?) -->\s*\n```(?P<lang>\w+)\n(?P<body>.*?)\n```", re.S)
INSTALL = re.compile(r"""pip install (["']?)timeback-progress(\[[^\]]*\])?\1""")
DOC_PORTS = {"web": "8000", "sandbox": "8765"}


class QuickstartFailed(AssertionError):
    pass


def check(condition, message):
    if not condition:
        raise QuickstartFailed(message)


def blocks(doc=DOC):
    """The page's marked blocks, in order: ``(how, language, body)``."""
    found = [(m["how"].strip(), m["lang"], m["body"]) for m in BLOCK.finditer(Path(doc).read_text())]
    check(found, f"no marked blocks in {doc}")
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Phases:
    """Wall-clock time of each phase, printed at the end."""

    def __init__(self):
        self.times, self._name, self._start = [], None, None

    def start(self, name):
        self.stop()
        print(f"--- {name}", flush=True)
        self._name, self._start = name, time.monotonic()

    def stop(self):
        if self._name:
            self.times.append((self._name, time.monotonic() - self._start))
            self._name = None

    def report(self):
        self.stop()
        for name, seconds in self.times:
            print(f"  {seconds:7.1f} s  {name}")
        print(f"  {sum(s for _, s in self.times):7.1f} s  in all")


def build(dist):
    """The wheel and the sdist, checked by twine and by ``package.py``."""
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(dist.iterdir()))], check=True)


def distributions(dist):
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    check(len(wheels) == 1 and len(sdists) == 1, f"expected one wheel and one sdist in {dist}: {list(dist.iterdir())}")
    problems = wheel_problems(wheels[0]) + sdist_problems(sdists[0])
    check(not problems, "the distributions:\n  " + "\n  ".join(problems))
    return wheels[0]


class Session:
    """One terminal: exported variables and the directory carry from block to block."""

    def __init__(self, root, python, ports):
        self.root, self.ports = root, ports
        self.state, self.cwd_file = root / ".state.sh", root / ".cwd"
        self.cwd_file.write_text(str(root))
        bin_dir = root / ".bin"
        bin_dir.mkdir()
        (bin_dir / "python3").symlink_to(shutil.which(python) or python)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("TIMEBACK_", "DJANGO_", "VIRTUAL_ENV"))}
        self.env.update(PATH=f"{bin_dir}{os.pathsep}{self.env['PATH']}", PIP_DISABLE_PIP_VERSION_CHECK="1")
        self.env.pop("PYTHONPATH", None)
        self.groups = []  # process groups to stop at the end (each block's, with its background jobs)
        self.logs = []

    @property
    def cwd(self):
        return Path(self.cwd_file.read_text().strip())

    def localise(self, text):
        for name, port in DOC_PORTS.items():
            text = re.sub(rf"(?<![\d]){port}(?![\d])", str(self.ports[name]), text)
        return text

    def run(self, body, label, timeout=900):
        log = self.root / f".block-{len(self.logs) + 1}.log"
        self.logs.append(log)
        script = "\n".join([
            "set -eo pipefail",
            f'[ -f "{self.state}" ] && . "{self.state}"',
            f'cd "$(cat "{self.cwd_file}")"',
            body,
            f'export -p > "{self.state}"',
            f'pwd > "{self.cwd_file}"',
        ])
        with open(log, "w") as out:
            proc = subprocess.Popen(["bash", "-c", script], stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                    start_new_session=True)
            self.groups.append(proc.pid)
            code = proc.wait(timeout=timeout)
        check(code == 0, f"block {label!r} exited {code}:\n{log.read_text()[-4000:]}")
        return log.read_text()

    def exported(self, name):
        """A variable the blocks exported (``TOKEN``, ``ATTEMPT``)."""
        match = re.search(rf'^declare -x {name}="(.*)"$', self.state.read_text(), re.M)
        check(match, f"the quick start exported no {name}")
        return match[1]

    def manage(self, *args):
        """``python manage.py ARGS`` in the project, with the blocks' environment."""
        script = f'. "{self.state}"; cd "{self.cwd}"; exec python manage.py {" ".join(args)}'
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=self.env, timeout=300)

    def stop(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = []
            for group in self.groups:
                try:
                    os.killpg(group, sig)
                    alive.append(group)
                except ProcessLookupError:
                    pass
            if not alive:
                return
            deadline = time.monotonic() + 10
            while sig == signal.SIGTERM and time.monotonic() < deadline and any(_alive(g) for g in alive):
                time.sleep(0.2)


def _alive(group):
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


def wait_for(url, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.5)
    raise QuickstartFailed(f"{url} did not answer within {seconds} s")


def apply(session, doc, wheel):
    installs = 0
    for number, (how, lang, body) in enumerate(blocks(doc), 1):
        label = f"{number}: {how}"
        if how.startswith("run"):
            check(lang == "bash", f"block {label}: a run block must be bash")
            body, n = INSTALL.subn(lambda m: f'pip install "{wheel}{m[2] or ""}"', body)
            installs += n
            output = session.run(session.localise(body), label)
            for shown in shown_output(body):  # an answer the page shows in full is the answer the run gave
                check(session.localise(shown) in output, f"block {label} shows {shown!r}; the run printed:\n{output[-2000:]}")
            for url in re.findall(r"https?://\S+", how.partition("wait for")[2]):
                wait_for(session.localise(url))
        elif how.startswith(("append ", "write ")):
            action, _, name = how.partition(" ")
            target = session.cwd / name
            check(target.parent.is_dir(), f"block {label}: no directory {target.parent}")
            with open(target, "a" if action == "append" else "w") as out:
                out.write(("\n" if action == "append" else "") + body + "\n")
        else:
            raise QuickstartFailed(f"block {label}: unknown marker")
    check(installs == 1, f"the quick start installs timeback-progress {installs} times, not once")


def shown_output(body):
    """The outputs a run block shows in full: ``# ...`` lines after a command, unless abridged (``...``)."""
    return [line.strip()[2:] for line in body.splitlines()
            if line.strip().startswith("# ") and "..." not in line and not line.startswith("#!")]


class Browser:
    """urllib with cookies, redirects left to the caller."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect)

    def request(self, path, data=None, headers=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(urllib.parse.urljoin(self.base, path), data=body, headers=headers or {})
        if body is not None:
            req.add_header("Referer", self.base)
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode(errors="replace")

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)


def assert_check_is_clean(session):
    done = session.manage("check")
    check(done.returncode == 0 and done.stdout.strip() == "System check identified no issues (0 silenced)."
          and not done.stderr.strip(), f"manage.py check is not clean:\n{done.stdout}\n{done.stderr}")
    plan = session.manage("showmigrations", "--plan")
    check(plan.returncode == 0 and "[ ]" not in plan.stdout and "[X]" in plan.stdout,
          f"migrations not all applied:\n{plan.stdout}\n{plan.stderr}")
    script = f'. "{session.state}"; python -c "import django, sys; print(django.get_version(), sys.version.split()[0])"'
    version = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=session.env).stdout.split()
    print(f"    Django {version[0]} on Python {version[1]}")
    return version[0]


def assert_sign_in(base):
    browser = Browser(base)
    status, headers, _ = browser.request("/progress/")
    check(status == 302 and headers.get("Location") == "/accounts/login/?next=/progress/",
          f"an anonymous visit to /progress/ answered {status} {headers.get('Location')}")
    status, _, page = browser.request(headers["Location"])
    check(status == 200 and 'name="password"' in page, f"the sign-in page answered {status}")
    status, headers, _ = browser.request("/accounts/login/", {
        "username": "teacher", "password": "change-me-teacher", "next": "/progress/",
        "csrfmiddlewaretoken": browser.cookie("csrftoken")})
    check(status == 302 and headers.get("Location") == "/progress/", f"signing in answered {status}")
    status, _, page = browser.request("/progress/")
    check(status == 200 and "Math 5" in page, f"the course list answered {status} without the course")
    overview = re.search(r'href="(/progress/courses/\d+/)"', page)
    check(overview, "the course list links to no course overview")
    status, _, page = browser.request(overview[1])
    check(status == 200 and "Ana" in page, f"the course overview answered {status} without the student")
    check('action="/accounts/logout/"' in page, "the dashboards show no Sign out button")


def api_get(base, path, token):
    req = urllib.request.Request(urllib.parse.urljoin(base, path), headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(req, timeout=30) as response:
        return response.status, response.read().decode()


def assert_api(session, base):
    token, attempt = session.exported("TOKEN"), session.exported("ATTEMPT")
    _, body = api_get(base, f"/api/v1/attempts/{attempt}/", token)
    answer = json.loads(body)
    check(answer["status"] == "completed" and answer["accuracy"] == 90 and answer["xpEarned"] == 10,
          f"the attempt after the quick start: {answer}")
    from openapi_spec_validator import validate

    saved = json.loads((session.cwd / "schema.json").read_text())
    validate(saved)
    check("/api/v1/attempts/{id}/complete/" in saved["paths"], "the schema lacks the API's paths")
    status, page = api_get(base, "/api/docs/", token)
    check(status == 200 and "swagger" in page.lower(), f"/api/docs/ answered {status}")
    return attempt


def assert_delivered(sandbox, seconds=120):
    """The completion's ActivityEvent and result reach the sandbox (the qcluster sends them)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        with urllib.request.urlopen(f"{sandbox}/_sandbox/events?type=ActivityEvent", timeout=10) as r:
            events = json.load(r)["events"]
        with urllib.request.urlopen(f"{sandbox}/_sandbox/results", timeout=10) as r:
            results = json.load(r)["assessmentResults"]
        if events and results:
            check(any(item.get("type") == "xpEarned" and item.get("value") == 10
                      for event in events for item in event["generated"]["items"]),
                  f"the ActivityEvent does not carry 10 XP: {events}")
            check(any(r["score"] == 90 and not r["metadata"].get("isMasteryCompletion") for r in results),
                  f"no result with the attempt's score 90: {results}")
            return time.monotonic() - started
        time.sleep(0.5)
    raise QuickstartFailed(f"nothing reached the sandbox within {seconds} s")


def assert_quiet_logs(session):
    for name in ("runserver.log", "qcluster.log", "sandbox.log"):
        text = (session.cwd / name).read_text()
        check("Traceback" not in text, f"{name} has a traceback:\n{text[-4000:]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter the quick start runs with")
    parser.add_argument("--dist", type=Path, help="a directory with the built wheel and sdist (else: build them)")
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--keep", action="store_true", help="keep the project directory")
    parser.add_argument("--django", help="the Django version the fresh virtualenv must get, e.g. 5.2")
    args = parser.parse_args(argv)
    phases = Phases()
    root = Path(tempfile.mkdtemp(prefix="quickstart-"))
    session = Session(root, args.python, {"web": free_port(), "sandbox": free_port()})
    ok = False
    try:
        phases.start("build wheel and sdist, twine check" if not args.dist else "check the given distributions")
        dist = args.dist or root / "dist"
        if not args.dist:
            build(dist)
        wheel = distributions(dist)
        phases.start(f"the quick start's steps ({args.python})")
        apply(session, args.doc, wheel)
        base = f"http://127.0.0.1:{session.ports['web']}"
        phases.start("check and migrations")
        version = assert_check_is_clean(session)
        check(not args.django or version.startswith(args.django), f"Django {version}, not {args.django}")
        phases.start("dashboards behind the sign-in page")
        assert_sign_in(base)
        phases.start("API completion, schema, Swagger page")
        assert_api(session, base)
        phases.start("the qcluster delivers to the sandbox")
        waited = assert_delivered(f"http://127.0.0.1:{session.ports['sandbox']}")
        print(f"    delivered {waited:.1f} s after the checks began polling")
        assert_quiet_logs(session)
        ok = True
    except (QuickstartFailed, subprocess.SubprocessError) as failure:
        print(f"QUICK START FAILED: {failure}", file=sys.stderr)
    finally:
        phases.start("stop the processes")
        session.stop()
        phases.report()
        if ok and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"project kept in {root}")
    print("quick start: OK" if ok else "quick start: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
