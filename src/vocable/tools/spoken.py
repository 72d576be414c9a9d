"""Reading what people say: number words, spoken arithmetic, durations and times of day.

Small parsers for the fast intent path (and for tools that accept spoken arguments). They return
None, or an empty string, when the text holds nothing they can use.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORD = re.compile(
    r"\b(?:" + "|".join(sorted([*_UNITS, *_SCALES], key=len, reverse=True)) + r")\b"
)
_AFTER_SCALE = "".join(f"(?<={scale})" for scale in _SCALES).replace(")(", ")|(")
_AFTER_SCALE = f"(?:{_AFTER_SCALE})"
_RUN = re.compile(
    r"\b(?:(?:a|an)\s+(?=hundred|thousand|million))?"
    r"(?:" + _NUMBER_WORD.pattern + r")"
    r"(?:(?:\s+|-|" + _AFTER_SCALE + r"\s+and\s+)(?:" + _NUMBER_WORD.pattern + r"))*"
    r"(?:\s+point(?:\s+(?:zero|oh|one|two|three|four|five|six|seven|eight|nine))+)?"
)


def _run_value(run: str) -> str:
    whole, _, frac = run.partition(" point ")
    numbers: list[int] = []
    total = current = 0
    for word in re.findall(r"[a-z]+", whole):
        if word in _UNITS:
            value = _UNITS[word]
            small = current % 100
            if small and not (small % 10 == 0 and small >= 20 and value < 10):
                numbers.append(total + current)  # "eleven thirty" is two numbers
                total = current = 0
            current += value
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _SCALES:
            total += max(current, 1) * _SCALES[word]
            current = 0
    numbers.append(total + current)
    text = " ".join(str(n) for n in numbers)
    if frac:
        text += "." + "".join(str(_UNITS.get(w, 0)) for w in frac.split())
    return text


def words_to_numbers(text: str) -> str:
    """`text` with spoken numbers as digits: "twenty three" → "23", "two point five" → "2.5"."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.lower())
    return _RUN.sub(lambda m: _run_value(m.group(0)), text)


_PHRASES: list[tuple[str, str]] = [
    (r"\bmultiply\s+(-?[\d.]+)\s+(?:by|and)\s+", r"\1 * "),
    (r"\bdivide\s+(-?[\d.]+)\s+by\s+", r"\1 / "),
    (r"\badd\s+(-?[\d.]+)\s+(?:and|to)\s+", r"\1 + "),
    (r"\bsubtract\s+(-?[\d.]+)\s+from\s+(-?[\d.]+)", r"\2 - \1"),
    (r"\bsquare root of\s+(-?[\d.]+)", r"sqrt(\1)"),
    (r"\b(-?[\d.]+)\s+squared\b", r"(\1)**2"),
    (r"\b(-?[\d.]+)\s+cubed\b", r"(\1)**3"),
    (r"\b([\d.]+)\s*(?:%|percent)\s+of\s+", r"\1/100*"),
    (r"\bto the power of\b|\braised to(?: the power of)?\b|\^", "**"),
    (r"\bmultiplied by\b|\btimes\b|×|(?<=\d)\s*x\s*(?=\d)", "*"),
    (r"\bdivided by\b|\bover\b|÷", "/"),
    (r"\bplus\b|\band\b", "+"),
    (r"\bminus\b|−", "-"),
    (r"\bmodulo\b|\bmod\b", "%"),
]
_FUNCTIONS = ("sqrt", "abs", "round", "pi")
_ALLOWED = re.compile(r"sqrt|abs|round|pi|\d+(?:\.\d+)?(?:e[-+]?\d+)?|\*\*|//|[-+*/%().]")


