"""The example project's demo data: ``python manage.py timeback_demo``.

It lives with the example project, not in the installed app, so a host that
installs ``timeback_progress`` never gets a command that creates a superuser
with a published password.
"""
