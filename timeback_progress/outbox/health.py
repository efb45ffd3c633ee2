"""Sync health: the outbox figures the admin shows at a glance."""

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from ..conf import app_settings
from ..models import Delivery

HELD_REASONS_SHOWN = 5


def sync_health():
    """Outbox counts by status and the oldest unsent row: two queries (three while rows are held).

    Held rows are neither healthy-and-done nor dead: they wait for data only
    someone can add (a student's email), so they are flagged with their reasons.
    """
    counts = dict(Delivery.objects.order_by().values_list("status").annotate(n=Count("id")))
    oldest = (
        Delivery.objects.unsent().order_by("created_at", "id")
        .only("id", "kind", "key", "status", "created_at", "next_attempt_at").first()
    )
    stale_after = timedelta(minutes=app_settings.ADMIN_SYNC_STALE_MINUTES)
    stale = oldest is not None and timezone.now() - oldest.created_at > stale_after
    dead = counts.get(Delivery.State.DEAD, 0)
    held = counts.get(Delivery.State.HELD, 0)
    return {
        "counts": [(state, label, counts.get(state, 0)) for state, label in Delivery.State.choices],
        "oldest": oldest,
        "dead": dead,
        "held": held,
        "held_reasons": held_reasons() if held else [],
        "stale": stale,
        "healthy": not dead and not stale and not held,
        "enabled": app_settings.SYNC_ENABLED,
        "stale_minutes": app_settings.ADMIN_SYNC_STALE_MINUTES,
    }


def held_reasons(limit=HELD_REASONS_SHOWN):
    """``[(reason, rows)]``, the most common first: one per student without an email."""
    return [
        (reason, n) for reason, n in
        Delivery.objects.filter(status=Delivery.State.HELD).order_by().values_list("last_error")
        .annotate(n=Count("id")).order_by("-n", "last_error")[:limit]
    ]
