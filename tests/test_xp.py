"""The Timeback XP rules, boundary by boundary (pure functions, no database)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from timeback_progress.xp import calculate_xp, mastered_units, percent_correct

D = Decimal


@pytest.mark.parametrize(
    "total, correct, attempt, accuracy, multiplier, xp",
    [
        (10, 10, 1, "100.00", "1.25", "125.00"),  # perfect first attempt: bonus
        (10, 9, 1, "90.00", "1", "100.00"),
        (10, 8, 1, "80.00", "1", "100.00"),  # 80% exactly passes
        (10000, 7999, 1, "79.99", "0", "0.00"),  # 79.99% earns nothing
        (100000, 79995, 1, "80.00", "0", "0.00"),  # prints as 80.00 but is below 80%
        (10, 7, 1, "70.00", "0", "0.00"),
        (10, 10, 2, "100.00", "0.5", "50.00"),  # bonus is first attempt only
        (10, 8, 2, "80.00", "0.5", "50.00"),
        (10, 7.5, 2, "75.00", "0", "0.00"),  # below 80% is 0 on re-attempts too
        (10, 10, 3, "100.00", "0.25", "25.00"),
        (10, 10, 4, "100.00", "0", "0.00"),
        (10, 10, 9, "100.00", "0", "0.00"),
        (10, "8.5", 1, "85.00", "1", "100.00"),  # fractional correct answers
        (3, 2.5, 1, "83.33", "1", "100.00"),
        (0, 0, 1, "0", "0", "0"),  # nothing assessed, nothing earned
    ],
)
def test_rules(total, correct, attempt, accuracy, multiplier, xp):
    result = calculate_xp(100, total, correct, attempt)
    assert result.accuracy == D(accuracy)
    assert result.multiplier == D(multiplier)
    assert result.xp == D(xp)


def test_keyword_arguments_and_rounding():
    result = calculate_xp(expected_xp=D("7.5"), total_questions=10, correct_questions=10, attempt_number=3)
    assert result.xp == D("1.88")  # 7.5 x 0.25 = 1.875, rounded half up


def test_passive_activity_earns_nothing():
    result = calculate_xp(30, 5, 5, 1, passive=True)
    assert result.xp == 0 and result.multiplier == 0
    assert result.accuracy == D(100)


@pytest.mark.parametrize(
    "args, message",
    [
        ((10, 5, 6, 1), "cannot exceed"),
        ((10, -1, 0, 1), "negative"),
        ((10, 5, -1, 1), "negative"),
        ((-10, 5, 5, 1), "negative"),
        ((10, 5, 5, 0), "starts at 1"),
        ((10, 5, float("nan"), 1), "finite"),
        ((float("inf"), 5, 5, 1), "finite"),
    ],
)
def test_impossible_inputs_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        calculate_xp(*args)


def test_mastery_once_per_student():
    assert mastered_units(True, 2, already_mastered=False) == 2
    assert mastered_units(True, 2, already_mastered=True) == 0
    assert mastered_units(False, 2, already_mastered=False) == 0


@given(
    expected=st.decimals(min_value=0, max_value=10_000, places=2),
    total=st.integers(min_value=1, max_value=1000),
    share=st.fractions(min_value=0, max_value=1),
    attempt=st.integers(min_value=1, max_value=20),
)
def test_xp_never_exceeds_the_bonus_and_follows_the_threshold(expected, total, share, attempt):
    correct = D(share.numerator) * total / D(share.denominator)
    result = calculate_xp(expected, total, correct, attempt)
    assert 0 <= result.xp <= (expected * D("1.25")).quantize(D("0.01")) + D("0.01")
    if correct * 100 < 80 * total or attempt >= 4:
        assert result.xp == 0
    assert 0 <= result.accuracy <= 100



# Half-up and half-even differ on an exact half after an even digit (0.125: 0.13 half-up, 0.12 half-even).
@pytest.mark.parametrize("expected_xp, attempt, correct, xp", [
    ("0.5", 3, 10, "0.13"),  # 0.5 x 0.25 = 0.125
    ("8.5", 3, 10, "2.13"),  # 8.5 x 0.25 = 2.125
    ("0.1", 1, 10, "0.13"),  # 0.1 x 1.25 (first-attempt bonus) = 0.125
    ("0.05", 2, 9, "0.03"),  # 0.05 x 0.5 = 0.025
])
def test_xp_rounds_half_up_not_half_even(expected_xp, attempt, correct, xp):
    assert calculate_xp(D(expected_xp), 10, correct, attempt).xp == D(xp)


@pytest.mark.parametrize("correct, total, accuracy", [
    (641, 800, "80.13"),  # 80.125%
    (1, 800, "0.13"),  # 0.125%
    ("8.25", 40, "20.63"),  # 20.625%, fractional answers
    (0.125, 100, "0.13"),  # a float input, read from its repr
])
def test_accuracy_rounds_half_up_not_half_even(correct, total, accuracy):
    assert percent_correct(correct, total) == D(accuracy)
    assert calculate_xp(100, total, correct, 1).accuracy == D(accuracy)
