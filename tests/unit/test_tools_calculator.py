"""The calculator (safe AST evaluation) and the spoken-language parsers the intent path uses."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from vocable.tools.calculator import CalculatorError, calculate, evaluate, format_number
from vocable.tools.spoken import (
    parse_clock_time,
    parse_duration,
    say_duration,
    second_person,
    spoken_expression,
    words_to_numbers,
)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("17 * 23", 391),
        ("what is 17 times 23", 391),
        ("what is seventeen times twenty three?", 391),
        ("(1 + 2) * 3", 9),
        ("2 ** 10", 1024),
        ("2 to the power of 10", 1024),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("-3 + 5", 2),
        ("square root of 81", 9),
        ("sqrt(2) * sqrt(2)", pytest.approx(2.0)),
        ("20 percent of 50", 10),
        ("1,000 divided by 8", 125),
        ("one hundred and five minus 5", 100),
        ("two point five times four", 10),
        ("12 x 12", 144),
        ("5 squared", 25),
        ("abs(-4)", 4),
        ("2.5e3 + 1", 2501),
        ("multiply 6 by 7", 42),
        ("divide 10 by 4", 2.5),
        ("add 5 and 3", 8),
        ("subtract 3 from 10", 7),
    ],
)
def test_arithmetic_in_symbols_or_words(expression: str, value: float) -> None:
    assert evaluate(expression) == value


def test_the_answer_is_said_in_words() -> None:
    assert calculate("what is 17 times 23") == "17 times 23 is 391."
    assert calculate("2/3") == "2 divided by 3 is 0.666667."
    assert calculate("100000*3") == "100000 times 3 is 300,000."
    assert calculate("sqrt(16)") == "the square root of 16 is 4."


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("2 ** 1000000", "Exponents are limited to 1000."),
        ("9 ** 9 ** 9", "Exponents are limited to 1000."),
        ("10 ** 999", "The answer is too large to say."),
        ("10**50 * 10**60", "The answer is too large to say."),
        ("1e308 * 10", "The answer is too large to say."),
        ("1 / 0", "You cannot divide by zero."),
        ("5 % 0", "You cannot divide by zero."),
        ("sqrt(-1)", "sqrt of -1 is undefined."),
        ("what is the weather", "I did not find a calculation in that."),
        ("__import__('os').system('ls')", "I did not find a calculation in that."),
        ("().__class__.__bases__", "I did not find a calculation in that."),
        ("1+" * 70 + "1", "That calculation has too many parts."),
        ("1+" * 150 + "1", "That calculation is too long; keep it under 200 characters."),
        ("9" * 5000, "That calculation is too long; keep it under 200 characters."),
        ("3 +* 4", "I could not read '3 +* 4' as a calculation."),
    ],
)
def test_unsafe_huge_or_undefined_input_is_refused_clearly(expression: str, message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(CalculatorError) as caught:
        evaluate(expression)
    assert caught.value.message == message
    assert caught.value.code == "tool.calculator"
    assert time.perf_counter() - start < 0.1  # refused before any large computation


def test_only_arithmetic_survives_into_the_expression() -> None:
    # Names, attributes and calls other than the allowed functions never reach the parser.
    sneaky = spoken_expression("open('/etc/passwd').read() + 1")
    assert sneaky == "(//).()+1" and not any(ch.isalpha() for ch in sneaky)
    with pytest.raises(CalculatorError, match="could not read"):
        evaluate("open('/etc/passwd').read() + 1")
    assert spoken_expression("what's 3 plus 4?") == "3+4"
    assert spoken_expression("hello") == ""


def test_numbers_are_formatted_to_be_read_out() -> None:
    assert format_number(391) == "391"
    assert format_number(4.0) == "4"
    assert format_number(12345) == "12,345"
    assert format_number(0.1 + 0.2) == "0.3"
    assert format_number(-2.5) == "-2.5"


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("seventeen times twenty three", "17 times 23"),
        ("two thousand and twenty six", "2026"),
        ("a hundred and one", "101"),
        ("eleven thirty", "11 30"),
        ("two point five", "2.5"),
        ("no numbers here", "no numbers here"),
    ],
)
def test_number_words_become_digits(said: str, digits: str) -> None:
    assert words_to_numbers(said) == digits


@pytest.mark.parametrize(
    ("said", "seconds"),
    [
        ("5 minutes", 300),
        ("set a timer for ten minutes", 600),
        ("an hour and a half", 5400),
        ("half an hour", 1800),
        ("two and a half minutes", 150),
        ("1h30m", 5400),
        ("3 hours 20 minutes", 12000),
        ("90 seconds", 90),
        ("one second", 1),
        ("2 days", 172800),
        ("a timer please", None),
        ("0 minutes", None),
    ],
)
def test_durations(said: str, seconds: float | None) -> None:
    assert parse_duration(said) == seconds


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("at 5 pm", datetime(2026, 11, 24, 17, 0)),
        ("at 17:30", datetime(2026, 11, 24, 17, 30)),
        ("at eleven thirty pm", datetime(2026, 11, 24, 23, 30)),
        ("at 9 am", datetime(2026, 11, 25, 9, 0)),
        ("at noon", datetime(2026, 11, 25, 12, 0)),
        ("at midnight", datetime(2026, 11, 25, 0, 0)),
        ("at 4", datetime(2026, 11, 25, 4, 0)),  # 4 pm has passed: the next 4 o'clock
        ("at 25:00", None),
        ("tomorrow", None),
    ],
)
def test_times_of_day_are_the_next_such_moment(said: str, expected: datetime | None) -> None:
    now = datetime(2026, 11, 24, 16, 20)
    assert parse_clock_time(said, now) == expected


def test_durations_and_the_users_words_are_said_back() -> None:
    assert say_duration(90) == "1 minute 30 seconds"
    assert say_duration(3600) == "1 hour"
    assert say_duration(1) == "1 second"
    assert second_person("my sister is called Ann") == "your sister is called Ann"
    assert second_person("I am allergic to nuts") == "you are allergic to nuts"
