"""Admin for sync health: the outbox (deliveries, with retry and replay) and
the rostering import's state."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.db.models.fields.json import KT
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _, ngettext, pgettext_lazy

from ..outbox import replay, sending
from ..models import Delivery, SyncState
from ..roster.actions import import_roster_action
from . import search
from .base import AdminMedia, ReadOnlyAdmin, app_perm
from .display import clipped, pretty_json, redact, short_datetime


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    # Short cells (keys and errors clipped, whole in a tooltip and on the row's page): fits 1,366 px.
    list_display = ["id", "short_kind", "short_key", "status_tries", "next_attempt", "short_error"]
    list_filter = ["status", "kind"]
    search_fields = ["key"]
    ordering = ["-id"]
    # Sorts an index serves (the kind, status, tries and due time are filters or the row's page).
    sortable_by = ["id", "key", "short_key"]
    fields = [
        "kind", "key", "status_badge", "attempts", "next_attempt_at", "leased_until", "claimed_by", "sent_at",
        "response_status",
        "error", "attempt", "result", "created_at", "updated_at", "body_pretty", "payload_pretty",
    ]
    readonly_fields = fields
    actions = ["retry_now", "replay_dead"]
    change_list_template = "admin/timeback_progress/delivery/change_list.html"

    class Media(AdminMedia):
        pass

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("attempt__student", "attempt__activity", "result")

    def get_object(self, request, object_id, from_field=None):
        """The row with what its title names (``Delivery.__str__``): student, activity and run."""
        row = super().get_object(request, object_id, from_field)
        if row is not None:
            related = ("result__student", "result__attempt__activity", "attempt__student", "attempt__activity")
            row = Delivery.objects.select_related(*related).filter(pk=row.pk).first()
        return row

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="tbp-badge tbp-badge--{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description=_("kind"), ordering="kind")
    def short_kind(self, obj):
        short = {Delivery.Kind.CALIPER_EVENT: _("event"), Delivery.Kind.LINE_ITEM: _("line item"),
                 Delivery.Kind.RESULT: _("result")}.get(obj.kind, obj.kind)
        return format_html('<span title="{}">{}</span>', obj.get_kind_display(), short)

    @admin.display(description=_("key"), ordering="key")
    def short_key(self, obj):
        return clipped(obj.key, 20)

    @admin.display(description=_("status"), ordering="status")
    def status_tries(self, obj):
        """The status badge and, once it was tried, how many times ("×3")."""
        if not obj.attempts:
            return self.status_badge(obj)
        tries = ngettext("%(n)d try", "%(n)d tries", obj.attempts) % {"n": obj.attempts}
        return format_html('{} <span class="tbp-tries" title="{}">×{}</span>', self.status_badge(obj), tries, obj.attempts)

    @admin.display(description=pgettext_lazy("sending tries", "next try"), ordering="next_attempt_at")
    def next_attempt(self, obj):
        return short_datetime(obj.next_attempt_at)  # the row's page has the seconds

    @admin.display(description=_("last error"))
    def short_error(self, obj):
        """The HTTP status and the start of the error (the whole of it on the row's page)."""
        text = redact(obj.last_error)
        if obj.response_status and not text.startswith(str(obj.response_status)):
            text = f"{obj.response_status} {text}"
        return clipped(text, 48)

    @admin.display(description=_("last error"))
    def error(self, obj):
        return format_html('<pre class="tbp-json">{}</pre>', redact(obj.last_error)) if obj.last_error else "—"

    @admin.display(description=_("stored payload"))
    def payload_pretty(self, obj):
        return pretty_json(obj.payload)

    @admin.display(description=_("body sent"))
    def body_pretty(self, obj):
        """The exact body, from the sender's own builder (``sending.body``), secrets redacted."""
        return request_body(obj)

    def has_resend_permission(self, request):
        return app_perm(request, "change_delivery")

    def page_rows(self, request, rows):
        """The list shows no payload (the row's page does): not loaded for the page's rows, only
        the event type the rows' titles name (``Delivery.__str__``)."""
        if not isinstance(rows, QuerySet):
            return rows
        return rows.defer("payload").annotate(event_type=KT("payload__type"))

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


def request_body(row):
    """A row's body as the sender builds it, with a line saying whether it is what was sent or will be."""
    if row.kind == Delivery.Kind.CALIPER_EVENT:
        note = _("The event as stored: sent as it is, in a Caliper envelope with other events.")
        built = row.payload
    else:
        try:
            built = sending.body(row)
        except Exception as error:  # the sender would fail this row the same way: say so, do not 500
            return format_html('<p class="tbp-body-note">{}</p>', _("The body cannot be built now: %(error)s") % {
                "error": redact(f"{type(error).__name__}: {error}")})
        if built is None:
            return format_html('<p class="tbp-body-note">{}</p>', _("Nothing to send: its record no longer exists."))
        if row.status in (Delivery.State.SENT, Delivery.State.SUPERSEDED):
            note = _("Built now from the records as they stand, as the sender builds it: the body sent then is not "
                     "stored, and differs only if the records changed since.")
        else:
            note = _("Built now, as the sender builds it; it is built again from the records when sent.")
        if row.payload.get("create"):
            note = format_html("{} {}", note, _("A record Timeback has not acknowledged: POSTed first, PUT on a 409."))
    return format_html('<p class="tbp-body-note">{}</p>{}', note, pretty_json(built))


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
