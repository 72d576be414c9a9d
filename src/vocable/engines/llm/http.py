"""One long-lived HTTP client per LLM engine: limits, timeouts, typed errors, bounded retries.

`LLMHttpClient` owns an ``httpx.AsyncClient`` for the engine's life (closed in `close`), so
connections are pooled and reused instead of opened per request. Every failure comes out as a
`VocableError`:

- `ServerTransportError` (transient): the server could not be reached (``llm.unreachable``),
  timed out (``llm.timeout``), answered 502/503/504 (``llm.server_busy``), or dropped the
  connection mid-stream (``llm.stream_broken``).
- Any other error status goes through the engine's own ``on_status`` mapping.

`retry_before_first` retries transient failures with a jittered exponential backoff, but only
until the first item has been yielded: a reply that has started is never sent twice. Once the
retries are spent, the failure becomes permanent (`EngineUnavailableError`, same code), so a
fallback chain moves on to the next engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.llm.base import ChatMessage, StreamItem, ToolSpec
from vocable.errors import (
    EngineError,
    EngineUnavailableError,
    PipelineClosedError,
    VocableError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_STATUSES = frozenset({502, 503, 504})
"""Statuses a proxy or a starting server sends while it cannot serve yet: worth a retry."""
ERROR_BODY_LIMIT = 4096
"""Bytes of an error response kept for the message."""

StatusMapper = Callable[[int, str], VocableError]
"""``on_status(status, body_text)``: the error for an unsuccessful HTTP status."""


class ServerTransportError(EngineError):
    """The server could not be reached, timed out, was busy, or dropped the connection."""

    default_code = "llm.unreachable"
    default_transient = True


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Timeouts, limits and retries of one engine's client (from ``llm.http_*``)."""

    connect_timeout_s: float = 3.0
    read_timeout_s: float = 60.0
    max_connections: int = 4
    retries: int = 2
    backoff_s: float = 0.2

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpPolicy:
        """The policy the ``llm.http_*`` settings describe."""
        cfg = settings.llm
        return cls(
            connect_timeout_s=cfg.http_connect_timeout_s,
            read_timeout_s=cfg.http_read_timeout_s,
            max_connections=cfg.http_max_connections,
            retries=cfg.http_retries,
            backoff_s=cfg.http_retry_backoff_s,
        )

    def backoff(self, retry: int) -> float:
        """Delay before retry number `retry` (0-based): doubling, with jitter in [50 %, 100 %]."""
        jitter: float = random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography
        return self.backoff_s * 2.0**retry * jitter


