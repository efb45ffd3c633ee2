"""Admin for sync health: the outbox (deliveries, with retry and replay) and
the rostering import's state."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _, ngettext

from ..outbox import replay
from ..models import Delivery, SyncState
from ..roster.actions import import_roster_action
from . import search
from .base import AdminMedia, ReadOnlyAdmin, app_perm
from .display import pretty_json, redact


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "kind", "key", "status_badge", "attempts", "next_attempt_at", "response_status", "short_error",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["key"]
    ordering = ["-id"]
    # Sorts an index serves (the kind, status, tries and due time are filters or the row's page).
    sortable_by = ["id", "key", "short_key"]
    fields = [
        "kind", "key", "status_badge", "attempts", "next_attempt_at", "leased_until", "claimed_by", "sent_at",
        "response_status",
        "error", "attempt", "result", "created_at", "updated_at", "payload_pretty",
    ]
    readonly_fields = fields
    actions = ["retry_now", "replay_dead"]
    change_list_template = "admin/timeback_progress/delivery/change_list.html"

    class Media(AdminMedia):
        pass

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("attempt__student", "attempt__activity", "result")

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="tbp-badge tbp-badge--{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description=_("last error"))
    def short_error(self, obj):
        text = redact(obj.last_error)
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description=_("last error"))
    def error(self, obj):
        return format_html('<pre class="tbp-json">{}</pre>', redact(obj.last_error)) if obj.last_error else "—"

    @admin.display(description=_("payload"))
    def payload_pretty(self, obj):
        return pretty_json(obj.payload)

    def has_resend_permission(self, request):
        return app_perm(request, "change_delivery")

    def page_rows(self, request, rows):
        """The list shows no payload (the row's page does): not loaded for the page's rows."""
        return rows.defer("payload") if isinstance(rows, QuerySet) else rows

    def get_search_results(self, request, queryset, search_term):
        """By key exactly (an event id or a sourcedId: the key index) or id, never a scan of the outbox."""
        if not search_term.strip() or "\x00" in search_term:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(search.deliveries(search_term.strip())), False

    @admin.action(description=_("Retry selected now"), permissions=["resend"])
    def retry_now(self, request, queryset):
        count = replay.retry_now(_plain(queryset))
        self.message_user(
            request, ngettext("%(count)d row will be sent now.", "%(count)d rows will be sent now.", count) % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Replay selected dead rows"), permissions=["resend"])
    def replay_dead(self, request, queryset):
        """Dead rows back to pending with their attempts reset (``replay.replay``)."""
        moved, skipped = replay.replay(_plain(queryset))
        self.message_user(
            request, ngettext("Replayed %(count)d dead row.", "Replayed %(count)d dead rows.", moved) % {"count": moved},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d dead row was skipped: its key already has a newer waiting row.",
                    "%(count)d dead rows were skipped: their keys already have a newer waiting row.",
                    skipped,
                ) % {"count": skipped},
                messages.WARNING,
            )


def _plain(queryset):
    # The selected rows without the list's joins: replay locks them FOR UPDATE,
    # which PostgreSQL refuses on the nullable side of an outer join.
    return Delivery.objects.filter(pk__in=list(queryset.values_list("pk", flat=True)))


@admin.register(SyncState)
class SyncStateAdmin(ReadOnlyAdmin):
    list_display = ["name", "high_water_mark", "last_run_at"]
    actions = [import_roster_action]  # timeback_progress.roster: an incremental import now
    fields = ["name", "high_water_mark", "last_run_at", "summary_pretty"]
    readonly_fields = fields

    class Media(AdminMedia):
        pass

    @admin.display(description=_("last summary"))
    def summary_pretty(self, obj):
        return pretty_json(obj.last_summary)
