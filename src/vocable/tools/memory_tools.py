"""Remember, recall and forget (long-term semantic memory), and summarise the conversation."""

from __future__ import annotations

from vocable.tools.context import MemoryStore, ToolContext
from vocable.tools.registry import ToolError
from vocable.tools.spoken import second_person

FORGET_MIN_SCORE = 0.5
"""How close a memory must be to what the user named before `forget` deletes it."""


def _memory(ctx: ToolContext) -> tuple[MemoryStore, int]:
    if ctx.memory is None or ctx.user_id is None:
        raise ToolError("Long-term memory is not available here.", code="tool.no_memory")
    return ctx.memory, ctx.user_id


async def remember(ctx: ToolContext, text: str) -> str:
    """Remember a fact or note about the user for later conversations.

    Args:
        ctx: Given by vocable.
        text: The fact, in the third person, e.g. "The user's sister is called Ann".
    """
    memory, user_id = _memory(ctx)
    await memory.remember(user_id=user_id, text=text, conversation_id=ctx.conversation_id)
    return f"OK, I'll remember that {second_person(text.strip().rstrip('.'))}."


async def recall(ctx: ToolContext, query: str) -> str:
    """Look up what the user told you before.

    Args:
        ctx: Given by vocable.
        query: What to look for, e.g. "sister's name".
    """
    memory, user_id = _memory(ctx)
    found = await memory.recall(user_id=user_id, query=query, k=3)
    good = [m for m in found if m.score >= ctx.settings.memory.min_score]
    if not good:
        return "I don't remember anything about that."
    return "I remember: " + " ".join(f"{second_person(m.text.rstrip('.'))}." for m in good)


async def forget(ctx: ToolContext, what: str) -> str:
    """Forget something the user asked you to remember.

    Args:
        ctx: Given by vocable.
        what: The memory to forget, in the user's words.
    """
    memory, user_id = _memory(ctx)
    found = await memory.recall(user_id=user_id, query=what, k=1)
    if not found or found[0].score < FORGET_MIN_SCORE:
        return "I don't have a memory like that to forget."
    await memory.forget(user_id=user_id, memory_id=found[0].id)
    return f"OK, I've forgotten that {second_person(found[0].text.rstrip('.'))}."


async def summarise_conversation(ctx: ToolContext) -> str:
    """Summarise the conversation so far."""
    if ctx.llm is None:
        raise ToolError("Summaries need the language model.", code="tool.no_llm")
    history = [m for m in ctx.history if m.role in ("user", "assistant") and m.content]
    if not history:
        return "We have not talked about anything yet."
    from vocable.memory.summary import summarise

    summary = await summarise(ctx.llm, history)
    return summary or "There is nothing to summarise yet."
