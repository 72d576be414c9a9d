"""A scripted HTTP/1.1 server on 127.0.0.1 for the LLM engine tests, and checks of the harness.

`LoopbackServer` runs on ``asyncio.start_server``: real sockets, chunked responses, keep-alive.
It can stall, reset a connection mid-reply (the server going away), and tells when a client hung
up. The ``test_llm_*`` modules import it from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Self

import httpx
import pytest

from tests.integration.conftest import with_settings
from vocable.config import Settings


@dataclass
class Reply:
    """One scripted response. Each line is sent as its own chunk, with a newline appended."""

    status: int = 200
    lines: Sequence[str] = ()
    content_type: str = "application/x-ndjson"
    line_delay_s: float = 0.0
    stall_before_headers: bool = False
    stall_after: int | None = None
    """Send this many lines, then hold the connection open until the client hangs up."""
    abort_after: int | None = None
    """Send this many lines, then reset the connection (the server going away)."""


def ndjson(*objects: Any) -> Reply:
    return Reply(lines=[json.dumps(o) for o in objects])


def json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status=status, lines=[json.dumps(obj)], content_type="application/json")


@dataclass
class Request:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class LoopbackServer:
    """Scripted HTTP/1.1 server. Routes map (method, path) to replies used in turn; the last
    one repeats."""

    routes: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    hung_up_mid_reply: int = 0
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a client hangs up before its reply is complete."""
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, path: str, *replies: Reply) -> None:
        self.routes[(method, path)] = list(replies)

    def chat_requests(self, path: str = "/api/chat") -> list[Request]:
        return [r for r in self.requests if r.path == path]

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def abort_all(self) -> None:
        """Reset every open connection, as a crashed server would."""
        for writer in list(self._writers):
            writer.transport.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.abort_all()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _next_reply(self, method: str, path: str) -> Reply:
        replies = self.routes.get((method, path))
        if not replies:
            return json_reply({"error": f"no route {method} {path}"}, status=404)
        return replies.pop(0) if len(replies) > 1 else replies[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                method, path, _ = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    key, _, value = line.decode().partition(":")
                    headers[key.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                body = json.loads(raw) if raw else None
                self.requests.append(Request(method, path, body, headers))
                if not await self._send(self._next_reply(method, path), reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _send(
        self, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Send `reply`; False when the connection is finished."""
        if reply.stall_before_headers:
            await self._until_hang_up(reader)
            return False
        phrase = HTTPStatus(reply.status).phrase
        writer.write(
            f"HTTP/1.1 {reply.status} {phrase}\r\nContent-Type: {reply.content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        for index in range(len(reply.lines) + 1):
            if reply.abort_after == index:
                await writer.drain()
                writer.transport.abort()
                return False
            if reply.stall_after == index:
                await writer.drain()
                await self._until_hang_up(reader)
                return False
            if index == len(reply.lines):
                break
            if reply.line_delay_s:
                await asyncio.sleep(reply.line_delay_s)
            data = (reply.lines[index] + "\n").encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            try:
                await writer.drain()
            except ConnectionError:
                self._hang_up()
                return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _until_hang_up(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(1024):
                pass
        self._hang_up()

    def _hang_up(self) -> None:
        self.hung_up_mid_reply += 1
        self.hung_up.set()


def ollama_server(*chat: Reply, model: str = "llama3.2:latest") -> LoopbackServer:
    """A loopback server that answers Ollama's version and tags, and `chat` in turn."""
    server = LoopbackServer()
    server.route("GET", "/api/version", json_reply({"version": "0.9.0"}))
    server.route("GET", "/api/tags", json_reply({"models": [{"name": model, "model": model}]}))
    server.route("POST", "/api/chat", *chat)
    return server


def ollama_settings(settings: Settings, server: LoopbackServer, **llm: Any) -> Settings:
    fast = {"http_retry_backoff_s": 0.01, "http_read_timeout_s": 5.0, "ollama_url": server.url}
    return with_settings(settings, llm={**fast, **llm})


def piece(text: str, done: bool = False) -> dict[str, Any]:
    return {"model": "llama3.2", "message": {"role": "assistant", "content": text}, "done": done}


TEXT = ndjson(piece("Hello"), piece(" there"), piece(".", done=False), piece("", done=True))


def open_fds() -> tuple[int, int]:
    """(file descriptors, of which sockets) open in this process."""
    fds = os.listdir("/proc/self/fd")
    sockets = 0
    for fd in fds:
        with contextlib.suppress(OSError):
            sockets += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return len(fds), sockets


async def settle(baseline: tuple[int, int], timeout_s: float = 3.0) -> tuple[int, int]:
    """Poll until the open descriptors are back to `baseline` (or time is up)."""
    deadline = time.monotonic() + timeout_s
    while (now := open_fds()) != baseline and time.monotonic() < deadline:  # noqa: ASYNC110 - /proc has no event to wait on
        await asyncio.sleep(0.02)
    return now


async def test_the_harness_keeps_connections_alive_and_sees_hang_ups() -> None:
    async with LoopbackServer() as server:
        server.route("GET", "/a", json_reply({"n": 1}), json_reply({"n": 2}))
        server.route("POST", "/stream", Reply(lines=["one", "two"], stall_after=1))
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/a")).json() == {"n": 1}
            assert (await client.get("/a")).json() == {"n": 2}
            assert (await client.get("/a")).json() == {"n": 2}  # the last reply repeats
            async with client.stream("POST", "/stream", json={"x": 1}) as response:
                lines = response.aiter_lines()
                assert await anext(lines) == "one"
            await asyncio.wait_for(server.hung_up.wait(), timeout=2)
            assert (await client.get("/missing")).status_code == 404
    assert server.connections == 2 and server.hung_up_mid_reply == 1
    assert [r.body for r in server.requests if r.method == "POST"] == [{"x": 1}]


async def test_the_harness_can_reset_a_connection_mid_reply() -> None:
    async with LoopbackServer() as server:
        server.route("GET", "/cut", Reply(lines=["one", "two"], abort_after=1))
        async with httpx.AsyncClient(base_url=server.url) as client:
            with pytest.raises(httpx.TransportError):
                async with client.stream("GET", "/cut") as response:
                    [line async for line in response.aiter_lines()]
