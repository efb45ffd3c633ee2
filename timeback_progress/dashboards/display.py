"""How the dashboards show figures: numbers, percents, durations, dates, and
the display values set on rows before a page renders.

Formatting here, not with template filters, keeps a 50-row page cheap to
render. Nothing in this module queries the database, except ``explain``,
which asks the XP policy (``gradebook.derivation.evaluate``) why an attempt earned its XP.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.utils import formats, timezone
from django.utils.translation import gettext

from .. import xp as xp_rules
from ..gradebook import derivation
from ..gradebook.progress import CHART_TZ
from . import flags


def percent(part, whole):
    """``part`` as a percent of ``whole``, one place (None when ``whole`` is 0 or None)."""
    if not whole:
        return None
    return (Decimal(part or 0) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def two_places(value):
    """Decimals as the database stores them (SQLite drops trailing zeros)."""
    return None if value is None else Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def duration(seconds):
    """Compact human duration: '2 h 05 min', '12 min', '40 s'."""
    seconds = int(seconds or 0)
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def hours(seconds):
    """A duration for a headline card: '348 h' from 10 hours on (minutes add nothing there, and
    '348 h 43 min' overflows a card), else as ``duration`` with each number held to its unit
    (no-break spaces), so a narrow card wraps '9 h 59 min' between the hours and the minutes only."""
    seconds = int(seconds or 0)
    if seconds >= 36_000:
        return f"{seconds // 3600:,}\u00a0h"
    return " ".join(part.replace(" ", "\u00a0") for part in _groups(duration(seconds)))


def _groups(text):
    """'9 h 05 min' -> ['9 h', '05 min']."""
    words = text.split(" ")
    return [" ".join(words[i:i + 2]) for i in range(0, len(words), 2)]


def number(value, places=1, suffix=""):
    """'1,234.5' (or '–' for None)."""
    if value is None:
        return "–"
    return f"{Decimal(value):,.{places}f}{suffix}"


def short_number(value):
    """Up to two decimals without trailing zeros: 12.5, 10, 0.25."""
    if value is None:
        return "–"
    text = f"{Decimal(value):.2f}".rstrip("0").rstrip(".")
    return text or "0"


def when(value):
    """'Nov 25, 2026 09:30' in the current time zone, or None."""
    if value is None:
        return None
    local = timezone.localtime(value)
    return f"{local:%b} {local.day}, {local:%Y %H:%M}"


def course_progress(mastered, course):
    """Course progress as Timeback reads it: mastered / masterable units, a whole percent in 0-100.

    None (shown "–") when the course declares no masterable units. XP is shown
    as XP, never as a share of the course: bonus and re-attempt XP would take it
    past 100%.
    """
    return xp_rules.course_percent(mastered, course.masterable_units)


def progress_display(value):
    """'75%', or '–' without masterable units."""
    return "–" if value is None else f"{value}%"


def row_accuracy(row):
    """A class row's accuracy from its sums (two places, half-up, as StudentProgress stores it):
    the SQL value of a window is for sorting only."""
    return xp_rules.percent_correct(row.correct_questions, row.total_questions)


def decorate(row, course, now, url_prefix=None):
    """Display values for one overview row (``url_prefix`` from ``views.student_url_prefix``).

    Course progress is as of now (``course_mastered_units``); the other
    figures are the row's, all time or of the window. The last activity is in
    the chart time zone (the one the page names for its days), in the active
    locale's short date and time format.
    """
    row.accuracy = row_accuracy(row)
    row.progress_percent = course_progress(row.course_mastered_units, course)
    row.progress_bar = str(row.progress_percent or 0)  # an attribute: never localised
    row.xp_display = number(row.xp_total)
    row.accuracy_display = number(row.accuracy, suffix="%")
    row.progress_display = progress_display(row.progress_percent)
    row.active_display = duration(row.active_seconds)
    row.last_activity_display = (
        None if row.last_activity_at is None
        else formats.date_format(timezone.localtime(row.last_activity_at, CHART_TZ()), "SHORT_DATETIME_FORMAT")
    )
    row.struggling_reason = flags.struggling_reason(row)
    row.inactive_reason = flags.inactive_reason(row, now)
    if url_prefix is not None:
        row.url = f"{url_prefix}{row.pk}/"
    return row


def decorate_activity(row):
    """Display values for one ``queries.activity_rows`` row."""
    row["accuracy_display"] = number(row["accuracy"], suffix="%")
    row["best_display"] = number(row["best"], suffix="%")
    row["xp_display"] = number(row["xp"])
    return row


def decorate_attempt(attempt):
    """Display values for one attempt row, and why it earned its XP."""
    attempt.reason = explain(attempt)
    attempt.get_state_display = attempt.State(attempt.state).label
    attempt.completed_display = when(attempt.completed_at)
    if attempt.total_questions is None:
        attempt.correct_display = "–"
    else:
        attempt.correct_display = f"{short_number(attempt.correct_questions or 0)} / {attempt.total_questions}"
    attempt.accuracy_display = number(attempt.accuracy, suffix="%")
    attempt.multiplier_display = "–" if attempt.multiplier is None else f"×{short_number(attempt.multiplier)}"
    attempt.expected_display = short_number(attempt.activity.expected_xp)
    attempt.xp_display = short_number(attempt.xp_earned)
    return attempt


def time_split(active, inactive):
    """Active and inactive time, and each one's share of the total."""
    return {
        "active": duration(active),
        "inactive": duration(inactive),
        "active_percent": percent(active, active + inactive),
        "inactive_percent": percent(inactive, active + inactive),
    }


def explain(attempt):
    """Why ``attempt`` earned its XP, in the words of the XP policy."""
    if not attempt.is_completed:
        if attempt.state == attempt.State.ABANDONED:
            return gettext("Abandoned: its time counts, and it costs no XP on later attempts.")
        return gettext("In progress: XP is awarded on completion.")
    if attempt.xp_override is not None:
        return gettext("Set to %(xp)s XP by an admin correction.") % {"xp": attempt.xp_override}
    try:
        return getattr(derivation.evaluate(attempt), "reason", "")
    except ValueError as exc:  # inputs the rules refuse; say so rather than crash the page
        return gettext("Could not be evaluated: %(error)s") % {"error": exc}
