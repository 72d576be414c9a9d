"""Memories of the signed-in user: facts worth keeping, found again by meaning.

Memories are stored with their embedding (the embedder loads on first use and is shared by the
process). ``/search`` ranks them against a question; ``/export`` and ``/import`` move them as
JSONL (see docs/memory.md), an import being all or nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from vocable.api.auth.deps import require_scope
from vocable.api.deps import SettingsDep, StoreDep
from vocable.api.params import MAX_ROW_ID, RowIdPath
from vocable.engines.embed.loader import load_embedder
from vocable.errors import StorageInputError
from vocable.memory.jsonl import export_lines, import_jsonl
from vocable.memory.semantic import SemanticMemory
from vocable.storage import repo
from vocable.storage.models import Memory
from vocable.storage.repo import memories as memory_repo

router = APIRouter(
    prefix="/v1/memories", tags=["memory"], dependencies=[Depends(require_scope("memory"))]
)

NDJSON = "application/x-ndjson"


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


class MemoryHit(BaseModel):
    """A memory found by a search, with its cosine similarity to the question (1 is identical)."""

    id: int
    text: str
    kind: str
    score: float


class ImportOut(BaseModel):
    """What an import wrote."""

    imported: int
    embedded: int


def _out(row: Memory) -> MemoryOut:
    return MemoryOut(
        id=row.id,
        text=row.text,
        kind=row.kind,
        conversation_id=row.conversation_id,
        created_at=row.created_at,
    )


async def get_semantic(store: StoreDep, settings: SettingsDep) -> SemanticMemory:
    """Semantic memory over the app's database with the shared embedder."""
    return SemanticMemory(store.db, await load_embedder(settings), settings.memory)


SemanticDep = Annotated[SemanticMemory, Depends(get_semantic)]


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


@router.get("/search", summary="Search your memories by meaning", operation_id="searchMemories")
async def search_memories(
    store: StoreDep,
    memory: SemanticDep,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="A question.")],
    k: Annotated[int, Query(ge=1, le=50, description="How many results.")] = 5,
) -> list[MemoryHit]:
    """Your memories closest in meaning to ``q``, best first."""
    hits = await memory.recall(user_id=store.user_id, query=q, k=k)
    return [MemoryHit(id=h.id, text=h.text, kind=h.kind, score=h.score) for h in hits]


@router.post(
    "",
    status_code=201,
    summary="Remember something",
    operation_id="createMemory",
    responses={404: {"description": "No such conversation."}},
)
async def create_memory(body: MemoryIn, store: StoreDep, memory: SemanticDep) -> MemoryOut:
    """Store a memory, tied to one of your conversations when ``conversation_id`` is given."""
    if body.conversation_id is not None:
        async with store.db.uow(readonly=True) as tx:
            await repo.get_conversation(
                tx, user_id=store.user_id, conversation_id=body.conversation_id
            )
    memory_id = await memory.remember(
        user_id=store.user_id, text=body.text, kind=body.kind, conversation_id=body.conversation_id
    )
    async with store.db.uow(readonly=True) as tx:
        row = await memory_repo.get_memory(tx, user_id=store.user_id, memory_id=memory_id)
    return _out(row)


@router.get(
    "/export",
    summary="Export your memories as JSONL",
    operation_id="exportMemories",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}}},
)
async def export_memories(store: StoreDep, memory: SemanticDep) -> StreamingResponse:
    """One JSON object per line: id, text, kind, model, embedding, created_at."""
    lines = [line async for line in export_lines(memory, user_id=store.user_id)]

    async def body() -> AsyncIterator[str]:
        for line in lines:
            yield line

    return StreamingResponse(body(), media_type=NDJSON)


@router.post(
    "/import",
    status_code=201,
    summary="Import memories from JSONL (all or nothing)",
    operation_id="importMemories",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                NDJSON: {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
    responses={422: {"description": "The file breaks a rule; nothing was imported."}},
)
async def import_memories(
    request: Request, store: StoreDep, memory: SemanticDep, settings: SettingsDep
) -> ImportOut:
    """Send the lines of an export as the body (``application/x-ndjson`` or ``text/plain``)."""
    limit = settings.memory.import_max_bytes
    with tempfile.TemporaryDirectory(prefix="vocable-import-") as tmp:
        path = Path(tmp) / "import.jsonl"
        size = 0
        with path.open("wb") as out:  # noqa: ASYNC230 - a local temp file, written chunk by chunk
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise StorageInputError(
                        f"the import is larger than {limit} bytes (memory.import_max_bytes)",
                        code="memory.import_too_large",
                    )
                out.write(chunk)
        report = await import_jsonl(memory, user_id=store.user_id, path=path)
    return ImportOut(imported=report.imported, embedded=report.embedded)


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
        await memory_repo.remove_memory(tx, user_id=store.user_id, memory_id=memory_id)
    return Response(status_code=204)
