"""Timeback XP rules as pure functions (no Django imports).

1 XP = 1 minute of focused, active learning. Awarded XP = expected XP x
multiplier, where the multiplier depends on accuracy and the attempt number:

==============  =================  ============  ==========
attempt         accuracy = 100%    80% to <100%  below 80%
==============  =================  ============  ==========
1               1.25               1.0           0
2               0.5                0.5           0
3               0.25               0.25          0
4 and later     0                  0             0
==============  =================  ============  ==========

Passive activities (watching, reading) earn 0 XP on their own.

Arithmetic is Decimal throughout. The thresholds compare the exact fraction
(``correct * 100 >= 80 * total``), so 79.995% is *below* 80% even though it
would print as 80.00. Reported figures are rounded half-up: accuracy to two
decimal places (percent), XP to two decimal places (minutes).
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

PASS_THRESHOLD = Decimal(80)
PERFECT = Decimal(100)
FIRST_ATTEMPT_PERFECT = Decimal("1.25")
RE_ATTEMPT_MULTIPLIERS = {1: Decimal(1), 2: Decimal("0.5"), 3: Decimal("0.25")}
ZERO = Decimal(0)
TWO_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class XPResult:
    """What an attempt earned, and why (``reason`` is shown to teachers)."""

    accuracy: Decimal
    multiplier: Decimal
    xp: Decimal
    passed: bool
    reason: str


def to_decimal(value):
    """Exact Decimal of an int, float, str or Decimal (floats via their repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def quantize(value):
    return to_decimal(value).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def percent_correct(correct, total):
    """Accuracy in percent, two places, half-up; None when no question was asked."""
    total = to_decimal(total or 0)
    return quantize(to_decimal(correct or 0) * PERFECT / total) if total else None


def calculate_xp(expected_xp, total_questions, correct_questions, attempt_number, *, passive=False):
    """Apply the Timeback rules to one completed attempt.

    Zero questions means nothing was assessed: accuracy 0 and no XP.
    Raises ValueError for inputs no attempt can have (negative numbers,
    more correct answers than questions, attempt number below 1).
    """
    expected = to_decimal(expected_xp)
    total = to_decimal(total_questions)
    correct = to_decimal(correct_questions)
    attempt = int(attempt_number)
    if not expected.is_finite() or not total.is_finite() or not correct.is_finite():
        raise ValueError("XP inputs must be finite numbers.")
    if expected < 0:
        raise ValueError("expected_xp must not be negative.")
    if total < 0 or correct < 0:
        raise ValueError("Question counts must not be negative.")
    if correct > total:
        raise ValueError("correct_questions cannot exceed total_questions.")
    if attempt < 1:
        raise ValueError("attempt_number starts at 1.")

    if total == 0:
        return XPResult(ZERO, ZERO, ZERO, False, "No questions were answered.")
    accuracy = percent_correct(correct, total)
    passed = correct * PERFECT >= PASS_THRESHOLD * total
    perfect = correct == total
    if passive:
        return XPResult(accuracy, ZERO, ZERO, passed, "Passive activities earn no XP on their own.")
    if not passed:
        return XPResult(accuracy, ZERO, ZERO, False, "Accuracy below 80% earns no XP.")
    if attempt == 1 and perfect:
        multiplier, reason = FIRST_ATTEMPT_PERFECT, "100% on the first attempt: 1.25x bonus."
    elif attempt in RE_ATTEMPT_MULTIPLIERS:
        multiplier = RE_ATTEMPT_MULTIPLIERS[attempt]
        reason = "First attempt at 80% or more: 1x." if attempt == 1 else f"Attempt {attempt}: {multiplier}x."
    else:
        multiplier, reason = ZERO, f"Attempt {attempt}: re-attempts after the third earn no XP."
    return XPResult(accuracy, multiplier, quantize(expected * multiplier), True, reason)


# The pass mark a policy declares (see gradebook.policy.pass_mark); host policies may set their own.
calculate_xp.pass_mark = PASS_THRESHOLD


def mastered_units(passed, masterable_units, already_mastered):
    """Units mastered by an attempt: a unit counts once per student.

    An attempt masters the activity's units when it passes (80% or more) and
    the student has not mastered them before.
    """
    if already_mastered or not passed:
        return 0
    return int(masterable_units)


def course_percent(mastered, masterable):
    """Course progress as Timeback reads it: mastered / masterable units, a whole percent in 0-100.

    Rounded half-up and clamped, as the vendor's SDK computes ``pctCompleteApp``
    (``handlers/activity/progress.py``). None when the course declares no
    masterable units: there is no share to show. XP is never a share of a course.
    """
    masterable = to_decimal(masterable or 0)
    if masterable <= 0:
        return None
    raw = (to_decimal(mastered or 0) * PERFECT / masterable).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(min(PERFECT, max(ZERO, raw)))
