"""Arguments for a built-in tool, read straight from the utterance (the fast intent path).

Each extractor returns an `Extracted`: the tool's arguments, and the utterance as a *template*
with its contents replaced (numbers by ``N``, the fact or reminder by ``something``), so that
"remember that my brother lives in Leeds" and "remember that my sister is Ann" compare as the
same command. It returns None when the utterance lacks what the tool needs; then the turn goes
to the language model instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vocable.tools.spoken import parse_duration, spoken_expression, words_to_numbers

Arguments = dict[str, Any]
SLOT = "something"


@dataclass(frozen=True, slots=True)
class Extracted:
    """A tool's arguments read from an utterance, and the utterance's template."""

    arguments: Arguments
    template: str


Extractor = Callable[[str], Extracted | None]

_FILLER = re.compile(r"^(?:(?:hey|ok|okay|so|um|uh|please|vocable|can you|could you)[,\s]+)+")
_NOT_LABELS = {"a", "an", "the", "my", "this", "that", "new", "your", "minute", "second", "hour"}


def _clean(text: str) -> str:
    said = text.strip().rstrip("?.!").strip()
    return _FILLER.sub("", said.lower()).strip()


def numbers_template(text: str) -> str:
    """`text` with every number (spoken or written) as ``N``."""
    return re.sub(r"\d+(?:[.,:]\d+)*", "N", words_to_numbers(_clean(text)))


def _get_time(text: str) -> Extracted | None:
    said = _clean(text)
    if not re.search(r"\b(time|date|day|today|clock)\b", said):
        return None
    # "what time does the shop open", "what time is it in Tokyo": not the user's clock.
    if re.search(r"\btime (?:does|do|did|will|would|should|can|could|was|were|are)\b", said):
        return None
    if re.search(r"\b(?:time|date|day|it) (?:is it )?in [a-z]", said):
        return None
    return Extracted({}, said)


def _calculate(text: str) -> Extracted | None:
    expr = spoken_expression(text)
    if not expr or not re.search(r"[-+*/%]|sqrt|abs|round", expr):
        return None
    return Extracted({"expression": expr}, numbers_template(text))


def _label_before_timer(said: str) -> str:
    match = re.search(r"\b([a-z]+)\s+(?:timer|alarm)\b", said)
    if match is None or match.group(1) in _NOT_LABELS or match.group(1).endswith("s"):
        return ""
    label = match.group(1)
    return "" if parse_duration(f"1 {label}") is not None else label


def _set_timer(text: str) -> Extracted | None:
    said = _clean(text)
    seconds = parse_duration(said)
    if seconds is None or not re.search(r"\b(?:timer|alarm|countdown|count down)\b", said):
        return None
    label = _label_before_timer(said)
    template = numbers_template(said.replace(label, SLOT, 1) if label else said)
    return Extracted({"duration": f"{seconds:g} seconds", "label": label}, template)


_REMIND_WHEN_LAST = re.compile(
    r"(?:remind me|set a reminder|reminder)\s+(?:to\s+|that\s+|about\s+)?(?P<what>.+?)\s+"
    r"(?P<when>(?:in|at)\s+.+)$"
)
_REMIND_WHEN_FIRST = re.compile(
    r"(?:remind me|set a reminder|reminder)\s+(?P<when>(?:in|at)\s+.+?)\s+"
    r"(?:to|that|about)\s+(?P<what>.+)$"
)


def _set_reminder(text: str) -> Extracted | None:
    said = _clean(text)
    match = _REMIND_WHEN_FIRST.search(said) or _REMIND_WHEN_LAST.search(said)
    if match is None:
        return None
    what = re.sub(r"^(?:to|that|about)\s+", "", match.group("what")).strip()
    when = match.group("when")
    if not what or (parse_duration(when) is None and not re.search(r"\d|noon|midnight", when)):
        return None
    template = numbers_template(said[: match.start("what")] + SLOT + said[match.end("what") :])
    return Extracted({"text": what, "when": when}, template)


def _list_timers(text: str) -> Extracted | None:
    said = _clean(text)
    asks = re.search(r"\b(?:what|how|which|list|show|any|tell|check)\b", said)
    about = re.search(r"\b(?:timers?|reminders?|time left|time is left)\b", said)
    return Extracted({}, said) if asks and about else None


def _cancel_timer(text: str) -> Extracted | None:
    said = _clean(text)
    if not re.search(r"\b(?:cancel|stop|delete|remove|clear|turn off)\b", said):
        return None
    if not re.search(r"\b(?:timers?|reminders?|alarms?)\b", said):
        return None
    reminder = re.search(r"reminder (?:to|about)\s+(.+)$", said)
    which = reminder.group(1) if reminder else _label_before_timer(said)
    return Extracted({"which": which}, said.replace(which, SLOT, 1) if which else said)


_REMEMBER = re.compile(
    r"^(?:remember|don't forget|do not forget|note|make a note|keep in mind)"
    r"(?:\s+that)?[,:\s]+(?P<fact>.+)$"
)


def _remember(text: str) -> Extracted | None:
    said = _clean(text)
    match = _REMEMBER.match(said)
    if match is None or said.startswith(("remember when", "remember what", "remember where")):
        return None
    fact = match.group("fact").strip()
    offset = text.lower().find(fact)  # keep the user's capitals (names)
    original = text[offset : offset + len(fact)] if offset >= 0 else fact
    return Extracted({"text": original}, said[: match.start("fact")] + SLOT)


def _recall(text: str) -> Extracted | None:
    said = _clean(text)
    return Extracted({"query": said}, said) if said else None


_FORGET = re.compile(
    r"^forget\s+(?:that\s+|about\s+|what i (?:said|told you) about\s+)?(?P<what>.+)$"
)


def _forget(text: str) -> Extracted | None:
    said = _clean(text)
    match = _FORGET.match(said)
    if match is None or match.group("what") in {"it", "that", "this", "everything"}:
        return None
    return Extracted({"what": match.group("what")}, said[: match.start("what")] + SLOT)


def _summarise(text: str) -> Extracted | None:
    said = _clean(text)
    return Extracted({}, said)


EXTRACTORS: dict[str, Extractor] = {
    "get_time": _get_time,
    "calculate": _calculate,
    "set_timer": _set_timer,
    "set_reminder": _set_reminder,
    "list_timers": _list_timers,
    "cancel_timer": _cancel_timer,
    "remember": _remember,
    "recall": _recall,
    "forget": _forget,
    "summarise_conversation": _summarise,
}
"""Argument extractors of the built-in tools, by tool name."""


def extract(tool: str, text: str) -> Extracted | None:
    """The arguments of `tool` in the utterance `text`, or None when they are not all there."""
    extractor = EXTRACTORS.get(tool)
    return extractor(text) if extractor is not None else None
