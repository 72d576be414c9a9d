"""The bench's `vocable serve` processes on loopback, and the figures they report of themselves.

`serving` starts one and waits for it to be ready; `server_turn` and `server_stages` read its own
waterfall from ``GET /v1/metrics`` (each stage from the end of the user's speech, as the
server's VAD placed it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from vocable.bench.stats import distribution
from vocable.errors import EngineError, EngineTimeoutError

_SERVERS: dict[str, subprocess.Popen[bytes]] = {}
"""The running bench servers, by realtime URL."""


async def dump_server(url: str) -> None:
    """Have the server at `url` print its threads' stacks and asyncio tasks to its log."""
    proc = _SERVERS.get(url)
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGUSR1)
        await asyncio.sleep(1.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(data_dir: Path, env: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """A `vocable serve` process on loopback; yields its realtime URL and its /health body.

    Its output goes to ``<data_dir>.log``. A reply that never comes (`TimeoutError` inside the
    block) becomes an `EngineTimeoutError` carrying that log and every server thread's stack.

    Raises:
        EngineError: the server did not become ready (``bench.server_failed``).
        EngineTimeoutError: a reply did not come in time (``bench.no_reply``).
    """
    port = _free_port()
    url = f"ws://127.0.0.1:{port}/v1/realtime"
    # A single-user server on loopback: the bench measures speech, not sign-in.
    full_env = {
        **os.environ,
        **env,
        "VOCABLE_DATA_DIR": str(data_dir),
        "VOCABLE_AUTH__ENABLED": "false",
    }
    log_path = data_dir.with_suffix(".log")
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vocable", "serve", "--port", str(port)],
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        health: dict[str, Any] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                if health.get("status") == "ready":
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        if health.get("status") != "ready":
            raise EngineError(
                f"the bench server did not become ready: {health}\n{_log_tail(log_path)}",
                code="bench.server_failed",
            )
        _SERVERS[url] = proc
        try:
            yield url, health
        except TimeoutError as err:
            if proc.poll() is None:
                proc.send_signal(signal.SIGUSR1)  # `vocable serve` dumps its threads and tasks
                time.sleep(1.0)
            raise EngineTimeoutError(
                f"the bench server did not finish a reply in time ({err}); its log, with its "
                "threads and asyncio tasks while the client waited and after it left:\n"
                + _log_tail(log_path),
                code="bench.no_reply",
            ) from err
    finally:
        _SERVERS.pop(url, None)
        proc.terminate()
        proc.wait(timeout=30)


def _log_tail(path: Path, lines: int = 400) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


SERVER_STAGES = ("stt_ms", "first_token_ms", "first_sentence_ms", "first_audio_ms")
"""The server's own waterfall (``GET /v1/metrics``), each from the end of the user's speech."""


def _server_turns(url: str) -> list[dict[str, Any]]:
    """The turns the server at realtime `url` reports in ``GET /v1/metrics``, oldest first."""
    http = url.replace("ws://", "http://", 1).removesuffix("/v1/realtime")
    turns: list[dict[str, Any]] = httpx.get(f"{http}/v1/metrics", timeout=10).json()["turns"]
    return turns


def server_turn(url: str, since: float) -> dict[str, Any] | None:
    """The server's waterfall (`SERVER_STAGES`) of the one turn it started after `since`.

    `since` is wall-clock time (the server stamps ``started_at`` so). None unless exactly one
    turn started since: a turn with no reply has no waterfall.
    """
    new = [t for t in _server_turns(url) if t["started_at"] >= since]
    return {name: new[0][name] for name in SERVER_STAGES} if len(new) == 1 else None


def server_stages(url: str) -> dict[str, Any]:
    """Median and p95 of each stage of the server's turns that finished, from its event stream."""
    done = [t for t in _server_turns(url) if not t["interrupted"]]
    out: dict[str, Any] = {}
    for name in SERVER_STAGES:
        values = [t[name] for t in done if t[name] is not None]
        out.update(distribution("server_" + name.removesuffix("_ms"), values))
    # Real-time factor: seconds of synthesis per second of reply audio (below 1 keeps up).
    rtfs = [t["tts_rtf"] for t in done if t.get("tts_rtf") is not None]
    out.update(distribution("server_tts", rtfs, unit="rtf", digits=3))
    return out
