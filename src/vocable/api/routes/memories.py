"""Memories of the signed-in user: facts worth keeping, optionally tied to a conversation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from vocable.api.auth.deps import require_scope
from vocable.api.deps import StoreDep
from vocable.api.params import MAX_ROW_ID, RowIdPath
from vocable.storage import repo
from vocable.storage.models import Memory

router = APIRouter(
    prefix="/v1/memories", tags=["memory"], dependencies=[Depends(require_scope("memory"))]
)


class MemoryIn(BaseModel):
    """Something to remember."""

    text: str = Field(min_length=1, max_length=4000, examples=["Ann's sister is called Bea."])
    kind: str = Field("fact", min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    conversation_id: int | None = Field(None, ge=1, le=MAX_ROW_ID)


class MemoryOut(BaseModel):
    """A stored memory."""

    id: int
    text: str
    kind: str
    conversation_id: int | None
    created_at: datetime


def _out(row: Memory) -> MemoryOut:
    return MemoryOut(
        id=row.id,
        text=row.text,
        kind=row.kind,
        conversation_id=row.conversation_id,
        created_at=row.created_at,
    )


@router.get(
    "",
    summary="Your memories, newest first",
    operation_id="listMemories",
    responses={404: {"description": "No such conversation."}},
)
async def list_memories(
    store: StoreDep,
    conversation_id: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="Only this conversation's.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MemoryOut]:
    """Every memory of yours, or one conversation's."""
    async with store.db.uow(readonly=True) as tx:
        if conversation_id is not None:  # another user's conversation is a 404, not []
            await repo.get_conversation(tx, user_id=store.user_id, conversation_id=conversation_id)
        rows = await repo.list_memories(
            tx, user_id=store.user_id, conversation_id=conversation_id, limit=limit
        )
    return [_out(r) for r in rows]


@router.post(
    "",
    status_code=201,
    summary="Remember something",
    operation_id="createMemory",
    responses={404: {"description": "No such conversation."}},
)
async def create_memory(body: MemoryIn, store: StoreDep) -> MemoryOut:
    """Store a memory, tied to one of your conversations when ``conversation_id`` is given."""
    async with store.db.uow() as tx:
        if body.conversation_id is not None:
            await repo.get_conversation(
                tx, user_id=store.user_id, conversation_id=body.conversation_id
            )
        row = await repo.add_memory(
            tx,
            user_id=store.user_id,
            text=body.text,
            kind=body.kind,
            conversation_id=body.conversation_id,
        )
    return _out(row)


@router.delete(
    "/{memory_id}",
    status_code=204,
    summary="Forget a memory",
    operation_id="deleteMemory",
    responses={404: {"description": "No such memory."}},
)
async def delete_memory(memory_id: RowIdPath, store: StoreDep) -> Response:
    """Delete one of your memories."""
    async with store.db.uow() as tx:
        await repo.delete_memory(tx, user_id=store.user_id, memory_id=memory_id)
    return Response(status_code=204)
