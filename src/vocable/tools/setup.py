"""Assembling the tools of one conversation: registry, context, intent router, timers, memory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from vocable.config import Settings
from vocable.engines.embed.base import TextEmbedder
from vocable.engines.llm.base import LanguageModel
from vocable.errors import EngineUnavailableError
from vocable.storage.db import Database
from vocable.tools.builtins import builtin_registry
from vocable.tools.context import MemoryStore, ToolContext, user_timezone
from vocable.tools.intent import IntentRouter
from vocable.tools.timers import TimerService
from vocable.tools.turn import Toolbox

if TYPE_CHECKING:
    from vocable.stages.respond import Conversation

log = logging.getLogger(__name__)


def build_toolbox(
    settings: Settings,
    *,
    llm: LanguageModel | None = None,
    db: Database | None = None,
    user_id: int | None = None,
    conversation_id: int | None = None,
    embedder: TextEmbedder | None = None,
    memory: MemoryStore | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Toolbox:
    """The built-in tools for one user's conversation.

    Timers need `db` and `user_id`; remember/recall/forget need `memory` (made from `db` and
    `embedder` when not given); the intent path needs `embedder`. Tools whose needs are missing
    answer with a sentence saying so.

    Raises:
        ConfigError: ``tools.timezone`` is not a known zone.
    """
    user_timezone(settings.tools.timezone)  # fail early on a bad zone name
    registry = builtin_registry(settings)
    context = ToolContext(
        settings, user_id=user_id, conversation_id=conversation_id, db=db, llm=llm
    )
    if clock is not None:
        context.clock = clock
    if db is not None and user_id is not None:
        context.timers = TimerService(
            db,
            user_id=user_id,
            conversation_id=conversation_id,
            clock=context.clock,
            max_delay_s=settings.tools.max_timer_s,
        )
    if memory is None and db is not None and embedder is not None:
        from vocable.memory.semantic import SemanticMemory

        memory = SemanticMemory(db, embedder, settings.memory)
    context.memory = memory
    intent = None
    if embedder is not None and settings.tools.intent:
        intent = IntentRouter(embedder, registry, threshold=settings.tools.intent_threshold)
    return Toolbox(registry, context, settings.tools, intent=intent)


async def load_tool_embedder(settings: Settings) -> TextEmbedder | None:
    """The shared text embedder for the intent path and memory, or None where it cannot load."""
    if not settings.tools.enabled:
        return None
    from vocable.engines.embed import load_embedder

    try:
        return await load_embedder(settings)
    except EngineUnavailableError as err:
        log.warning("tools: no text embedder (%s); the intent path and memory are off", err)
        return None


async def load_toolbox(
    settings: Settings,
    *,
    llm: LanguageModel | None,
    db: Database | None,
    user_id: int | None,
    conversation_id: int | None = None,
) -> Toolbox | None:
    """The tools of one session, ready to use; None when ``tools.enabled`` is off.

    The text embedder is loaded once per process and shared (close it at shutdown with
    `vocable.engines.embed.close_embedders`); without it the intent path and memory are off.
    """
    if not settings.tools.enabled:
        return None
    embedder = await load_tool_embedder(settings)
    box = build_toolbox(
        settings,
        llm=llm,
        db=db,
        user_id=user_id,
        conversation_id=conversation_id,
        embedder=embedder,
    )
    await box.prepare()
    return box


async def equip(
    conversation: Conversation,
    settings: Settings,
    *,
    llm: LanguageModel | None,
    db: Database | None,
    user_id: int | None,
    conversation_id: int | None = None,
) -> None:
    """Give `conversation` this user's tools and the recall of their long-term memories.

    Used by every way in (realtime sessions, file turns, ``vocable chat``), so that each gets the
    same tools and memory. Both are off when ``tools.enabled`` is off or no embedder loads.
    """
    from vocable.memory.history import recaller
    from vocable.memory.semantic import SemanticMemory

    tools = await load_toolbox(
        settings, llm=llm, db=db, user_id=user_id, conversation_id=conversation_id
    )
    conversation.tools = tools
    memory = tools.context.memory if tools is not None else None
    if isinstance(memory, SemanticMemory) and user_id is not None:
        conversation.recall = recaller(memory, user_id=user_id)
