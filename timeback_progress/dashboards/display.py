"""How the dashboards show figures: numbers, percents, durations, dates, and
the display values set on rows before a page renders.

Formatting here, not with template filters, keeps a 50-row page cheap to
render. Nothing in this module queries the database, except ``explain``,
which asks the XP policy (``gradebook.derivation.evaluate``) why an attempt earned its XP.
"""

import zoneinfo
from decimal import ROUND_HALF_UP, Decimal

from django.utils import formats, timezone
from django.utils.translation import gettext, pgettext

from ..conf import app_settings

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
    """'1,234.5' in English, '1 234,5' in Spanish (or '–' for None); ``suffix="%"`` writes a percent.

    The active locale's separators (``formats.number_format``), and its way of
    writing a percent ('87.2%', '87,2 %'): a page reads one way per language.
    """
    if value is None:
        return "–"
    # Rounded half up first: number_format cuts extra places off (66.67 would read 66.6).
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = formats.number_format(rounded, places, force_grouping=True)
    if suffix == "%":
        return percent_text(text)
    return f"{text}{suffix}"


def percent_text(text):
    """An already formatted number as a percent, as the active language writes it."""
    return gettext("%(percent)s%%") % {"percent": text}


def short_number(value):
    """Up to two decimals without trailing zeros: 12.5, 10, 0.25 (the locale's decimal separator)."""
    if value is None:
        return "–"
    text = f"{Decimal(value):.2f}".rstrip("0").rstrip(".")
    return formats.number_format(Decimal(text or "0"))


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
    """'75%' ('75 %' in Spanish), or '–' without masterable units."""
    return "–" if value is None else percent_text(formats.number_format(value))


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


def decorate_own_course(course):
    """Display values for one ``student_queries.own_courses`` row (the student's own page)."""
    course.progress_percent = course_progress(course.mastered, course)
    course.progress_bar = str(course.progress_percent or 0)  # an attribute: never localised
    course.progress_display = progress_display(course.progress_percent)
    course.xp_display = number(course.xp)
    course.accuracy_display = number(course.accuracy, suffix="%")
    course.active_display = duration(course.active)
    return course


def decorate_activity(row):
    """Display values for one ``student_queries.activity_rows`` row.

    An activity without questions (watched, read) reads as done, with its
    time and XP: its accuracy and best are blank, never a 0% that looks like
    a failure.
    """
    row["passive"] = not row["questions"]
    row["accuracy_display"] = done_word() if row["passive"] else number(row["accuracy"], suffix="%")
    row["best_display"] = "" if row["passive"] else number(row["best"], suffix="%")
    row["xp_display"] = number(row["xp"])
    row["active_display"] = duration(row.get("active"))
    return row


def done_word():
    """What a completed attempt without questions shows where a score would be (one word, translated)."""
    return pgettext("a watched or read activity, completed", "Done")


def is_passive(attempt):
    """A completed attempt with nothing to score: no questions, or a passive activity (``is_graded`` off)."""
    return attempt.is_completed and (attempt.total_questions == 0 or not attempt.activity.is_graded)


def decorate_attempt(attempt):
    """Display values for one attempt row (its state, times, score), and why it earned its XP."""
    attempt.passive = is_passive(attempt)
    attempt.reason = explain(attempt)
    attempt.get_state_display = attempt.State(attempt.state).label
    attempt.completed_display = local_datetime(attempt.completed_at)
    attempt.started_display = local_datetime(attempt.started_at)
    attempt.active_display = duration(attempt.active_seconds)
    attempt.inactive_display = duration(attempt.inactive_seconds)
    if attempt.passive:
        attempt.correct_display = done_word()
        attempt.accuracy_display = attempt.multiplier_display = ""
    else:
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


def local_datetime(value):
    """``value`` in the current time zone, in the active locale's short date-time format (None stays None).

    The format is the locale's (``SHORT_DATETIME_FORMAT``), never written
    here: a page shows one date format per language.
    """
    if value is None:
        return None
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


def dashboard_zone():
    """The zone dashboard pages show times in: ``DASHBOARD_TIME_ZONE``, or None to keep the current one.

    None leaves whatever zone is active (the host's ``TIME_ZONE``, or the one
    the host's own middleware activated for the user). checks.py refuses an
    unknown name (E012), so ``ZoneInfo`` finds it here.
    """
    name = app_settings.DASHBOARD_TIME_ZONE
    return zoneinfo.ZoneInfo(name) if name else None


def explain(attempt):
    """Why ``attempt`` earned its XP, in the words of the XP policy."""
    if not attempt.is_completed:
        if attempt.state == attempt.State.ABANDONED:
            return gettext("Abandoned: its time counts, and it costs no XP on later attempts.")
        return gettext("In progress: XP is awarded on completion.")
    if attempt.xp_override is not None:
        return gettext("Set to %(xp)s XP by an admin correction.") % {"xp": attempt.xp_override}
    if is_passive(attempt):
        return gettext("Done: an activity without questions (watched or read), so it has no accuracy; its time counts.")
    try:
        return getattr(derivation.evaluate(attempt), "reason", "")
    except ValueError as exc:  # inputs the rules refuse; say so rather than crash the page
        return gettext("Could not be evaluated: %(error)s") % {"error": exc}
