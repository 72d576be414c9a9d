"""``/v1/memories``: created with embeddings, searched by meaning, exported and imported."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.authhelp import bearer
from tests.security.helpers import admin_and_user, fake_assistant, with_overrides
from vocable.api.app import create_app
from vocable.config import Settings
from vocable.engines.embed import close_embedders

NDJSON = {"content-type": "application/x-ndjson"}


@dataclass
class Api:
    c: httpx.AsyncClient
    a: dict[str, str]
    b: dict[str, str]


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    settings = with_overrides(
        settings, memory={"embed_engine": "hashing", "import_max_bytes": 2000}
    )
    app = create_app(settings, assistant=fake_assistant(settings))
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as c,
        ):
            ann, bob = await admin_and_user(c)
            yield Api(c, bearer(ann), bearer(bob))
    finally:
        await close_embedders()


async def _add(api: Api, text: str, headers: dict[str, str]) -> int:
    made = await api.c.post("/v1/memories", json={"text": text}, headers=headers)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def test_search_ranks_your_memories_and_only_yours(api: Api) -> None:
    key = await _add(api, "the spare key is under the blue flower pot", api.a)
    await _add(api, "dinner with bea on friday", api.a)
    await _add(api, "bob's spare key is at the neighbours", api.b)
    found = await api.c.get("/v1/memories/search", params={"q": "spare key", "k": 5}, headers=api.a)
    assert found.status_code == 200
    hits = found.json()
    assert hits[0]["id"] == key and len(hits) == 2
    assert hits[0]["score"] > hits[1]["score"]
    theirs = await api.c.get("/v1/memories/search", params={"q": "spare key"}, headers=api.b)
    assert [h["text"] for h in theirs.json()] == ["bob's spare key is at the neighbours"]
    empty = await api.c.get("/v1/memories/search", params={"q": ""}, headers=api.a)
    assert empty.status_code == 422
    assert (await api.c.get("/v1/memories/search", params={"q": "x"})).status_code == 401


async def test_export_then_import_into_another_account(api: Api) -> None:
    for text in ("one", "two", "three"):
        await _add(api, text, api.a)
    exported = await api.c.get("/v1/memories/export", headers=api.a)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = exported.text.splitlines()
    assert [json.loads(x)["text"] for x in lines] == ["one", "two", "three"]
    assert (await api.c.get("/v1/memories/export", headers=api.b)).text == ""
    small = "\n".join(
        json.dumps({k: v for k, v in json.loads(x).items() if k != "embedding"}) for x in lines
    )
    done = await api.c.post("/v1/memories/import", content=small, headers={**api.b, **NDJSON})
    assert done.status_code == 201, done.text
    assert done.json() == {"imported": 3, "embedded": 3}
    listed = await api.c.get("/v1/memories", headers=api.b)
    assert [m["text"] for m in listed.json()] == ["three", "two", "one"]


async def test_a_bad_or_oversized_import_writes_nothing(api: Api) -> None:
    bad = '{"id": 1, "text": "fine"}\n{"id": 2, "text": "x", "embedding": [1, 2]}\n'
    refused = await api.c.post("/v1/memories/import", content=bad, headers={**api.a, **NDJSON})
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["code"] == "memory.invalid_import"
    assert "line 2: embedding has 2 values; the model makes 384" in problem["detail"]
    huge = "".join(json.dumps({"id": i, "text": "t" * 50}) + "\n" for i in range(60))
    too_big = await api.c.post("/v1/memories/import", content=huge, headers={**api.a, **NDJSON})
    assert too_big.status_code == 422 and too_big.json()["code"] == "memory.import_too_large"
    assert (await api.c.get("/v1/memories", headers=api.a)).json() == []
