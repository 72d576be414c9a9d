"""User B gets 404 for each of user A's resources, over every route that takes an id.

The cases come from the app's route table: a new route with an id parameter (in the path or the
query) fails `test_every_id_route_is_covered` until it has a factory below.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.authhelp import bearer
from tests.security.helpers import admin_and_user, fake_assistant
from tests.unit.test_api import question_wav
from tests.unit.test_voices_default import add_profile
from vocable.api.app import create_app
from vocable.config import Settings

_PARAM = re.compile(r"{(\w+)}")


def _body_id_fields(schema: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {})
    body = content.get("application/json", {}).get("schema", {})
    if "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return [name for name in body.get("properties", {}) if name.endswith("_id")]


def id_routes(settings: Settings) -> list[tuple[str, str, list[str]]]:
    """(method, path, id parameters) for every /v1 route that takes an id: path, query or body.

    Read from the app's OpenAPI document, which lists every HTTP route of the route table. Body
    ids are marked ``body:<name>``.
    """
    app = create_app(settings, assistant=fake_assistant(settings))
    schema = app.openapi()
    found = []
    for path, operations in schema["paths"].items():
        if not path.startswith("/v1"):
            continue
        for method, operation in operations.items():
            names = _PARAM.findall(path) + [
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "query" and p["name"].endswith("_id")
            ]
            names += [f"body:{n}" for n in _body_id_fields(schema, operation)]
            if names:
                found.append((method.upper(), path, names))
    return found


@dataclass
class World:
    client: httpx.AsyncClient
    a: dict[str, str]
    b: dict[str, str]
    ids: dict[str, str]


async def _a_resources(c: httpx.AsyncClient, a: dict[str, str]) -> dict[str, str]:
    turn = await c.post(
        "/v1/turns", files={"file": ("q.wav", question_wav(), "audio/wav")}, headers=a
    )
    assert turn.status_code == 200, turn.text
    key = await c.post("/v1/keys", json={"name": "a-key"}, headers=a)
    assert key.status_code == 201
    conversation_id = turn.json()["conversation_id"]
    memory = await c.post(
        "/v1/memories", json={"text": "a-secret", "conversation_id": conversation_id}, headers=a
    )
    assert memory.status_code == 201, memory.text
    return {
        "conversation_id": str(conversation_id),
        "turn_id": turn.json()["id"],
        "key_id": str(key.json()["id"]),
        "memory_id": str(memory.json()["id"]),
    }


BODY_TEMPLATES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/memories"): {"text": "b's note"},
}
"""Valid JSON bodies, without their ids, of the routes that take an id in the body."""
JSON_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/v1/voices/{name}"): {"name": "b-took-it"},
}
"""Valid JSON bodies of id routes that need one (so the id, not the body, decides the 404)."""
VOICE = "a-voice"


def _request_body(method: str, path: str, body_ids: dict[str, int]) -> dict[str, Any]:
    if path == "/v1/turns" and method == "POST":
        return {"content": question_wav(), "headers": {"content-type": "audio/wav"}}
    if (method, path) in JSON_BODIES:
        return {"json": JSON_BODIES[(method, path)]}
    if body_ids:
        return {"json": {**BODY_TEMPLATES[(method, path)], **body_ids}}
    return {}


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    app = create_app(settings, assistant=fake_assistant(settings))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        ann, bob = await admin_and_user(c)
        a, b = bearer(ann), bearer(bob)
        ids = await _a_resources(c, a)
        a_id = int((await c.get("/v1/auth/me", headers=a)).json()["id"])
        await add_profile(app.state.db, settings.data_dir, a_id, VOICE)
        assert (await c.put(f"/v1/voices/{VOICE}/default", headers=a)).status_code == 200
        yield World(c, a, b, {**ids, "name": VOICE})


def test_every_id_route_is_covered(settings: Settings) -> None:
    routes = id_routes(settings)
    assert routes, "the route table has routes with ids"
    known = {"conversation_id", "turn_id", "key_id", "memory_id", "name"}
    missing = {
        (m, p, n) for m, p, names in routes for n in names if n.removeprefix("body:") not in known
    }
    assert not missing, f"add an id factory in this file for {missing}"
    no_body = {(m, p) for m, p, names in routes if any(n.startswith("body:") for n in names)} - set(
        BODY_TEMPLATES
    )
    assert not no_body, f"add a body template in this file for {no_body}"


async def test_b_gets_404_on_every_route_with_a_s_ids(world: World, settings: Settings) -> None:
    c = world.client
    checked = []
    for method, path, names in id_routes(settings):
        url = path
        params: dict[str, str] = {}
        body_ids: dict[str, int] = {}
        for name in names:
            if name.startswith("body:"):
                body_ids[name[5:]] = int(world.ids[name[5:]])
            elif "{" + name + "}" in url:
                url = url.replace("{" + name + "}", world.ids[name])
            else:
                params[name] = world.ids[name]
        extra = _request_body(method, path, body_ids)
        headers = {**world.b, **extra.pop("headers", {})}
        r = await c.request(method, url, params=params, headers=headers, **extra)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert "noon" not in r.text and "a-key" not in r.text and "a-secret" not in r.text
        assert "similarity" not in r.text
        checked.append((method, path))
    assert ("GET", "/v1/conversations/{conversation_id}") in checked
    assert ("DELETE", "/v1/keys/{key_id}") in checked
    assert {("POST", "/v1/memories"), ("GET", "/v1/memories")} <= set(checked)
    # and nothing of A's was touched
    conv = await c.get(f"/v1/conversations/{world.ids['conversation_id']}", headers=world.a)
    assert conv.status_code == 200 and conv.json()["turn_count"] == 1
    keys = (await c.get("/v1/keys", headers=world.a)).json()
    assert [k["revoked_at"] for k in keys] == [None]
    audio = await c.get(f"/v1/turns/{world.ids['turn_id']}/audio", headers=world.a)
    assert audio.status_code == 200
    memories = (await c.get("/v1/memories", headers=world.a)).json()
    assert [m["text"] for m in memories] == ["a-secret"]
    assert (await c.get("/v1/memories", headers=world.b)).json() == []
    assert {("GET", "/v1/voices/{name}"), ("POST", "/v1/voices/{name}/preview")} <= set(checked)
    assert {("PATCH", "/v1/voices/{name}"), ("DELETE", "/v1/voices/{name}")} <= set(checked)
    assert ("PUT", "/v1/voices/{name}/default") in checked
    voices = (await c.get("/v1/voices", headers=world.a)).json()
    assert [(v["name"], v["default"], v["similarity"]) for v in voices] == [(VOICE, True, 0.81)]


async def test_lists_show_only_your_own(world: World) -> None:
    c = world.client
    assert (await c.get("/v1/conversations", headers=world.b)).json() == []
    assert (await c.get("/v1/keys", headers=world.b)).json() == []
    assert (await c.get("/v1/voices", headers=world.b)).json() == []
    assert len((await c.get("/v1/conversations", headers=world.a)).json()) == 1