class LLMHttpClient:
    """The HTTP client of one engine.

    Args:
        base_url: Server URL; request paths are relative to it.
        policy: Timeouts, limits and retries.
        service: How messages name the server, e.g. ``Ollama at http://127.0.0.1:11434``.
        headers: Sent with every request (e.g. ``Authorization``).
    """

    def __init__(
        self,
        base_url: str,
        policy: HttpPolicy,
        *,
        service: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.service = service
        self._client: httpx.AsyncClient | None = httpx.AsyncClient(
            base_url=self.base_url,
            headers=dict(headers or {}),
            timeout=httpx.Timeout(
                policy.read_timeout_s,
                connect=policy.connect_timeout_s,
                pool=policy.connect_timeout_s,
            ),
            limits=httpx.Limits(
                max_connections=policy.max_connections,
                max_keepalive_connections=policy.max_connections,
            ),
        )

    def _live(self) -> httpx.AsyncClient:
        if self._client is None:
            raise PipelineClosedError(f"the HTTP client for {self.service} is closed")
        return self._client

    async def get_json(self, path: str, *, on_status: StatusMapper) -> Any:
        """GET `path` once and decode its JSON body.

        Raises:
            ServerTransportError: the server could not be reached or timed out.
            VocableError: an error status (from `on_status`), or a body that is not JSON.
        """
        try:
            response = await self._live().get(path)
        except httpx.HTTPError as err:
            raise self._transport_error(err, started=False) from err
        if response.status_code >= 400:
            raise self._status_error(
                response.status_code, response.text[:ERROR_BODY_LIMIT], on_status
            )
        try:
            return response.json()
        except ValueError as err:
            raise EngineError(
                f"{self.service} answered {path} with something that is not JSON",
                code="llm.bad_response",
            ) from err

    async def stream_lines(
        self, path: str, body: Mapping[str, Any], *, on_status: StatusMapper
    ) -> AsyncGenerator[str, None]:
        """POST `body` as JSON to `path` and yield the response's lines (blank ones included).

        Closing the generator closes the response, and with it the connection, so the server
        stops generating.

        Raises:
            ServerTransportError: unreachable, timed out, busy, or dropped mid-stream.
            VocableError: another error status, mapped by `on_status`.
        """
        started = False
        try:
            async with self._live().stream("POST", path, json=body) as response:
                started = True
                if response.status_code >= 400:
                    text = await _read_limited(response)
                    raise self._status_error(response.status_code, text, on_status)
                async for line in response.aiter_lines():
                    yield line
        except httpx.HTTPError as err:
            raise self._transport_error(err, started=started) from err

    def _status_error(self, status: int, text: str, on_status: StatusMapper) -> VocableError:
        if status in RETRY_STATUSES:
            return ServerTransportError(
                f"{self.service} is busy or starting (HTTP {status}): {text.strip()[:200]}",
                code="llm.server_busy",
            )
        return on_status(status, text)

    def _transport_error(self, err: httpx.HTTPError, *, started: bool) -> ServerTransportError:
        detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        if isinstance(err, httpx.PoolTimeout):
            return ServerTransportError(
                f"all {self.policy.max_connections} connections to {self.service} stayed busy "
                "(raise llm.http_max_connections for more replies at once)",
                code="llm.server_busy",
            )
        if isinstance(err, httpx.ConnectTimeout | httpx.ConnectError):
            return ServerTransportError(
                f"could not connect to {self.service} ({detail})", code="llm.unreachable"
            )
        if isinstance(err, httpx.TimeoutException):
            return ServerTransportError(
                f"{self.service} sent nothing for {self.policy.read_timeout_s:g} s",
                code="llm.timeout",
            )
        if started:
            return ServerTransportError(
                f"{self.service} dropped the reply mid-stream ({detail})", code="llm.stream_broken"
            )
        return ServerTransportError(f"{self.service} failed ({detail})", code="llm.unreachable")

    async def retry_before_first(
        self, make: Callable[[], AsyncIterator[T]]
    ) -> AsyncGenerator[T, None]:
        """Yield the items of ``make()``, calling it again on a transient failure before the first.

        Raises:
            EngineUnavailableError: every attempt failed transiently before its first item.
            VocableError: any other failure, and any failure after the first item.
        """
        retry = 0
        while True:
            iterator = make()
            try:
                first = await anext(iterator)
            except StopAsyncIteration:
                return
            except ServerTransportError as err:
                await _aclose(iterator)
                if retry >= self.policy.retries:
                    tries = "1 attempt" if retry == 0 else f"{retry + 1} attempts"
                    raise EngineUnavailableError(
                        f"{err.message} (gave up after {tries})", code=err.code
                    ) from err
                delay = self.policy.backoff(retry)
                log.info("%s; retrying in %.0f ms", err.message, delay * 1000)
                await asyncio.sleep(delay)
                retry += 1
                continue
            except BaseException:
                await _aclose(iterator)
                raise
            try:
                yield first
                async for item in iterator:
                    yield item
            finally:
                await _aclose(iterator)
            return

    async def close(self) -> None:
        """Close every pooled connection. Safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


async def _read_limited(response: httpx.Response) -> str:
    """Up to `ERROR_BODY_LIMIT` bytes of the body, as text."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= ERROR_BODY_LIMIT:
            break
    return data[:ERROR_BODY_LIMIT].decode("utf-8", errors="replace")


async def _aclose(iterator: AsyncIterator[object]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def error_text(body: str) -> str:
    """The ``error`` field of a JSON error body (Ollama and OpenAI shapes), else the raw text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return str(error or body.strip()[:300])


class HttpChatLLM:
    """What the chat engines behind HTTP share: one client, retries, the stream, close.

    Subclasses build the request (`request_body`) and read one streamed answer (`_attempt`).
    """

    supports_tools = True
    """Tools go to the server; whether the model uses them depends on the server and model."""

    def __init__(self, http: LLMHttpClient, info: EngineInfo) -> None:
        self._http = http
        self.info = info

    def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] | None = None
    ) -> AsyncGenerator[StreamItem, None]:
        """Yield reply text pieces and complete `ToolCall` items as the server streams them.

        A failure before the first item is retried when it is transient.

        Raises:
            EngineUnavailableError: the server stayed unreachable through the retries, refuses
                the key, or lacks the model (the message says how to get it).
            ServerTransportError: the server went away after the first item
                (``llm.stream_broken``, transient).
            MalformedToolCallError: a tool call's arguments are not a JSON object.
            EngineError: the server reported another failure (``llm.failed``).
            PipelineClosedError: the engine was closed.
        """
        body = self.request_body(messages, tools)
        return self._http.retry_before_first(lambda: self._attempt(body))

    def request_body(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] | None = None
    ) -> dict[str, Any]:
        """The JSON body of one chat request."""
        raise NotImplementedError

    def _attempt(self, body: Mapping[str, Any]) -> AsyncGenerator[StreamItem, None]:
        raise NotImplementedError

    def _ended_early(self) -> ServerTransportError:
        return ServerTransportError(
            f"{self._http.service} ended the reply before it was done", code="llm.stream_broken"
        )

    async def close(self) -> None:
        """Close the HTTP client and its connections. Safe to call twice."""
        await self._http.close()
