"""JSONL import and export: round trip, and every bad input refused with its line number."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integration.memory_fixtures import mem_db, users
from vocable.config_sections import MemorySettings
from vocable.engines.embed.hashing import HashingEmbedder
from vocable.errors import StorageInputError
from vocable.memory.jsonl import (
    MemoryImportError,
    export_jsonl,
    import_jsonl,
    read_records,
)
from vocable.memory.semantic import SemanticMemory
from vocable.storage import Database

__all__ = ["mem_db"]

EMB = HashingEmbedder(dim=8)


def _memory(db: Database, **cfg: Any) -> SemanticMemory:
    return SemanticMemory(db, EMB, MemorySettings(**cfg))


def _write(path: Path, *lines: Any) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), "utf-8"
    )
    return path


def _read(data: bytes, **cfg: Any) -> list[Any]:
    return read_records(io.BytesIO(data), dim=8, model=EMB.model_name, cfg=MemorySettings(**cfg))


def _problems(data: bytes, **cfg: Any) -> list[str]:
    with pytest.raises(MemoryImportError) as caught:
        _read(data, **cfg)
    assert caught.value.code == "memory.invalid_import"
    return caught.value.problems


async def test_export_then_import_round_trips_text_kind_time_and_vectors(
    mem_db: Database, tmp_path: Path
) -> None:
    ann, bob = await users(mem_db, "ann", "bob")
    memory = _memory(mem_db)
    for i, text in enumerate(["one fact", "two: ünïcode ✓", "three"]):
        await memory.remember(user_id=ann, text=text, kind="note" if i else "fact")
    path = tmp_path / "out.jsonl"
    assert await export_jsonl(memory, user_id=ann, path=path) == 3
    lines = [json.loads(x) for x in path.read_text("utf-8").splitlines()]
    assert [x["text"] for x in lines] == ["one fact", "two: ünïcode ✓", "three"]
    assert all(len(x["embedding"]) == 8 and x["model"] == EMB.model_name for x in lines)
    report = await import_jsonl(memory, user_id=bob, path=path)
    assert (report.imported, report.embedded) == (3, 0)  # the vectors were reused
    bobs = await memory.items(user_id=bob)
    assert [(m.text, m.kind) for m in bobs] == [
        ("three", "note"),
        ("two: ünïcode ✓", "note"),
        ("one fact", "fact"),
    ]
    hits = await memory.recall(user_id=bob, query="three", k=1)
    assert hits[0].text == "three" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    again = tmp_path / "again.jsonl"
    await export_jsonl(memory, user_id=bob, path=again)
    theirs = [json.loads(x) for x in again.read_text("utf-8").splitlines()]
    assert [x["created_at"] for x in theirs] == [x["created_at"] for x in lines]
    np.testing.assert_allclose(
        [x["embedding"] for x in theirs], [x["embedding"] for x in lines], atol=1e-6
    )


async def test_vectors_of_another_model_or_none_are_recomputed(
    mem_db: Database, tmp_path: Path
) -> None:
    (ann,) = await users(mem_db, "ann")
    memory = _memory(mem_db)
    path = _write(
        tmp_path / "in.jsonl",
        {"id": 1, "text": "no vector"},
        {"id": 2, "text": "other model", "model": "other", "embedding": [1.0] * 8},
        {"id": "3", "text": "same model", "model": EMB.model_name, "embedding": [0.0] * 7 + [2]},
        "",
    )
    report = await import_jsonl(memory, user_id=ann, path=path)
    assert (report.imported, report.embedded) == (3, 2)
    top = await memory.recall(user_id=ann, query="other model", k=1)
    assert top[0].text == "other model" and top[0].score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            {"id": 1, "text": "x", "embedding": [0.1] * 7},
            "embedding has 7 values; the model makes 8",
        ),
        ('{"id": 1, "text": "x", "embedding": [NaN, 0, 0, 0, 0, 0, 0, 0]}', "NaN or infinite"),
        ('{"id": 1, "text": "x", "embedding": [Infinity, 0, 0, 0, 0, 0, 0, 0]}', "NaN or infinite"),
        ({"id": 1, "text": "x", "embedding": [1e300] + [0] * 7}, "too large for float32"),
        ({"id": 1, "text": "x", "embedding": [0] * 8}, "all zeros"),
        ({"id": 1, "text": "x", "embedding": ["a"] * 8}, "list of numbers"),
        ({"id": 1, "text": "x", "embedding": [True] * 8}, "list of numbers"),
        ({"id": 1, "text": ""}, "non-empty string"),
        ({"id": 1}, "non-empty string"),
        ({"id": True, "text": "x"}, "id must be"),
        ({"text": "x"}, "id must be"),
        ({"id": "", "text": "x"}, "1-64 characters"),
        ({"id": 1, "text": "x", "kind": "Bad Kind"}, "kind must be"),
        ({"id": 1, "text": "x", "model": 3}, "model must be a string"),
        ({"id": 1, "text": "x", "created_at": "yesterday"}, "ISO 8601"),
        ({"id": 1, "text": "x", "extra": 1}, "unknown fields ['extra']"),
        ({"id": 1, "text": "x\u0000y"}, "NUL"),
        ({"id": 1, "text": "x" * 51}, "the limit is 50"),
        ("[1, 2]", "expected a JSON object"),
        ('{"id": 1, "text": ', "not valid JSON"),
        (b"\xff\xfe{}".decode("latin-1"), "not valid JSON"),
    ],
)
def test_each_bad_line_is_named(line: Any, message: str) -> None:
    good = json.dumps({"id": 0, "text": "fine"})
    bad = line if isinstance(line, str) else json.dumps(line)
    data = (good + "\n" + bad + "\n").encode("latin-1" if "\xff" in bad else "utf-8")
    problems = _problems(data, max_text_chars=50)
    assert len(problems) == 1 and problems[0].startswith("line 2: ")
    assert message in problems[0]


def test_duplicate_ids_name_both_lines() -> None:
    data = b'{"id": 5, "text": "a"}\n{"id": 6, "text": "b"}\n{"id": 5, "text": "c"}\n'
    assert _problems(data) == ["line 3: duplicate id 5 (first on line 1)"]
    assert len(_read(b'{"id": 5, "text": "a"}\n{"id": "5", "text": "b"}\n')) == 2


def test_every_problem_is_listed_up_to_a_cap() -> None:
    data = b"".join(b'{"id": 1, "text": ""}\n' for _ in range(30))
    with pytest.raises(MemoryImportError) as caught:
        _read(data)
    assert len(caught.value.problems) == 20 and "(and 10 more)" in caught.value.message


def test_count_file_size_and_empty_file_limits() -> None:
    three = b"".join(json.dumps({"id": i, "text": "t"}).encode() + b"\n" for i in range(3))
    assert "more than 2 memories" in _problems(three, import_max_records=2)[0]
    assert "larger than 40 bytes" in _problems(three, import_max_bytes=40)[0]
    assert _problems(b"\n\n") == ["the file holds no memories"]


class _Endless(io.RawIOBase):
    """A stream of `size` bytes with no newline, made on demand; counts what was read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = b"a" * n
        self.left -= n
        self.read_bytes += n
        return n


