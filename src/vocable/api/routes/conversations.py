"""Stored conversations: their messages, as written and as heard."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from vocable.api.auth.deps import require_scope
from vocable.api.deps import StoreDep
from vocable.api.params import RowIdPath
from vocable.metrics.timings import TIMING_EVENTS
from vocable.storage import repo

router = APIRouter(
    prefix="/v1/conversations",
    tags=["conversations"],
    dependencies=[Depends(require_scope("conversations"))],
)


@router.get("", summary="Your conversations, newest first", operation_id="listConversations")
async def list_conversations(
    store: StoreDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[dict[str, Any]]:
    """Each conversation's id, title and number of turns."""
    async with store.db.uow(readonly=True) as tx:
        rows = await repo.list_conversations(tx, user_id=store.user_id, limit=limit)
    return [{"id": c.id, "title": c.title, "turn_count": c.turn_count} for c in rows]


@router.delete(
    "/{conversation_id}",
    status_code=204,
    summary="Delete a conversation",
    operation_id="deleteConversation",
    responses={404: {"description": "No such conversation."}},
)
async def delete_conversation(conversation_id: RowIdPath, store: StoreDep) -> Response:
    """Delete a conversation with its messages and turns."""
    async with store.db.uow() as tx:
        await repo.delete_conversation(tx, user_id=store.user_id, conversation_id=conversation_id)
    return Response(status_code=204)


@router.get(
    "/{conversation_id}",
    summary="A conversation with its messages and turns",
    operation_id="getConversation",
    responses={404: {"description": "No such conversation."}},
)
async def get_conversation(conversation_id: RowIdPath, store: StoreDep) -> dict[str, Any]:
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
