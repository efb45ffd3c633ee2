"""The docs stay true: links resolve, every command is documented, marked walk-throughs still print what they show.

A page marks a shell block to run with ``<!-- docs: run -->`` (options:
``setup=NAME`` prepares the database as the page says, ``skip="reason"`` for a
block that needs a running server) and the block that follows it with
``<!-- docs: output -->``. Each ``python manage.py ...`` line runs in-process
on the test settings, as ``manage.py`` would run it (``CommandError`` becomes
``CommandError: ...`` and exit status 1), and what it prints must match the
output block, where ``…`` stands for anything (ids, times, Django's common
options). Only ``python manage.py`` lines run: a block that needs anything
else is not marked.
"""

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.rglob("*.md"))]

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```")
RUN = re.compile(r"<!-- docs: run(?P<options>[^>]*?)\s*-->\s*\n```[^\n]*\n(?P<commands>.*?)```\s*\n"
                 r"\s*<!-- docs: output -->\s*\n```[^\n]*\n(?P<output>.*?)```", re.S)
OPTION = re.compile(r'(\w+)=(?:"([^"]*)"|(\S+))')


def _prose(text):
    """The page without its fenced code blocks (a link in a code sample is not a link)."""
    lines, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        lines.append("" if inside else line)
    return "\n".join(lines)


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", _prose(path.read_text()), re.M)}


def broken_links(page):
    """Relative links of ``page`` whose file (or heading, for a .md target) does not exist."""
    broken = []
    for number, line in enumerate(_prose(page.read_text()).splitlines(), 1):
        for match in LINK.finditer(line):
            target = match.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto:, ...
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"line {number}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"line {number}: {target} (no heading #{anchor} in {file.name})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = broken_links(page)
    assert not broken, f"{page.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_link_checker_finds_broken_links(tmp_path):
    """The checker itself: a missing file and a missing heading are found; code and web links are not links."""
    assert slug("Replay dead rows: `timeback_replay`") == "replay-dead-rows-timeback_replay"
    (tmp_path / "b.md").write_text("# B page\n")
    page = tmp_path / "a.md"
    page.write_text("# Title\n\n[ok](#title) [ok](b.md#b-page) [web](https://x.org/y)\n"
                    "[gone](c.md) [no heading](b.md#nope) ![img](missing.png)\n\n```\n[sample](nowhere.md)\n```\n")
    assert broken_links(page) == [
        "line 4: c.md (no such file)", "line 4: b.md#nope (no heading #nope in b.md)", "line 4: missing.png (no such file)",
    ]


def shipped_commands():
    """Every management command the installed app ships (the example project's are not the app's)."""
    return sorted(p.stem for p in (ROOT / "timeback_progress").rglob("management/commands/*.py") if not p.stem.startswith("_"))


def test_commands_page_names_every_command():
    page = (DOCS / "commands.md").read_text()
    documented = set(re.findall(r"^## `(\w+)`", page, re.M))
    assert shipped_commands(), "no commands found: the discovery is wrong"
    missing = sorted(set(shipped_commands()) - documented)
    assert not missing, f"docs/commands.md has no section for {missing}"
    for command in shipped_commands():
        assert f"python manage.py help {command}\n" in page, f"docs/commands.md does not show {command}'s help"


def walkthroughs():
    for page in PAGES:
        text = page.read_text()
        for match in RUN.finditer(text):
            options = {m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
                       for m in OPTION.finditer(match.group("options"))}
            line = text[: match.start()].count("\n") + 1
            yield pytest.param(match.group("commands"), match.group("output"), options,
                               id=f"{page.relative_to(ROOT)}:{line}")


def matches(expected, actual):
    """``actual`` fits ``expected``, where ``…`` is anything (even several lines); trailing blanks ignored."""
    pattern = "".join("[\\s\\S]*?" if part == "…" else re.escape(part) for part in re.split("(…)", expected.rstrip()))
    tidy = "\n".join(line.rstrip() for line in actual.rstrip().splitlines())
    return re.fullmatch(pattern, tidy) is not None


def test_output_matching():
    assert matches("Replayed … dead rows.\n", "Replayed 3 dead rows.\n\n")
    assert matches("a\n…\nz\n", "a\nb\nc\nz")
    assert not matches("Replayed 2 dead rows.", "Replayed 3 dead rows.")


def split_commands(block):
    """The block's commands: one a line, or several lines while a quoted argument is still open."""
    commands, pending = [], ""
    for line in block.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # "No closing quotation": the command goes on
            continue
        if pending.strip():
            commands.append(pending)
        pending = ""
    assert not pending, f"unterminated command: {pending!r}"
    return commands


def run_manage(line):
    """One ``python manage.py ...`` line, run as manage.py runs it; returns what it printed."""
    from unittest import mock

    from django.core.management import ManagementUtility
    from django.db import connections

    argv = shlex.split(line, comments=True)
    assert argv[:2] == ["python", "manage.py"], f"only python manage.py lines run: {line!r}"
    out = io.StringIO()
    # run_from_argv closes every connection when done, which would end the test's transaction.
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), mock.patch.object(connections, "close_all"):
        try:
            ManagementUtility(["manage.py", *argv[2:]]).execute()
        except SystemExit:
            pass
    return out.getvalue()


# What a page says its walk-through starts from, made here with the suite's factories.

def _dead_rows(request):
    """A finished attempt whose four deliveries went dead while Timeback was down, and a sandbox up again."""
    from django.utils import timezone

    from tests.plugins.factories import complete, make_activity, make_course, make_student
    from timeback_progress.models import Delivery

    request.getfixturevalue("sandbox_factory")(settings_overrides={"SYNC_ENABLED": True})
    course = make_course(sourced_id="math-grade-5", title="Math Grade 5")
    student = make_student(sourced_id="student-123", given_name="Ada", family_name="Lovelace")
    complete(student, make_activity(course, activity_id="fractions-quiz", name="Fractions quiz"))
    Delivery.objects.update(status=Delivery.State.DEAD, attempts=12, last_error="HTTP 503: Service Unavailable",
                            next_attempt_at=timezone.now())


def _sandbox_roster(request):
    """The sandbox serving the seeded grade-5 roster, as docs/roster.md starts it; two of its three teachers have users."""
    import json

    from django.contrib.auth import get_user_model

    for n in (1, 2):
        get_user_model().objects.create_user(f"teacher{n}", f"teacher{n}@example.com", "pw")

    server = request.getfixturevalue("sandbox_factory")()
    server.state.seed_roster(json.loads((ROOT / "fixtures" / "sandbox_roster.json").read_text()))


def _caches(settings, backend):
    settings.SILENCED_SYSTEM_CHECKS = []
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "redis://redis.internal:6379/1"}}
    settings.TIMEBACK_PROGRESS = {**settings.TIMEBACK_PROGRESS, "SYNC_ENABLED": True, "CLIENT_ID": "app",
                                  "CLIENT_SECRET": "x" * 40, "API_THROTTLE_CACHE": "default", "TOKEN_CACHE_ALIAS": "default"}


def _one_process_caches(request):
    """A production-like site (DEBUG off, sync on) still on Django's default, per-process cache."""
    _caches(request.getfixturevalue("settings"), "django.core.cache.backends.locmem.LocMemCache")


def _shared_caches(request):
    """The same site with Redis as its cache (the check reads the backend; nothing connects)."""
    _caches(request.getfixturevalue("settings"), "django.core.cache.backends.redis.RedisCache")


SETUPS = {"one_process_caches": _one_process_caches, "shared_caches": _shared_caches,
          "dead_rows": _dead_rows, "sandbox_roster": _sandbox_roster}


@pytest.mark.django_db(transaction=True, databases=["default", "gradebook"])  # as test_routing: the gradebook alias mirrors default
@pytest.mark.parametrize("commands, output, options", list(walkthroughs()))
def test_walkthrough_prints_what_the_page_shows(commands, output, options, request, monkeypatch, settings):
    if "skip" in options:
        pytest.skip(options["skip"])
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps help at the terminal's width; the pages were made at 100
    # The suite runs one process on locmem caches, which W005/W012 warn about before every command;
    # the pages show a site that shares its caches. A page about those checks sets its own.
    settings.SILENCED_SYSTEM_CHECKS = [*settings.SILENCED_SYSTEM_CHECKS, "timeback_progress.W005", "timeback_progress.W012"]
    if "setup" in options:
        SETUPS[options["setup"]](request)
    printed = "".join(run_manage(command) for command in split_commands(commands))
    assert matches(output, printed), f"the page shows:\n{output}\nthe run printed:\n{printed}"
