"""The sync outbox: what Timeback must hear, written in the transaction of what it describes."""


from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .base import TimestampedModel
from .gradebook import Attempt, Result


class DeliveryQuerySet(models.QuerySet):
    """The outbox's states as queries, named once for every reader and writer."""

    def waiting(self):
        """Pending or retrying: rows a worker will try (again); at most one per key."""
        return self.filter(status__in=self.model.WAITING)

    def unsent(self):
        """Waiting or being sent: what Timeback has not acknowledged yet (sync health)."""
        return self.filter(status__in=(*self.model.WAITING, self.model.State.SENDING))

    def due(self, now=None):
        """Rows a worker may claim now: waiting and due, or sending with an expired lease."""
        now = now or timezone.now()
        return self.filter(
            Q(status__in=self.model.WAITING, next_attempt_at__lte=now)
            | Q(status=self.model.State.SENDING, leased_until__lt=now)
        )


class Delivery(TimestampedModel):
    """One item in the sync outbox: written in the transaction of what it describes."""

    class Kind(models.TextChoices):
        CALIPER_EVENT = "caliper_event", _("Caliper event")
        LINE_ITEM = "line_item", _("OneRoster line item")
        RESULT = "result", _("OneRoster result")

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        RETRYING = "retrying", _("failed, retrying")
        DEAD = "dead", _("dead")
        SUPERSEDED = "superseded", _("superseded by a newer re-sync")
        HELD = "held", _("held until its data is complete")

    # Rows still to be tried: ``Delivery.objects.waiting()``, and the one-per-key constraint below.
    WAITING = (State.PENDING, State.RETRYING)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(
        max_length=255, help_text=_("Idempotency key: the event id or the OneRoster sourcedId.")
    )
    payload = models.JSONField(default=dict, blank=True, help_text=_("What is sent (never holds a secret)."))
    attempt = models.ForeignKey(Attempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    result = models.ForeignKey(Result, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    status = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    leased_until = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True, help_text=_("The worker's claim token while sending."))
    last_error = models.TextField(blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = _("deliveries")
        ordering = ["id"]
        constraints = [
            # At most one waiting row per key: a re-sync folds into it. A row
            # being sent does not count, so a re-sync made meanwhile still waits.
            # The states are WAITING's, spelt out for the migration (a test holds them equal).
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(status__in=["pending", "retrying"]),
                name="tbp_delivery_one_open_per_key",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["key"]),
            models.Index(fields=["claimed_by"]),
        ]

    def __str__(self):
        """What the row carries: "Result: Ann Able – Fractions quiz #2", "Caliper ActivityEvent: …".

        Named by its attempt or result when the caller loaded them with the row
        (``select_related("result__student", "result__attempt__activity",
        "attempt__student", "attempt__activity")``, as the admin's row page
        does); otherwise by its key, so a list of rows never costs a query per
        row. A line item or course completion row is named by its key.
        """
        if self.kind == self.Kind.CALIPER_EVENT:
            # A list that defers the payload annotates ``event_type`` (admin ``page_rows``): no query per row.
            event = getattr(self, "event_type", None)
            if event is None and "payload" not in self.get_deferred_fields() and isinstance(self.payload, dict):
                event = self.payload.get("type")
            label = _("Caliper %(event)s") % {"event": event} if event else self.get_kind_display()
            subject = self.attempt if _loaded(self, "attempt", "student") and _loaded(self.attempt, "activity") else None
        elif self.kind == self.Kind.RESULT:
            label = _("Result")
            subject = (
                self.result if _loaded(self, "result", "student") and _loaded(self.result, "attempt", "activity")
                else None
            )
        else:
            label, subject = self.get_kind_display(), None
        return f"{label}: {subject or self.key}"


def _loaded(instance, *path):
    """Whether ``instance.<path[0]>.<path[1]>…`` is set and in memory (reading it runs no query)."""
    for name in path:
        if instance is None or not instance._meta.get_field(name).is_cached(instance):
            return False
        instance = getattr(instance, name)
    return instance is not None
