"""`authenticate_websocket` on a real server: header, key, ticket, first message, timeout."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketState
from websockets.exceptions import ConnectionClosed

from tests.authhelp import bearer, sign_up
from tests.security.helpers import fake_assistant, serving, with_overrides
from vocable.api.app import create_app
from vocable.api.auth import POLICY_VIOLATION, authenticate_websocket
from vocable.config import Settings


async def whoami(websocket: WebSocket) -> None:
    principal = await authenticate_websocket(websocket)
    if principal is None:
        return
    if websocket.client_state != WebSocketState.CONNECTED:
        await websocket.accept()
    await websocket.send_text(json.dumps({"user": principal.name, "via": principal.via}))
    await websocket.close()


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[tuple[str, dict[str, Any], str]]:
    quick = with_overrides(settings, auth={"ws_auth_timeout_s": 0.5})
    app: FastAPI = create_app(quick, assistant=fake_assistant(quick))
    app.add_api_websocket_route("/test/whoami", whoami)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as c:
        tokens = await sign_up(c, "ann")
        key = (await c.post("/v1/keys", json={"name": "ws"}, headers=bearer(tokens))).json()["key"]
        yield base.replace("http://", "ws://") + "/test/whoami", tokens, key


async def _closed_code(url: str, first: str | None = None, **kw: Any) -> int:
    async with websockets.connect(url, **kw) as ws:
        if first is not None:
            await ws.send(first)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def _who(url: str, first: str | None = None, **kw: Any) -> dict[str, Any]:
    async with websockets.connect(url, **kw) as ws:
        if first is not None:
            await ws.send(first)
        return dict(json.loads(await ws.recv()))


async def test_unauthenticated_sockets_are_closed_with_1008(server: Any) -> None:
    url, tokens, key = server
    assert await _closed_code(url, "hello") == POLICY_VIOLATION
    assert await _closed_code(url, json.dumps({"type": "auth", "token": "vk_bad"})) == 1008
    assert await _closed_code(url + "?api_key=vk_bad") == POLICY_VIOLATION
    forged = tokens["refresh_token"]  # a refresh token is not a socket credential
    assert await _closed_code(url, additional_headers=bearer(forged)) == POLICY_VIOLATION


async def test_the_first_message_timeout_is_enforced(server: Any) -> None:
    url, _, _ = server
    started = time.monotonic()
    assert await _closed_code(url) == POLICY_VIOLATION  # says nothing
    assert 0.4 <= time.monotonic() - started < 3


async def test_valid_credentials_open_the_socket(server: Any) -> None:
    url, tokens, key = server
    assert (await _who(url, additional_headers=bearer(key)))["via"] == "api_key"
    assert (await _who(url, additional_headers=bearer(tokens)))["user"] == "ann"
    assert (await _who(f"{url}?api_key={key}"))["via"] == "api_key"
    first = json.dumps({"type": "auth", "token": tokens["access_token"]})
    assert (await _who(url, first))["user"] == "ann"
    base = url.replace("ws://", "http://").removesuffix("/test/whoami")
    async with httpx.AsyncClient(base_url=base) as c:
        ticket = (await c.post("/v1/auth/ws-ticket", headers=bearer(tokens))).json()["ticket"]
    assert (await _who(f"{url}?ticket={ticket}"))["user"] == "ann"
