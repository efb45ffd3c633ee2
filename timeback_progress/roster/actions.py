"""The admin action that runs a roster import now (offered on the SyncState admin)."""

from django.contrib import admin, messages
from django.utils.translation import gettext, gettext_lazy as _, ngettext, npgettext_lazy, pgettext_lazy

from ..timeback.errors import TimebackError
from .importer import import_roster

IMPORT_PERMISSIONS = [f"timeback_progress.{action}_{model}" for model in ("student", "course", "enrollment")
                      for action in ("add", "change")]

# ``Summary`` outcomes and modes as the admin's message names them (the stored summary keeps the codes).
# Lazy plurals: the count given with ``%`` picks the form ("1 creado", "2 creados").
OUTCOME_TEXTS = {
    "created": npgettext_lazy("roster records", "%(count)d created", "%(count)d created", "count"),
    "updated": npgettext_lazy("roster records", "%(count)d updated", "%(count)d updated", "count"),
    "deactivated": npgettext_lazy("roster records", "%(count)d deactivated", "%(count)d deactivated", "count"),
    "unchanged": npgettext_lazy("roster records", "%(count)d unchanged", "%(count)d unchanged", "count"),
    "skipped": npgettext_lazy("roster records", "%(count)d skipped", "%(count)d skipped", "count"),
}
MODE_LABELS = {"full": pgettext_lazy("roster import", "full"), "incremental": pgettext_lazy("roster import", "incremental")}


@admin.action(description=_("Import the roster from Timeback now"))
def import_roster_action(modeladmin, request, queryset):
    """Admin action: run an incremental import now (the selection is not used)."""
    if not request.user.has_perms(IMPORT_PERMISSIONS):
        modeladmin.message_user(request, gettext(
            "Importing the roster needs the add and change permissions on students, courses and enrollments."
        ), messages.ERROR)
        return
    try:
        summary = import_roster()
    except TimebackError as exc:
        modeladmin.message_user(request, gettext("Roster import failed: %(error)s") % {"error": exc}, messages.ERROR)
        return
    totals = summary.as_dict()["totals"]
    counts = ", ".join(
        OUTCOME_TEXTS[outcome] % {"count": n} if outcome in OUTCOME_TEXTS else f"{n} {outcome}"
        for outcome, n in totals.items()
    )
    unmatched = len(summary.unmatched_teachers)
    level = messages.WARNING if totals["skipped"] or unmatched else messages.SUCCESS
    modeladmin.message_user(request, ngettext(
        "Roster imported (%(mode)s): %(counts)s; %(unmatched)d teacher not matched to a user.",
        "Roster imported (%(mode)s): %(counts)s; %(unmatched)d teachers not matched to a user.",
        unmatched,
    ) % {"mode": MODE_LABELS.get(summary.mode, summary.mode), "counts": counts, "unmatched": unmatched}, level)
