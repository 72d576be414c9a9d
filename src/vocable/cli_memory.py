"""``vocable memory …``: add, search, list, remove, import and export long-term memories.

Every command acts for the local user, or for ``--user NAME`` (an account of ``vocable users``).
Listings and searches take ``--json`` (one JSON object on stdout).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from vocable.cli_common import JsonFlag, emit_json, progress, run_command, run_for_user
from vocable.config import Settings
from vocable.errors import StorageInputError

if TYPE_CHECKING:
    from vocable.memory.semantic import SemanticMemory
    from vocable.storage.db import Database

T = TypeVar("T")

memory_app = typer.Typer(
    help="Long-term memory: facts and notes found again by meaning.", no_args_is_help=True
)

UserOption = Annotated[
    str | None,
    typer.Option("--user", help="Whose memories (an account name); default: the local user."),
]


async def open_memory(settings: Settings, db: Database) -> SemanticMemory:
    """Semantic memory over `db` with the configured embedder (loaded now; close it after)."""
    from vocable.engines.embed import CachedEmbedder, load_uncached
    from vocable.memory.semantic import SemanticMemory

    progress(f"loading the {settings.memory.embed_engine} embedder…")
    embedder = CachedEmbedder(await load_uncached(settings), settings.memory.embed_cache_size)
    return SemanticMemory(db, embedder, settings.memory)


def _with_memory(
    use: Callable[[SemanticMemory, int], Coroutine[Any, Any, T]],
) -> Callable[[Settings, Database, int], Coroutine[Any, Any, T]]:
    async def work(settings: Settings, db: Database, user_id: int) -> T:
        memory = await open_memory(settings, db)
        try:
            return await use(memory, user_id)
        finally:
            await memory.embedder.close()

    return work


def _show(items: list[dict[str, Any]], *, scored: bool) -> None:
    if not items:
        typer.echo("no memories")
    for item in items:
        score = f"{item['score']:.2f}  " if scored else ""
        typer.echo(f"{item['id']:>6}  {score}[{item['kind']}] {item['text']}")


@memory_app.command("add")
def add(
    text: Annotated[str, typer.Argument(help="What to remember.")],
    kind: Annotated[str, typer.Option(help="fact, note, preference…")] = "fact",
    as_json: JsonFlag = False,
    user: UserOption = None,
) -> None:
    """Remember a fact or a note."""

    async def use(memory: SemanticMemory, user_id: int) -> int:
        return await memory.remember(user_id=user_id, text=text, kind=kind)

    memory_id = run_for_user(_with_memory(use), user)
    if as_json:
        emit_json({"id": memory_id, "text": text.strip(), "kind": kind})
    else:
        typer.echo(f"remembered #{memory_id}")


@memory_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="A question or a few words.")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="How many results.")] = 5,
    as_json: JsonFlag = False,
    user: UserOption = None,
) -> None:
    """Find the memories closest in meaning to QUERY, best first."""

    async def use(memory: SemanticMemory, user_id: int) -> dict[str, Any]:
        hits = await memory.recall(user_id=user_id, query=query, k=k)
        return {
            "query": query,
            "vector_search": await memory.vector_path(),
            "model": memory.embedder.model_name,
            "results": [asdict(h) for h in hits],
        }

    found = run_for_user(_with_memory(use), user)
    if as_json:
        emit_json(found)
    else:
        _show(found["results"], scored=True)


@memory_app.command("list")
def list_memories(
    limit: Annotated[int, typer.Option(min=1, help="Newest N.")] = 100,
    as_json: JsonFlag = False,
    user: UserOption = None,
) -> None:
    """List memories, newest first."""
    from vocable.storage.repo import memories as repo

    async def work(settings: Settings, db: Database, user_id: int) -> list[dict[str, Any]]:
        async with db.uow(readonly=True) as tx:
            rows = await repo.memories_page(tx, user_id=user_id, limit=limit)
        return [
            {
                "id": r.id,
                "text": r.text,
                "kind": r.kind,
                "model": r.embed_model,
                "created_at": r.created_at.isoformat(),
            }
            for r in rows
        ]

    items = run_for_user(work, user)
    if as_json:
        emit_json({"memories": items, "n": len(items)})
    else:
        _show(items, scored=False)


@memory_app.command("rm")
def remove(
    memory_id: Annotated[int, typer.Argument(help="The id shown by list or search.")],
    user: UserOption = None,
) -> None:
    """Forget one memory."""
    from vocable.storage.repo import memories as repo

    async def work(settings: Settings, db: Database, user_id: int) -> None:
        async with db.uow() as tx:
            await repo.remove_memory(tx, user_id=user_id, memory_id=memory_id)

    run_for_user(work, user)
    typer.echo(f"forgot #{memory_id}")


@memory_app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="A JSONL file, as written by export.")],
    as_json: JsonFlag = False,
    user: UserOption = None,
) -> None:
    """Import memories from JSONL: all of them, or none if any line is bad."""
    from vocable.memory.jsonl import import_jsonl

    async def use(memory: SemanticMemory, user_id: int) -> dict[str, int]:
        if not path.is_file():
            raise StorageInputError(f"no file at {path}", code="memory.import_missing")
        report = await import_jsonl(memory, user_id=user_id, path=path)
        return {"imported": report.imported, "embedded": report.embedded}

    done = run_for_user(_with_memory(use), user)
    if as_json:
        emit_json(done)
    else:
        typer.echo(f"imported {done['imported']} memories ({done['embedded']} embedded)")


@memory_app.command("export")
def export_file(
    path: Annotated[Path, typer.Argument(help="Where to write the JSONL; - for stdout.")],
    user: UserOption = None,
) -> None:
    """Export memories as JSONL (text, kind, time, vector and its model)."""
    from vocable.memory.jsonl import export_jsonl, export_lines

    async def use(memory: SemanticMemory, user_id: int) -> int:
        if str(path) == "-":
            count = 0
            async for line in export_lines(memory, user_id=user_id):
                sys.stdout.write(line)
                count += 1
            return count
        return await export_jsonl(memory, user_id=user_id, path=path)

    count = run_for_user(_with_memory(use), user)
    progress(f"exported {count} memories")


def bench_memory(
    facts: Annotated[int, typer.Option(min=10, help="Generated facts.")] = 200,
    questions: Annotated[int, typer.Option(min=1, help="Paraphrased questions.")] = 50,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Recall@k, retrieval p50/p95 (cache cold and warm), LRU hit rate, embeddings per second."""
    from vocable.bench.memory import run_memory_bench, summary_line

    async def work(settings: Settings) -> dict[str, Any]:
        return await run_memory_bench(
            settings, n_facts=facts, n_questions=questions, seed=seed, progress=progress
        )

    result = run_command(work)
    if as_json:
        emit_json(result)
    else:
        typer.echo(summary_line(result))
