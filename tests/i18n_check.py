"""The app's translation catalogues: regenerate them, compile them, check them.

Run from the repository's top directory (needs GNU gettext: ``apt-get install gettext``)::

    python -m tests.i18n_check             # check (what tests/test_translations.py asserts)
    python -m tests.i18n_check --update    # re-extract into timeback_progress/locale/*/LC_MESSAGES/django.po
    python -m tests.i18n_check --update --locale fr   # start a new language's catalogue
    python -m tests.i18n_check --compile   # django.po -> django.mo, after translating

The check extracts the strings from a temporary copy of the package (the
working tree is not touched) and merges them into a copy of each committed
catalogue, exactly as ``--update`` would; it then reports every string left
untranslated or fuzzy (new or changed in the code since the catalogue was
last updated), any entry ``msgfmt --check`` refuses (a placeholder missing
from a translation, a bad plural), and a ``django.mo`` that is not the
compilation of its ``django.po``. Nothing to report: exit 0.

Options are fixed here so every run writes the catalogue alike: file names
without line numbers (a moved line does not churn the catalogue) and no
obsolete entries (a string removed from the code leaves the catalogue).
"""

import argparse
import gettext
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "timeback_progress"
DOMAIN = "django"  # the app's JavaScript takes its strings from templates: no djangojs catalogue
MAKEMESSAGES_OPTIONS = ["--domain", DOMAIN, "--no-obsolete", "--add-location", "file"]
TOOLS = ("xgettext", "msgmerge", "msgfmt", "msgattrib")
_STATISTICS = re.compile(r"(\d+) (translated|fuzzy|untranslated)")


def missing_tools():
    """The GNU gettext programs this needs that are not on PATH."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def languages(package=PACKAGE):
    """The languages the package ships a catalogue for (``locale/<lang>/LC_MESSAGES/django.po``)."""
    return sorted(p.parent.parent.name for p in (package / "locale").glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def _django(args, cwd):
    """``python -m django <args>`` in ``cwd``, with no settings: the extraction needs none."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-m", "django", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )


def update(package=PACKAGE, langs=None):
    """Re-extract the strings into each language's ``django.po`` (new ones untranslated, changed ones fuzzy)."""
    langs = langs or languages(package)
    _django(["makemessages", *[f"--locale={lang}" for lang in langs], *MAKEMESSAGES_OPTIONS], cwd=package)
    return [package / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po" for lang in langs]


def compile_catalogues(package=PACKAGE):
    """``django.mo`` from each ``django.po`` (Django's ``compilemessages``, run on the package alone)."""
    _django(["compilemessages"], cwd=package)


def statistics(po):
    """``{"translated": n, "fuzzy": n, "untranslated": n}`` as ``msgfmt --statistics`` counts them."""
    done = subprocess.run(["msgfmt", "--statistics", "-o", os.devnull, str(po)], capture_output=True, text=True)
    counts = {"translated": 0, "fuzzy": 0, "untranslated": 0}
    counts.update({kind: int(n) for n, kind in _STATISTICS.findall(done.stderr)})
    return counts


def msgids(po, *attrib_options):
    """The msgids ``msgattrib <options>`` keeps (e.g. ``--untranslated``, ``--only-fuzzy``)."""
    out = subprocess.run(
        ["msgattrib", *attrib_options, "--no-obsolete", "--no-wrap", str(po)], capture_output=True, text=True, check=True
    ).stdout
    return [m for m in re.findall(r'^msgid "(.*)"$', out, re.MULTILINE) if m]


def format_errors(po):
    """What ``msgfmt --check`` refuses in ``po`` (placeholders, plural forms, the header), as text."""
    done = subprocess.run(["msgfmt", "--check", "-o", os.devnull, str(po)], capture_output=True, text=True)
    return done.stderr.strip() if done.returncode else ""


def _catalog(mo):
    with open(mo, "rb") as handle:
        return gettext.GNUTranslations(handle)._catalog


def mo_is_current(po, mo):
    """Whether ``mo`` holds exactly what compiling ``po`` gives (compared as catalogues, not bytes)."""
    if not mo.exists():
        return False
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "fresh.mo"
        subprocess.run(["msgfmt", "-o", str(fresh), str(po)], check=True, capture_output=True)
        return _catalog(fresh) == _catalog(mo)


def problems(package=PACKAGE):
    """Everything wrong with the package's catalogues, one line each; empty when all is well."""
    found = []
    langs = languages(package)
    if not langs:
        return [f"no catalogue under {package / 'locale'}"]
    for lang in langs:
        po = package / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        if errors := format_errors(po):
            found.append(f"{lang}: msgfmt --check refuses {po}:\n{errors}")
        if not mo_is_current(po, po.with_suffix(".mo")):
            found.append(f"{lang}: {po.with_suffix('.mo')} is not compiled from {po.name} (run --compile)")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / package.name
        shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for po in update(copy, langs):
            lang = po.parent.parent.name
            for kind, options in (("untranslated", ("--untranslated",)), ("fuzzy", ("--only-fuzzy",))):
                for msgid in msgids(po, *options):
                    found.append(f"{lang}: {kind}: {msgid}")
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--update", action="store_true", help="re-extract the strings into the package's catalogues")
    action.add_argument("--compile", action="store_true", help="compile the catalogues (django.po -> django.mo)")
    parser.add_argument("--locale", action="append", help="with --update: this language (repeatable; default: every catalogue)")
    args = parser.parse_args(argv)
    if missing := missing_tools():
        print(f"GNU gettext is missing ({', '.join(missing)}): apt-get install gettext", file=sys.stderr)
        return 2
    if args.update:
        for po in update(langs=args.locale):
            counts = statistics(po)
            print(f"{po.relative_to(PACKAGE.parent)}: {counts['untranslated']} untranslated, {counts['fuzzy']} fuzzy")
        return 0
    if args.compile:
        compile_catalogues()
        print("compiled:", ", ".join(languages()))
        return 0
    found = problems()
    for line in found:
        print(line)
    print(f"{len(found)} problem(s) in the catalogues of {', '.join(languages()) or 'no language'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
