"""The XP policy a host chose with ``XP_POLICY``, and the pass mark it implies.

Resolved once per dotted path (as DRF resolves its import strings), so a
completion does not import on every call, and a changed setting (tests,
``override_settings``) takes effect at once.
"""

from django.utils.module_loading import import_string

from .. import xp
from ..conf import app_settings

_resolved = {}


def get_policy():
    """The callable named by ``XP_POLICY`` (``xp.calculate_xp``'s signature)."""
    path = app_settings.XP_POLICY
    policy = _resolved.get(path)
    if policy is None:
        policy = _resolved[path] = import_string(path)
    return policy


def pass_mark():
    """Accuracy (percent, Decimal) at which the policy passes an attempt.

    A policy declares it as a ``pass_mark`` attribute; without one, Timeback's 80.
    Dashboards and the "stuck" rule read it here, never as a literal.
    """
    return xp.to_decimal(getattr(get_policy(), "pass_mark", xp.PASS_THRESHOLD))
