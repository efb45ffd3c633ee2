"""Write the local demo's ``.env``: ``python -m project.demo_env`` (the README's demo command runs it).

The example project has no fallback ``SECRET_KEY`` with DEBUG off, and with
DEBUG off it expects https (secure cookies, http redirected). The demo runs
on http://127.0.0.1:8000, so its ``.env`` gets a new random key and turns
those off, for this machine only. Keys already in ``.env`` (or in the
environment) are kept, so running it again changes nothing; ``.env`` is in
``.gitignore`` and must never be committed. Not for a server: there, set the
variables docs/deploy.md lists.
"""

import os
import re
import secrets
import sys
from pathlib import Path

DOTENV = Path(__file__).resolve().parent.parent / ".env"

# The plain-http, this-machine-only part of the demo's environment.
LOCAL = {
    "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_SESSION_COOKIE_SECURE": "false",
    "DJANGO_CSRF_COOKIE_SECURE": "false",
}


ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def fill(text, environ):
    """``text`` with each demo variable given a value, and the names it set.

    A variable the environment or ``text`` already gives a value is kept. An
    empty assignment (``DJANGO_SECRET_KEY=`` as in .env.example) is filled in
    place, since the first assignment of a name is the one read; the rest are
    appended.
    """
    todo = {name: value for name, value in demo_values().items() if not environ.get(name)}
    lines, done = text.splitlines(), []
    for index, line in enumerate(lines):
        match = ASSIGNMENT.match(line)
        name = match.group(1) if match else None
        if name not in todo:
            continue
        value = todo.pop(name)
        if match.group(2).strip("'\"") == "":
            lines[index] = f"{name}={value}"
            done.append(name)
    if todo:
        lines.append("# The local demo (python -m project.demo_env): http on this machine only. Never commit this file.")
        lines.extend(f"{name}={value}" for name, value in todo.items())
    return ("\n".join(lines) + "\n" if lines else ""), done + list(todo)


def demo_values():
    """A new random key (67 characters: ``check --deploy`` wants 50+) and the plain-http settings."""
    return {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), **LOCAL}


def main(path=DOTENV, environ=os.environ):
    text = path.read_text() if path.exists() else ""
    new_text, names = fill(text, environ)
    if not names:
        print(f"{path.name}: nothing to add.")
        return 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the key is a secret: owner only
    with os.fdopen(fd, "w") as out:
        out.write(new_text)
    print(f"{path.name}: set {', '.join(names)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
