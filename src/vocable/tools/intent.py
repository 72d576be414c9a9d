"""The fast intent path: an utterance mapped straight to a built-in tool, skipping the model.

The utterance is embedded and compared (cosine) with every tool's example utterances and with
examples of plain conversation. It goes to a tool only when the nearest example belongs to that
tool, scores at least ``tools.intent_threshold``, and the tool's arguments can be read from the
utterance; anything else goes to the language model as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vocable.engines.embed.base import TextEmbedder, Vectors
from vocable.tools.builtins import CHAT_EXAMPLES
from vocable.tools.extract import EXTRACTORS, extract
from vocable.tools.registry import ToolRegistry

CHAT = "_chat"
"""The label of conversation examples."""


@dataclass(frozen=True, slots=True)
class IntentRoute:
    """Where an utterance goes.

    Attributes:
        tool: The tool to run, or None (ask the language model).
        arguments: The tool's arguments read from the utterance.
        score: Cosine similarity to the nearest example.
        nearest: The label of the nearest example (a tool name, or ``_chat``).
        reason: Why it went to the model: ``below_threshold``, ``chat`` or ``no_arguments``.
    """

    tool: str | None
    score: float
    nearest: str
    arguments: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


class IntentRouter:
    """Routes utterances to tools by embedding similarity against example utterances.

    A tool competes only when its extractor finds its arguments in the utterance. Its score is
    the best cosine similarity of the utterance to the tool's examples, or of the utterance's
    template to the examples' templates (contents masked, see `vocable.tools.extract`). The best
    tool wins if it scores at least `threshold` and above every conversation example.

    Args:
        embedder: Any `TextEmbedder` (unit vectors).
        registry: The tools; those with examples and an argument extractor take part.
        threshold: Lowest similarity that routes to a tool.
        chat_examples: Utterances that are conversation, not commands.
    """

    def __init__(
        self,
        embedder: TextEmbedder,
        registry: ToolRegistry,
        *,
        threshold: float,
        chat_examples: Sequence[str] = CHAT_EXAMPLES,
    ) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.labels: list[str] = []
        self.examples: list[str] = []
        self.templates: list[str] = []
        for tool in registry:
            if tool.name not in EXTRACTORS:
                continue
            for example in tool.examples:
                found = extract(tool.name, example)
                self.labels.append(tool.name)
                self.examples.append(example.lower())
                self.templates.append(found.template if found else example.lower())
        for example in chat_examples:
            self.labels.append(CHAT)
            self.examples.append(example.lower())
            self.templates.append(example.lower())
        self._labels = np.array(self.labels)
        self._raw: Vectors | None = None
        self._masked: Vectors | None = None
        self._lock = asyncio.Lock()

    async def prepare(self) -> None:
        """Embed the examples and their templates (done on first use otherwise)."""
        async with self._lock:
            if self._raw is None:
                both = await self.embedder.embed([*self.examples, *self.templates])
                self._raw, self._masked = both[: len(self.examples)], both[len(self.examples) :]

    async def route(self, text: str) -> IntentRoute:
        """Decide whether `text` goes straight to a tool."""
        said = text.strip().lower()
        if not said or not self.examples:
            return IntentRoute(None, 0.0, CHAT, reason="below_threshold")
        await self.prepare()
        assert self._raw is not None and self._masked is not None  # noqa: S101 - prepare
        found = {
            tool: hit
            for tool in dict.fromkeys(self.labels)
            if tool != CHAT and (hit := extract(tool, text)) is not None
        }
        templates = sorted({hit.template for hit in found.values()} - {said})
        vectors = await self.embedder.embed([said, *templates])
        raw_scores = self._raw @ vectors[0]
        nearest = str(self._labels[int(np.argmax(raw_scores))])
        chat = float(raw_scores[self._labels == CHAT].max(initial=-1.0))
        masked = {said: vectors[0]} | {t: vectors[i + 1] for i, t in enumerate(templates)}
        best: tuple[float, str] = (-1.0, CHAT)
        for tool, hit in found.items():
            mine = self._labels == tool
            score = float(raw_scores[mine].max(initial=-1.0))
            score = max(score, float((self._masked[mine] @ masked[hit.template]).max()))
            best = max(best, (score, tool))
        score, tool = best
        if tool == CHAT:
            return IntentRoute(None, float(raw_scores.max()), nearest, reason="no_arguments")
        if score <= chat:
            return IntentRoute(None, score, nearest, reason="chat")
        if score < self.threshold:
            return IntentRoute(None, score, nearest, reason="below_threshold")
        return IntentRoute(tool, score, tool, found[tool].arguments)
