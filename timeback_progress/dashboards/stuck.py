"""The "stuck" rule: when a student is flagged, and why, in one place.

A student is stuck after ``STUCK_FAILED_ATTEMPTS`` completed attempts in a row
under the XP policy's pass mark (``StudentProgress.failed_streak``), or after
``STUCK_INACTIVE_DAYS`` without activity (counted from enrolment when they
never started). ``condition`` says it in SQL, so pages sort and filter on it;
``reasons`` says it in words for teachers. The pass mark comes from the policy
(``gradebook.policy.pass_mark``), never from a literal.
"""

import datetime as dt

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from ..conf import app_settings
from ..gradebook.policy import pass_mark


def cutoff(now=None):
    """Last activity before this instant counts as inactive."""
    return (now or timezone.now()) - dt.timedelta(days=app_settings.STUCK_INACTIVE_DAYS)


def failing(failed_streak):
    """Whether a streak of failed attempts is long enough to flag a student."""
    return failed_streak >= app_settings.STUCK_FAILED_ATTEMPTS


def condition(now=None):
    """The rule as a ``Q`` over ``queries.class_rows``' annotations."""
    before = cutoff(now)
    return (
        Q(failed_streak__gte=app_settings.STUCK_FAILED_ATTEMPTS)
        | Q(last_activity_at__lt=before)
        | Q(last_activity_at__isnull=True, enrolled_at__lt=before)
    )


def pass_mark_text():
    """The policy's pass mark without trailing zeros: '80', '82.5'."""
    return format(pass_mark().normalize(), "f")


def reasons(row, now=None):
    """Why a row is flagged, in words (the SQL ``is_stuck`` says whether)."""
    found = []
    if failing(row.failed_streak):
        found.append(
            ngettext(
                "%(count)d attempt in a row under %(mark)s%%",
                "%(count)d attempts in a row under %(mark)s%%",
                row.failed_streak,
            )
            % {"count": row.failed_streak, "mark": pass_mark_text()}
        )
    before = cutoff(now)
    if row.last_activity_at and row.last_activity_at < before:
        days = ((now or timezone.now()) - row.last_activity_at).days
        found.append(ngettext("no activity for %(days)d day", "no activity for %(days)d days", days) % {"days": days})
    elif not row.last_activity_at and row.enrolled_at and row.enrolled_at < before:
        found.append(gettext("no activity since enrolling"))
    return found
