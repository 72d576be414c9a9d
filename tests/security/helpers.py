"""Helpers for the security suite: fake engines, settings overrides, two accounts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import uvicorn

from tests.authhelp import bearer, sign_up
from tests.fakes import FakeLLM, FakeSTT, FakeTTS, ThresholdVAD
from vocable.assistant import Assistant
from vocable.config import Settings
from vocable.engines.loader import Engines

AppClient = Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


def fake_assistant(settings: Settings) -> Assistant:
    """An assistant over recording fakes."""
    engines = Engines(
        vad=ThresholdVAD(),
        stt=FakeSTT("what time is it"),
        llm=FakeLLM(["It is ", "noon."]),
        tts=FakeTTS(),  # type: ignore[arg-type]
    )
    return Assistant(settings, engines)


def with_overrides(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """A copy of `settings` with some fields of some sections changed."""
    update: dict[str, Any] = {}
    for name, fields in sections.items():
        current = getattr(settings, name)
        update[name] = type(current).model_validate({**current.model_dump(), **fields})
    return settings.model_copy(update=update)


async def admin_and_user(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ann (the first user, admin) and Bob (invited by Ann); their token responses."""
    ann = await sign_up(client, "ann")
    r = await client.post("/v1/auth/invites", json={"username": "bob"}, headers=bearer(ann))
    assert r.status_code == 201, r.text
    bob = await sign_up(client, "bob", invite=r.json()["invite"])
    return ann, bob


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yields the base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "server failed to start"
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
