"""The admin action that runs a roster import now (offered on the SyncState admin)."""

from django.contrib import messages

from ..timeback.errors import TimebackError
from .importer import import_roster

IMPORT_PERMISSIONS = [f"timeback_progress.{action}_{model}" for model in ("student", "course", "enrollment")
                      for action in ("add", "change")]


def import_roster_action(modeladmin, request, queryset):
    """Admin action: run an incremental import now (the selection is not used)."""
    if not request.user.has_perms(IMPORT_PERMISSIONS):
        modeladmin.message_user(request, "Importing the roster needs the add and change permissions on students, "
                                         "courses and enrollments.", messages.ERROR)
        return
    try:
        summary = import_roster()
    except TimebackError as exc:
        modeladmin.message_user(request, f"Roster import failed: {exc}", messages.ERROR)
        return
    totals = summary.as_dict()["totals"]
    text = ", ".join(f"{n} {outcome}" for outcome, n in totals.items())
    level = messages.WARNING if totals["skipped"] or summary.unmatched_teachers else messages.SUCCESS
    modeladmin.message_user(request, f"Roster imported ({summary.mode}): {text}; "
                                     f"{len(summary.unmatched_teachers)} teachers not matched to a user.", level)


import_roster_action.short_description = "Import the roster from Timeback now"
