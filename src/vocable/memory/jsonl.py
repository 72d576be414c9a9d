"""Memory export and import as JSON Lines, one memory per line.

A line is an object with ``id`` (unique in the file), ``text``, and optionally ``kind``,
``model``, ``embedding`` (a list of floats) and ``created_at`` (ISO 8601)::

    {"id": 7, "text": "Ann's sister is Bea.", "kind": "fact", "model": "all-MiniLM-L6-v2",
     "embedding": [0.01, ...], "created_at": "2026-11-24T10:00:00+00:00"}

An import is checked whole before anything is written: the schema, the vector dimension
against the current embedder, finite values, the file size, each line's size (an over-long
line is refused after reading only the limit), the record count and duplicate ids. Every
problem names its line. Then everything is written in one transaction: a bad file imports
nothing. A vector from another model is validated, then replaced by one from the current model.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from vocable.config_sections import MemorySettings
from vocable.engines.embed.base import TextEmbedder, as_bytes, from_bytes, normalise
from vocable.errors import StorageInputError
from vocable.memory.semantic import SemanticMemory
from vocable.storage.repo import memories as repo

FIELDS = {"id", "text", "kind", "model", "embedding", "created_at"}
KIND = re.compile(r"^[a-z_]{1,32}$")
MAX_PROBLEMS = 20
"""Problems listed in one error before the rest are counted."""
PAGE = 500

Vector = npt.NDArray[np.float32]


class MemoryImportError(StorageInputError):
    """An import file that breaks the rules; `problems` names each line at fault."""

    default_code = "memory.invalid_import"

    def __init__(self, problems: list[str], total: int | None = None) -> None:
        self.problems = problems
        more = (total or len(problems)) - len(problems)
        tail = f" (and {more} more)" if more > 0 else ""
        super().__init__(
            "the import file is invalid, nothing was imported: " + "; ".join(problems) + tail
        )


@dataclass(frozen=True, slots=True)
class Record:
    """One validated line."""

    line: int
    text: str
    kind: str
    vector: Vector | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: memories written, and how many vectors were computed."""

    imported: int
    embedded: int


def _lines(
    stream: IO[bytes], cfg: MemorySettings, problems: list[str]
) -> Iterator[tuple[int, bytes]]:
    """Numbered lines, never reading more than the line limit past a line start."""
    total = 0
    number = 0
    limit = cfg.import_max_line_bytes
    while True:
        raw = stream.readline(limit + 1)
        if not raw:
            return
        number += 1
        total += len(raw)
        if total > cfg.import_max_bytes:
            problems.append(
                f"the file is larger than {cfg.import_max_bytes} bytes"
                f" (memory.import_max_bytes); stopped at line {number}"
            )
            return
        if len(raw) > limit and not raw.endswith(b"\n"):
            problems.append(
                f"line {number}: longer than {limit} bytes"
                " (memory.import_max_line_bytes); stopped reading"
            )
            return
        yield number, raw


def _check_id(where: str, key: object) -> int | str:
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise ValueError(f"{where}: id must be an integer or a string")
    if isinstance(key, str) and not 0 < len(key) <= 64:
        raise ValueError(f"{where}: a string id has 1-64 characters")
    return key


def _check_text(where: str, text: object, cfg: MemorySettings) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: text must be a non-empty string")
    if len(text) > cfg.max_text_chars:
        raise ValueError(
            f"{where}: text has {len(text)} characters; the limit is {cfg.max_text_chars}"
        )
    if "\x00" in text:
        raise ValueError(f"{where}: text contains a NUL character")
    return text.strip()


def _check_time(where: str, value: object) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: created_at is not an ISO 8601 time") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _check_vector(where: str, values: object, dim: int) -> Vector | None:
    if values is None:
        return None
    if not isinstance(values, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"{where}: embedding must be a list of numbers")
    if len(values) != dim:
        raise ValueError(f"{where}: embedding has {len(values)} values; the model makes {dim}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{where}: embedding holds NaN or infinite values")
    with np.errstate(over="ignore", invalid="ignore"):
        vector: Vector = normalise(np.asarray(values, dtype=np.float32))[0]
    if not np.all(np.isfinite(vector)) or not np.any(vector):
        raise ValueError(f"{where}: embedding is all zeros or too large for float32")
    return vector


