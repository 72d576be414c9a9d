"""Incremental conversation summaries written by the LLM itself.

`summarise` folds messages into a previous summary. Long transcripts are folded in chunks, so
the prompt always fits a small context window. If the model returns nothing usable, an
extractive summary (the messages' first words) is kept instead, so nothing is silently lost.
"""

from __future__ import annotations

from collections.abc import Sequence

from vocable.engines.llm.base import ChatMessage, LanguageModel

MAX_SUMMARY_CHARS = 1500
"""Longest summary kept; the model is asked for far less."""
CHUNK_CHARS = 3000
"""Transcript characters folded per model call."""

INSTRUCTIONS = (
    "You keep a running summary of a conversation between a user and a voice assistant. "
    "Update the summary with the new messages. Keep names, numbers, dates, decisions and "
    "anything the user asked to remember. Write at most five short sentences, no preamble."
)

_SPEAKER = {"user": "User", "assistant": "Assistant", "tool": "Tool", "system": "Note"}


def transcript(messages: Sequence[ChatMessage]) -> list[str]:
    """One ``Speaker: text`` line per message with text."""
    return [
        f"{_SPEAKER[m.role]}: {' '.join(m.content.split())}" for m in messages if m.content.strip()
    ]


def _chunks(lines: list[str]) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        line = line[:CHUNK_CHARS]
        if current and size + len(line) > CHUNK_CHARS:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        chunks.append("\n".join(current))
    return chunks


def extractive(lines: Sequence[str], previous: str = "", max_chars: int = MAX_SUMMARY_CHARS) -> str:
    """A summary without a model: the previous one, then each line's first words."""
    parts = [previous.strip()] if previous.strip() else []
    parts += [" ".join(line.split()[:16]) for line in lines]
    text = " ".join(parts)
    return text if len(text) <= max_chars else text[-max_chars:]


async def _ask(llm: LanguageModel, previous: str, chunk: str) -> str:
    prompt = [
        ChatMessage("system", INSTRUCTIONS),
        ChatMessage(
            "user",
            f"Summary so far: {previous or '(none)'}\n\nNew messages:\n{chunk}\n\nUpdated summary:",
        ),
    ]
    pieces: list[str] = []
    async for item in llm.stream(prompt):
        if isinstance(item, str):
            pieces.append(item)
    return " ".join("".join(pieces).split())


async def summarise(llm: LanguageModel, messages: Sequence[ChatMessage], previous: str = "") -> str:
    """Fold `messages` into `previous` and return the new summary.

    Args:
        llm: Any language model (tools are not offered).
        messages: The messages to fold in, oldest first (heard text only: see
            `vocable.memory.history`).
        previous: The summary of everything before them.

    Raises:
        EngineError: the model failed (the caller keeps the previous summary).
    """
    lines = transcript(messages)
    if not lines:
        return previous
    summary = previous.strip()
    for chunk in _chunks(lines):
        answer = await _ask(llm, summary, chunk)
        summary = answer if answer else extractive(chunk.splitlines(), summary)
    return summary[:MAX_SUMMARY_CHARS]