def test_a_one_gigabyte_line_is_refused_after_reading_only_the_limit() -> None:
    stream = _Endless(1 << 30)
    tracemalloc.start()
    try:
        with pytest.raises(MemoryImportError) as caught:
            read_records(
                io.BufferedReader(stream, buffer_size=65536),
                dim=8,
                model=EMB.model_name,
                cfg=MemorySettings(import_max_line_bytes=4096),
            )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.problems == [
        "line 1: longer than 4096 bytes (memory.import_max_line_bytes); stopped reading"
    ]
    assert stream.read_bytes <= 4096 + 65536 and peak < 2_000_000


async def test_a_one_gigabyte_file_on_disk_imports_nothing(
    mem_db: Database, tmp_path: Path
) -> None:
    (ann,) = await users(mem_db, "ann")
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as f:  # sparse: 1 GiB of NUL bytes, no newline, no disk used
        f.write(b'{"id": 1, "text": "first"}\n')
        f.truncate(1 << 30)
    with pytest.raises(MemoryImportError, match="line 2: longer than"):
        await import_jsonl(_memory(mem_db), user_id=ann, path=path)
    assert await _memory(mem_db).items(user_id=ann) == []


async def test_a_bad_file_imports_nothing_even_when_the_database_refuses_a_row(
    mem_db: Database, tmp_path: Path
) -> None:
    (ann,) = await users(mem_db, "ann")
    memory = _memory(mem_db)
    await memory.remember(user_id=ann, text="already there")
    lines = [{"id": i, "text": f"fact {i}"} for i in range(5)]
    path = _write(tmp_path / "bad.jsonl", *lines[:4], '{"id": 9, "text": "lone \\ud800"}')
    with pytest.raises(StorageInputError, match="surrogate"):
        await import_jsonl(memory, user_id=ann, path=path)
    assert [m.text for m in await memory.items(user_id=ann)] == ["already there"]
    broken = _write(tmp_path / "broken.jsonl", *lines, {"id": 2, "text": "dup"})
    with pytest.raises(MemoryImportError, match="line 6: duplicate id 2"):
        await import_jsonl(memory, user_id=ann, path=broken)
    assert len(await memory.items(user_id=ann)) == 1