def parse_line(
    number: int, raw: bytes, *, dim: int, model: str, cfg: MemorySettings
) -> tuple[int | str, Record]:
    """Validate one line; returns its id and record. A ValueError names the line."""
    where = f"line {number}"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{where}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown fields {unknown}; allowed: {sorted(FIELDS)}")
    key = _check_id(where, data.get("id"))
    text = _check_text(where, data.get("text"), cfg)
    kind = data.get("kind", "fact")
    if not isinstance(kind, str) or not KIND.match(kind):
        raise ValueError(f"{where}: kind must be 1-32 lowercase letters or underscores")
    source = data.get("model")
    if source is not None and not isinstance(source, str):
        raise ValueError(f"{where}: model must be a string")
    vector = _check_vector(where, data.get("embedding"), dim)
    keep = vector if source == model else None  # another model's vector is recomputed
    return key, Record(number, text, kind, keep, _check_time(where, data.get("created_at")))


def read_records(stream: IO[bytes], *, dim: int, model: str, cfg: MemorySettings) -> list[Record]:
    """Every record of `stream`, validated (blocking: run it in a thread).

    Raises:
        MemoryImportError: any problem; all problems found are listed, with line numbers.
    """
    problems: list[str] = []
    count = 0
    seen: dict[int | str, int] = {}
    records: list[Record] = []
    for number, raw in _lines(stream, cfg, problems):
        if not raw.strip():
            continue
        count += 1
        if count > cfg.import_max_records:
            problems.append(
                f"line {number}: more than {cfg.import_max_records} memories"
                " (memory.import_max_records)"
            )
            break
        try:
            key, record = parse_line(number, raw, dim=dim, model=model, cfg=cfg)
        except ValueError as err:
            problems.append(str(err))
            continue
        if key in seen:
            problems.append(f"line {number}: duplicate id {key!r} (first on line {seen[key]})")
            continue
        seen[key] = number
        records.append(record)
    if not problems and not records:
        problems.append("the file holds no memories")
    if problems:
        raise MemoryImportError(problems[:MAX_PROBLEMS], total=len(problems))
    return records


async def import_jsonl(memory: SemanticMemory, *, user_id: int, path: Path) -> ImportReport:
    """Validate the JSONL file at `path` and add all its memories for `user_id`, or none.

    Raises:
        MemoryImportError: the file breaks a rule (nothing is written).
        StorageError: the database failed (nothing is written).
    """
    embedder = memory.embedder

    def read() -> list[Record]:
        with path.open("rb") as stream:
            return read_records(
                stream, dim=embedder.dim, model=embedder.model_name, cfg=memory.settings
            )

    records = await asyncio.to_thread(read)
    return await import_records(memory, user_id=user_id, records=records)


async def import_records(
    memory: SemanticMemory, *, user_id: int, records: list[Record]
) -> ImportReport:
    """Write validated records in one transaction, embedding those without a usable vector."""
    embedder: TextEmbedder = memory.embedder
    missing = [i for i, r in enumerate(records) if r.vector is None]
    vectors: dict[int, Vector] = {
        i: r.vector for i, r in enumerate(records) if r.vector is not None
    }
    for start in range(0, len(missing), 256):
        batch = missing[start : start + 256]
        for i, vector in zip(
            batch, await embedder.embed([records[i].text for i in batch]), strict=True
        ):
            vectors[i] = vector
    async with memory.db.uow() as tx:
        for i, record in enumerate(records):
            row = await repo.create_memory(
                tx,
                user_id=user_id,
                text=record.text,
                kind=record.kind,
                embedding=as_bytes(vectors[i]),
                embed_model=embedder.model_name,
            )
            if record.created_at is not None:
                row.created_at = record.created_at
            await memory.search.stored(tx, user_id=user_id, memory_id=row.id, vector=vectors[i])
        await tx.flush()
    return ImportReport(imported=len(records), embedded=len(missing))


async def export_lines(memory: SemanticMemory, *, user_id: int) -> AsyncIterator[str]:
    """The memories of `user_id` as JSONL lines (with newline), oldest first."""
    model = memory.embedder.model_name
    await memory.reindex(user_id=user_id)
    async with memory.db.uow(readonly=True) as tx:
        rows = []
        before: int | None = None
        while True:
            page = await repo.memories_page(tx, user_id=user_id, limit=PAGE, before_id=before)
            rows += page
            if len(page) < PAGE:
                break
            before = page[-1].id
    for row in reversed(rows):
        item: dict[str, Any] = {
            "id": row.id,
            "text": row.text,
            "kind": row.kind,
            "model": row.embed_model or model,
            "created_at": row.created_at.isoformat(),
        }
        if row.embedding is not None:
            item["embedding"] = [round(float(x), 7) for x in from_bytes(row.embedding)]
        yield json.dumps(item, ensure_ascii=False) + "\n"


async def export_jsonl(memory: SemanticMemory, *, user_id: int, path: Path) -> int:
    """Write the memories of `user_id` to `path`; returns how many."""
    lines = [line async for line in export_lines(memory, user_id=user_id)]
    await asyncio.to_thread(path.write_text, "".join(lines), "utf-8")
    return len(lines)
