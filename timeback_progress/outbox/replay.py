"""Putting dead or retrying outbox rows back in line (commands and admin actions)."""

from django.db import router, transaction
from django.utils import timezone

from ..models import Delivery
from . import kick


def replay(rows, chunk=500):
    """Dead rows -> pending with a fresh attempt count; returns (moved, skipped).

    A row whose key already has a waiting row (a newer re-sync) is skipped:
    the waiting one carries the latest values. Works in chunks, so a replay
    after a long outage stays within the database's parameter limits.
    """
    ids = list(rows.filter(status=Delivery.State.DEAD).order_by("id").values_list("id", flat=True))
    moved = skipped = 0
    for start in range(0, len(ids), chunk):
        done, left = _replay_chunk(Delivery.objects.filter(id__in=ids[start : start + chunk]))
        moved, skipped = moved + done, skipped + left
    return moved, skipped


def _replay_chunk(rows):
    with transaction.atomic(using=router.db_for_write(Delivery)):
        rows = list(rows.filter(status=Delivery.State.DEAD).select_for_update())
        taken = set(Delivery.objects.waiting().filter(key__in=[r.key for r in rows]).values_list("key", flat=True))
        moved, seen = [], set()
        for row in rows:
            if row.key in taken or row.key in seen:
                continue
            seen.add(row.key)
            moved.append(row.id)
        Delivery.objects.filter(id__in=moved).update(
            status=Delivery.State.PENDING, attempts=0, next_attempt_at=timezone.now(), updated_at=timezone.now(),
            leased_until=None, claimed_by="",
        )
    kick.after_commit()
    return len(moved), len(rows) - len(moved)


def retry_now(rows):
    """Retrying rows become due at once; returns how many."""
    count = rows.waiting().update(next_attempt_at=timezone.now(), updated_at=timezone.now())
    kick.after_commit()
    return count
