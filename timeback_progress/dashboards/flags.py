"""The two flags a teacher acts on, each with its own rule, in one place.

* **struggling**: the student's last ``STRUGGLING_ATTEMPTS`` completed
  attempts with questions were all under the XP policy's pass mark
  (``StudentProgress.failed_streak``; attempts without questions, such as
  videos, neither count nor break the run). Help them with the material.
* **inactive**: no activity for ``INACTIVE_DAYS`` days (counted from enrolment
  when they never started). Nudge them back.

A student who has mastered every masterable unit of the course
(``StudentProgress.course_completed_at`` set) is neither: they are done, not
stuck. ``conditions`` says each rule in SQL, so pages sort and filter on it;
``reasons`` says it in words for teachers. The pass mark comes from the policy
(``gradebook.policy.pass_mark``), never from a literal.
"""

import datetime as dt

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from ..conf import app_settings
from ..gradebook.policy import pass_mark

# The overview's "show" choices -> the row annotations they require (None: everyone).
SHOW = {
    "all": None,
    "struggling": Q(is_struggling=True),
    "inactive": Q(is_inactive=True),
    "either": Q(is_struggling=True) | Q(is_inactive=True),
}


def cutoff(now=None):
    """Last activity before this instant counts as inactive."""
    return (now or timezone.now()) - dt.timedelta(days=app_settings.INACTIVE_DAYS)


def struggling(failed_streak, finished=False):
    """Whether a run of attempts under the pass mark is long enough to flag a student."""
    return not finished and failed_streak >= app_settings.STRUGGLING_ATTEMPTS


def conditions(now=None):
    """``(struggling, inactive)`` as ``Q`` objects over ``queries.class_rows``' annotations."""
    before = cutoff(now)
    going = Q(course_completed_at__isnull=True)
    return (
        going & Q(failed_streak__gte=app_settings.STRUGGLING_ATTEMPTS),
        going & (Q(last_activity_at__lt=before) | Q(last_activity_at__isnull=True, enrolled_at__lt=before)),
    )


def pass_mark_text():
    """The policy's pass mark without trailing zeros: '80', '82.5'."""
    return format(pass_mark().normalize(), "f")


def struggling_reason(row):
    """Why ``row`` is struggling, in words (None when it is not)."""
    if not row.is_struggling:
        return None
    return ngettext(
        "last %(count)d attempt under %(mark)s%%",
        "last %(count)d attempts in a row under %(mark)s%%",
        row.failed_streak,
    ) % {"count": row.failed_streak, "mark": pass_mark_text()}


def inactive_reason(row, now=None):
    """Why ``row`` is inactive, in words (None when it is not)."""
    if not row.is_inactive:
        return None
    if row.last_activity_at is None:
        return gettext("no activity since enrolling")
    days = ((now or timezone.now()) - row.last_activity_at).days
    return ngettext("no activity for %(days)d day", "no activity for %(days)d days", days) % {"days": days}


def reasons(row, now=None):
    """Why a row is flagged, in words (the SQL ``is_struggling``/``is_inactive`` say whether)."""
    return [reason for reason in (struggling_reason(row), inactive_reason(row, now)) if reason]
