"""A conversation's prompt history: heard text only, within a token budget, with memories.

- `load_history` rebuilds the prompt history of a stored conversation: the running summary,
  the messages after it, and optionally the user's memories relevant to the next question.
- `compact` keeps the history within the model's budget: when it is over, the oldest messages
  (all but ``memory.keep_recent_messages``) are folded by the LLM into the running summary. Each
  step is stored in ``conversation_summaries``; the messages themselves are kept.

Only what the user heard goes to the model, to summaries and to memory: an interrupted reply
counts with the words that were spoken before the barge-in, a failed one not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from vocable.config import Settings
from vocable.config_sections import MemorySettings
from vocable.engines.llm.base import ChatMessage, LanguageModel
from vocable.errors import EngineError
from vocable.memory.semantic import SemanticMemory
from vocable.memory.summary import summarise
from vocable.stages.respond import Conversation
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.storage.models import Message, MessageRole, MessageStatus
from vocable.storage.repo import memories as memory_repo

log = logging.getLogger(__name__)

LOCAL_USER = "local"
"""The user that owns conversations until sign-in exists."""

SUMMARY_PREFIX = "Earlier in this conversation: "
MEMORY_HEADER = "What you know about the user (use it only when it helps):"
TOKENS_PER_MESSAGE = 4
"""Chat-template overhead per message, in tokens."""


async def local_user_id(db: Database) -> int:
    """The id of the single local user, created on first use."""
    async with db.uow() as tx:
        return int((await repo.get_or_create_user(tx, name=LOCAL_USER)).id)


async def start_conversation(db: Database, *, user_id: int, title: str = "") -> int:
    """Create an empty conversation; returns its id."""
    async with db.uow() as tx:
        return int((await repo.create_conversation(tx, user_id=user_id, title=title)).id)


def as_heard(message: Message) -> ChatMessage | None:
    """The message as the user experienced it, or None when nothing of it reached them."""
    if message.role == MessageRole.USER:
        return ChatMessage("user", message.text)
    if message.role != MessageRole.ASSISTANT:
        return None
    if message.status == MessageStatus.COMPLETE:
        return ChatMessage("assistant", message.text)
    if message.status == MessageStatus.INTERRUPTED and message.heard_text:
        return ChatMessage("assistant", message.heard_text)
    return None


def estimate_tokens(messages: Sequence[ChatMessage]) -> int:
    """A model-independent token estimate: about four characters a token, plus overhead."""
    return sum(len(m.content) // 4 + 1 + TOKENS_PER_MESSAGE for m in messages)


def context_budget(settings: Settings) -> int:
    """Prompt tokens allowed for the configured model (``memory.context_tokens`` or derived)."""
    if settings.memory.context_tokens:
        return settings.memory.context_tokens
    return max(64, settings.llm.n_ctx - settings.llm.max_tokens)


async def memory_message(
    memory: SemanticMemory, *, user_id: int, query: str, settings: MemorySettings
) -> ChatMessage | None:
    """A system message with the memories relevant to `query`, within ``prompt_chars``.

    Memories below ``min_score`` are left out; None when none is left.
    """
    if settings.recall_k <= 0 or settings.prompt_chars <= 0 or not query.strip():
        return None
    hits = await memory.recall(user_id=user_id, query=query, k=settings.recall_k)
    lines: list[str] = []
    used = len(MEMORY_HEADER)
    for hit in hits:
        if hit.score < settings.min_score:
            continue
        line = f"- {hit.text}"
        if used + len(line) + 1 > settings.prompt_chars:
            break
        lines.append(line)
        used += len(line) + 1
    return ChatMessage("system", "\n".join([MEMORY_HEADER, *lines])) if lines else None


def recaller(
    memory: SemanticMemory, *, user_id: int
) -> Callable[[str], Awaitable[ChatMessage | None]]:
    """`Conversation.recall` for one user: the memories relevant to each new user message."""

    async def recall(query: str) -> ChatMessage | None:
        if not await memory.items(user_id=user_id, limit=1):
            return None  # nothing to recall: skip embedding the query
        return await memory_message(memory, user_id=user_id, query=query, settings=memory.settings)

    return recall


async def load_history(
    db: Database,
    *,
    user_id: int,
    conversation_id: int,
    system_prompt: str,
) -> Conversation:
    """The conversation's prompt history: summary, then user messages and heard replies.

    Long-term memories are not here: `recaller` adds the relevant ones to each turn's prompt.

    Raises:
        NotFoundError: the conversation is not the user's.
    """
    async with db.uow(readonly=True) as tx:
        state = await repo.load_session(tx, user_id=user_id, conversation_id=conversation_id)
    conversation = Conversation(system_prompt)
    if state.conversation.summary:
        conversation.messages.append(
            ChatMessage("system", SUMMARY_PREFIX + state.conversation.summary)
        )
    heard = (as_heard(m) for m in state.recent_messages)
    conversation.messages += [m for m in heard if m is not None]
    return conversation


async def compact(
    db: Database,
    llm: LanguageModel,
    *,
    user_id: int,
    conversation_id: int,
    budget_tokens: int,
    keep_recent: int = 6,
    system_prompt: str = "",
) -> bool:
    """Summarise the oldest messages when the history is over `budget_tokens`.

    The `keep_recent` newest messages always stay verbatim. Returns whether a summary was made.

    Raises:
        NotFoundError: the conversation is not the user's.
        EngineError: the model failed; nothing is stored and the history is unchanged.
    """
    async with db.uow(readonly=True) as tx:
        state = await repo.load_session(tx, user_id=user_id, conversation_id=conversation_id)
    previous = state.conversation.summary or ""
    heard = [(m, as_heard(m)) for m in state.recent_messages]
    prompt = [ChatMessage("system", system_prompt + SUMMARY_PREFIX + previous)]
    prompt += [chat for _, chat in heard if chat is not None]
    if estimate_tokens(prompt) <= budget_tokens or len(heard) <= keep_recent:
        return False
    older = heard[:-keep_recent]
    summary = await summarise(llm, [c for _, c in older if c is not None], previous)
    through = older[-1][0].id

    async def store(tx: AsyncSession) -> None:
        conversation = await repo.get_conversation(
            tx, user_id=user_id, conversation_id=conversation_id
        )
        if (conversation.summary_through_message_id or 0) >= through:
            return  # another worker summarised these already
        await memory_repo.add_summary(
            tx,
            user_id=user_id,
            conversation_id=conversation_id,
            text=summary,
            through_message_id=through,
            message_count=len(older),
        )
        await repo.checkpoint_conversation(
            tx,
            user_id=user_id,
            conversation_id=conversation_id,
            expected_version=conversation.version,
            summary=summary,
            summary_through_message_id=through,
        )

    await db.transact(store, operation="summarise", retry_conflicts=True)
    return True


async def prepare_history(
    db: Database,
    settings: Settings,
    *,
    user_id: int,
    conversation_id: int,
    llm: LanguageModel | None = None,
) -> Conversation:
    """`compact` (when `llm` is given), then `load_history`.

    A failed summary is logged and skipped: the turn goes on with the longer history.
    """
    if llm is not None:
        try:
            await compact(
                db,
                llm,
                user_id=user_id,
                conversation_id=conversation_id,
                budget_tokens=context_budget(settings),
                keep_recent=settings.memory.keep_recent_messages,
                system_prompt=settings.llm.system_prompt,
            )
        except EngineError as err:
            log.warning("summarising conversation %s failed: %s", conversation_id, err)
    return await load_history(
        db,
        user_id=user_id,
        conversation_id=conversation_id,
        system_prompt=settings.llm.system_prompt,
    )
