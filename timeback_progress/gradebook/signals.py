"""Domain signals for host projects, sent once the transaction that made the change commits.

Receivers get keyword arguments (``sender`` is the model class). A receiver
that raises is logged and does not stop the others: the change is already
committed, so there is nothing left to undo. Documented in docs/signals.md.
"""

import logging
from functools import partial

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

#: An attempt was completed for the first time: ``attempt``, ``result``.
attempt_completed = Signal()
#: An attempt's XP changed (a completion, a correction, a re-evaluation):
#: ``attempt``, ``xp`` (the new total, Decimal), ``delta`` (the change).
xp_awarded = Signal()
#: An attempt mastered units of its activity that the student had not mastered: ``attempt``, ``units``.
unit_mastered = Signal()
#: An admin or API user corrected a result: ``result``, ``correction`` (the audit row).
result_corrected = Signal()


def send_on_commit(signal, *, using, sender, **kwargs):
    """Send ``signal`` after the current transaction on ``using`` commits (at once outside one)."""
    transaction.on_commit(partial(_send, signal, sender, kwargs), using=using)


def _send(signal, sender, kwargs):
    for receiver, response in signal.send_robust(sender=sender, **kwargs):
        if isinstance(response, Exception):
            logger.error("A %s receiver failed: %r", receiver, response, exc_info=response)
