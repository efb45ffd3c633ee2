"""Sync health: the outbox figures the admin shows at a glance."""

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from ..conf import app_settings
from ..models import Delivery

def sync_health():
    """Outbox counts by status and the oldest unsent row: two queries."""
    counts = dict(Delivery.objects.order_by().values_list("status").annotate(n=Count("id")))
    oldest = (
        Delivery.objects.unsent().order_by("created_at", "id")
        .only("id", "kind", "key", "status", "created_at", "next_attempt_at").first()
    )
    stale_after = timedelta(minutes=app_settings.ADMIN_SYNC_STALE_MINUTES)
    stale = oldest is not None and timezone.now() - oldest.created_at > stale_after
    dead = counts.get(Delivery.State.DEAD, 0)
    return {
        "counts": [(state, label, counts.get(state, 0)) for state, label in Delivery.State.choices],
        "oldest": oldest,
        "dead": dead,
        "stale": stale,
        "healthy": not dead and not stale,
        "enabled": app_settings.SYNC_ENABLED,
        "stale_minutes": app_settings.ADMIN_SYNC_STALE_MINUTES,
    }