def spoken_expression(text: str) -> str:
    """The arithmetic in `text` as a Python-style expression, or "" when there is none.

    "what is 17 times 23?" → "17*23"; "the square root of sixteen" → "sqrt(16)". Words that are
    not arithmetic are dropped.
    """
    expr = words_to_numbers(text)
    for pattern, replacement in _PHRASES:
        expr = re.sub(pattern, replacement, expr)
    tokens = _ALLOWED.findall(expr)
    while tokens and tokens[-1] in {"+", "-", "*", "/", "%", "**", "//", "(", "."}:
        tokens.pop()
    while tokens and tokens[0] in {"+", "*", "/", "%", "**", "//", ")", "."}:
        tokens.pop(0)
    if not any(t[0].isdigit() or t in _FUNCTIONS for t in tokens):
        return ""
    return "".join(tokens)


_SAY = [("**", " to the power of "), ("*", " times "), ("/", " divided by "), ("+", " plus ")]


def say_expression(expr: str) -> str:
    """An expression from `spoken_expression` as words: "17*23" → "17 times 23"."""
    said = re.sub(r"sqrt\(([^()]*)\)", r"the square root of \1", expr)
    for symbol, words in _SAY:
        said = said.replace(symbol, words)
    said = re.sub(r"(?<=[\w)])-", " minus ", said).replace("%", " modulo ")
    return re.sub(r"\s+", " ", said).strip()


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(
    r"(\d+(?:\.\d+)?)\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)\b"
    r"(\s+and\s+a\s+half)?"
)


def parse_duration(text: str) -> float | None:
    """Seconds in a spoken duration ("5 minutes", "an hour and a half", "1h30m"), or None."""
    said = words_to_numbers(text)
    said = re.sub(r"\bhalf an? (hour|minute)\b", r"0.5 \1", said)
    said = re.sub(r"\b(?:a|an)\s+(?=(?:second|minute|hour|day)\b)", "1 ", said)
    said = re.sub(r"(\d)([smhd])(?=\d|\b)", r"\1 \2 ", said)
    said = re.sub(r"(\d+)\s+and\s+a\s+half\s+(?=[a-z])", r"\1.5 ", said)
    total = 0.0
    found = False
    for number, unit, half in _DURATION.findall(said):
        seconds = _UNIT_SECONDS[unit[0]]
        total += (float(number) + (0.5 if half else 0.0)) * seconds
        found = True
    return total if found and total > 0 else None


_CLOCK = re.compile(
    r"\bat\s+(\d{1,2})(?:(?:[:.]|\s+)(\d{2}))?\s*(a\.?\s?m\.?|p\.?\s?m\.?|o'?clock)?(?=\W|$)"
)


def parse_clock_time(text: str, now: datetime) -> datetime | None:
    """The next moment after `now` named by "at 5 pm", "at 17:30", "at noon"; else None."""
    said = words_to_numbers(text)
    said = re.sub(r"\bat (?:noon|midday)\b", "at 12:00 pm", said)
    said = re.sub(r"\bat midnight\b", "at 12:00 am", said)
    match = _CLOCK.search(said)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    suffix = (match.group(3) or "").replace(".", "").replace(" ", "")
    if hour > 23 or minute > 59 or (suffix in {"am", "pm"} and not 1 <= hour <= 12):
        return None
    if suffix == "pm" and hour != 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    candidate = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    ambiguous = suffix not in {"am", "pm"} and hour < 12
    while candidate <= now:
        candidate += timedelta(hours=12 if ambiguous else 24)
    return candidate


def say_duration(seconds: float) -> str:
    """A duration as words: 90 → "1 minute 30 seconds", 3600 → "1 hour"."""
    left = round(seconds)
    parts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
    return " ".join(parts) or "0 seconds"


_PERSON = {
    "i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
    "i'm": "you're", "im": "you're", "i've": "you've", "i'll": "you'll", "i'd": "you'd",
}  # fmt: skip


def second_person(text: str) -> str:
    """The user's words said back to them: "my sister is Ann" → "your sister is Ann"."""
    text = re.sub(r"\bI am\b", "you are", text, flags=re.IGNORECASE)
    text = re.sub(r"\bI was\b", "you were", text, flags=re.IGNORECASE)
    return re.sub(r"[A-Za-z']+", lambda m: _PERSON.get(m.group(0).lower(), m.group(0)), text)
