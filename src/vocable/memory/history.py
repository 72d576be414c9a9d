"""Loading a stored conversation back into the prompt history of a session."""

from __future__ import annotations

from vocable.engines.llm.base import ChatMessage
from vocable.stages.respond import Conversation
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.storage.models import MessageRole, MessageStatus

LOCAL_USER = "local"
"""The user that owns conversations until sign-in exists."""


async def local_user_id(db: Database) -> int:
    """The id of the single local user, created on first use."""
    async with db.uow() as tx:
        return int((await repo.get_or_create_user(tx, name=LOCAL_USER)).id)


async def start_conversation(db: Database, *, user_id: int, title: str = "") -> int:
    """Create an empty conversation; returns its id."""
    async with db.uow() as tx:
        return int((await repo.create_conversation(tx, user_id=user_id, title=title)).id)


async def load_history(
    db: Database, *, user_id: int, conversation_id: int, system_prompt: str
) -> Conversation:
    """The conversation's prompt history: user messages, and replies as far as they were heard.

    Interrupted replies count only with the words the user heard; failed or unfinished ones are
    left out.

    Raises:
        NotFoundError: the conversation is not the user's.
    """
    async with db.uow(readonly=True) as tx:
        state = await repo.load_session(tx, user_id=user_id, conversation_id=conversation_id)
    conversation = Conversation(system_prompt)
    if state.conversation.summary:
        conversation.messages.append(
            ChatMessage("system", f"Earlier in this conversation: {state.conversation.summary}")
        )
    for message in state.recent_messages:
        if message.role == MessageRole.USER:
            conversation.messages.append(ChatMessage("user", message.text))
        elif message.status == MessageStatus.COMPLETE:
            conversation.messages.append(ChatMessage("assistant", message.text))
        elif message.status == MessageStatus.INTERRUPTED and message.heard_text:
            conversation.messages.append(ChatMessage("assistant", message.heard_text))
    return conversation
