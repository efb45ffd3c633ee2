"""Import the OneRoster roster from Timeback into the local mirror.

``importer`` runs an import (``RosterImport``, ``import_roster``) from
``records`` (one record read and checked), ``teachers`` (teacher -> host user)
and ``writer`` (one page upserted); ``summary`` is what a run did; ``tasks``
holds the django-q2 task and its Schedule; ``actions`` the admin action.
"""


def __getattr__(name):
    # Schedules created before the import became a package store the dotted path
    # "timeback_progress.roster.run_scheduled_import"; django-q2 resolves it with
    # pydoc.locate, so it must keep resolving. ``tasks.ensure_schedule`` writes the new path.
    if name == "run_scheduled_import":
        from .tasks import run_scheduled_import

        return run_scheduled_import
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
