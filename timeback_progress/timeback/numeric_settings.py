"""What the numbers the client and the sender read must be: one rule for ``manage.py check`` and ``get_client()``.

A mistyped timeout (``"abc"``, ``"30"``, ``-1``, ``float("nan")``) used to
surface only when the first delivery built a client, as a bare ``ValueError``
deep in a worker. ``checks.py`` reports it at startup (E010) and the client
refuses it with the same sentence.
"""

import math
from dataclasses import dataclass

from django.utils.translation import gettext as _

from ..conf import SETTINGS_NAME
from . import redaction


@dataclass(frozen=True)
class Rule:
    minimum: float
    inclusive: bool = True  # may the value equal ``minimum``?
    integer: bool = False
    what: str = "seconds"


RULES = {
    "CONNECT_TIMEOUT": Rule(0, inclusive=False),
    "READ_TIMEOUT": Rule(0, inclusive=False),
    "TOKEN_REFRESH_MARGIN": Rule(0),
    "ROSTER_PAGE_SIZE": Rule(1, integer=True, what="records"),
    # Read by the sender at every failure (outbox.outcome.backoff).
    "BACKOFF_BASE_SECONDS": Rule(0),  # 0: retry at once (tests do)
    "BACKOFF_MAX_SECONDS": Rule(0),
    # Read by the activities dashboard (dashboards.activities.struggling) on every page.
    "DASHBOARD_STRUGGLING_ACTIVITY_PERCENT": Rule(0, what="percent"),
}
# The ones a ``TimebackClient`` is built from (the others are read where they are used).
CLIENT_KEYS = ("CONNECT_TIMEOUT", "READ_TIMEOUT", "TOKEN_REFRESH_MARGIN")


def problem(key, value):
    """Why ``value`` cannot be ``key`` (a sentence naming both), or None when it can."""
    rule = RULES[key]
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    whole = isinstance(value, int) if rule.integer else True
    in_range = is_number and math.isfinite(value) and (value >= rule.minimum if rule.inclusive else value > rule.minimum)
    if is_number and whole and in_range:
        return None
    if rule.integer:
        wanted = _("a whole number of %(what)s >= %(minimum)s") % {"what": rule.what, "minimum": rule.minimum}
    else:
        sign = ">=" if rule.inclusive else ">"
        wanted = _("a number of %(what)s %(sign)s %(minimum)s") % {"what": rule.what, "sign": sign, "minimum": rule.minimum}
    return _("%(setting)s['%(key)s'] must be %(wanted)s, not %(value)s.") % {
        "setting": SETTINGS_NAME, "key": key, "wanted": wanted, "value": _shown(value),
    }


def problems(cfg, keys=tuple(RULES)):
    """``(key, sentence)`` for each of ``keys`` whose value in ``cfg`` breaks its rule."""
    return [(key, text) for key in keys if (text := problem(key, cfg.get(key))) is not None]


def _shown(value):
    """The value as the message shows it: short, a string quoted (``'30'`` is not ``30``), never the secret."""
    text = redaction.redact_configured(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."
