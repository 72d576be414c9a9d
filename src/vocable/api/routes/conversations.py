"""Stored conversations: their messages, as written and as heard."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vocable.api.deps import StoreDep
from vocable.metrics.timings import TIMING_EVENTS
from vocable.storage import repo

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


@router.get(
    "/{conversation_id}",
    summary="A conversation with its messages and turns",
    operation_id="getConversation",
    responses={404: {"description": "No such conversation."}},
)
async def get_conversation(conversation_id: int, store: StoreDep) -> dict[str, Any]:
    """Messages in order, each with its status and the text the user heard; turns with timings."""
    async with store.db.uow(readonly=True) as tx:
        conversation = await repo.get_conversation(
            tx, user_id=store.user_id, conversation_id=conversation_id
        )
        messages = await repo.list_messages(
            tx, user_id=store.user_id, conversation_id=conversation_id
        )
        turns = await repo.list_turns(tx, user_id=store.user_id, conversation_id=conversation_id)
    return {
        "id": conversation.id,
        "title": conversation.title,
        "turn_count": conversation.turn_count,
        "messages": [
            {
                "id": m.id,
                "role": str(m.role),
                "text": m.text,
                "heard_text": m.heard_text,
                "status": str(m.status),
            }
            for m in messages
        ],
        "turns": [
            {
                "number": t.number,
                "interrupted": t.interrupted,
                "timings_ms": {name: getattr(t, f"{name}_ms") for name in TIMING_EVENTS},
            }
            for t in turns
        ],
    }
