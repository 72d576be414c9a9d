"""Ollama through its native API: ``POST /api/chat`` streamed as NDJSON, with native tools.

Protocol (https://github.com/ollama/ollama/blob/main/docs/api.md): the request carries
``model``, ``messages``, ``stream: true``, ``keep_alive``, ``options`` (``temperature``,
``seed``, ``num_predict``, ``num_ctx``) and, when given, ``tools``. The response is one JSON
object per line: ``{"message": {"role": "assistant", "content": "The"}, "done": false}`` …,
where a ``message`` may carry ``tool_calls`` (``[{"function": {"name": …, "arguments": {…}}}]``),
until a line with ``"done": true``. Failures are ``{"error": "…"}``, as the body of an error
status (404 for a model that is not pulled) or as a line of the stream.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Self

from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.llm.base import (
    ChatMessage,
    MalformedToolCallError,
    StreamItem,
    ToolCall,
    ToolSpec,
)
from vocable.engines.llm.http import (
    HttpChatLLM,
    HttpPolicy,
    LLMHttpClient,
    ServerTransportError,
    StatusMapper,
    error_text,
)
from vocable.errors import EngineError, EngineUnavailableError, VocableError


def pull_hint(model: str) -> str:
    """What to run when Ollama does not have `model`."""
    return f"run `ollama pull {model}`, or set llm.ollama_model (VOCABLE_LLM__OLLAMA_MODEL)"


class OllamaLLM(HttpChatLLM):
    """Streams chat replies from an Ollama server, with native tool calling.

    Build it with `load`. One HTTP client, with pooled connections, serves every call; closing
    a reply's iterator closes its connection, which makes Ollama stop generating.
    """

    def __init__(self, http: LLMHttpClient, info: EngineInfo, settings: Settings) -> None:
        super().__init__(http, info)
        cfg = settings.llm
        self.model = cfg.ollama_model
        keep_alive = cfg.ollama_keep_alive.strip()
        # Ollama reads a bare number as seconds, and a string as a Go duration ("5m").
        self.keep_alive: str | int = int(keep_alive) if _is_int(keep_alive) else keep_alive
        self.options: dict[str, Any] = {
            "temperature": cfg.temperature,
            "seed": cfg.seed,
            "num_predict": cfg.max_tokens,
            "num_ctx": cfg.n_ctx,
        }

    @classmethod
    async def load(cls, settings: Settings) -> Self:
        """Check that the server answers and has the model.

        Raises:
            EngineUnavailableError: the server is unreachable (``llm.unreachable``), or the model
                is not pulled (``llm.model_not_found``: the message says which ``ollama pull``).
        """
        cfg = settings.llm
        url = cfg.ollama_url.rstrip("/")
        http = LLMHttpClient(url, HttpPolicy.from_settings(settings), service=f"Ollama at {url}")
        try:
            on_status = _status_mapper(cfg.ollama_model)
            version = await http.get_json("/api/version", on_status=on_status)
            tags = await http.get_json("/api/tags", on_status=on_status)
            if not _has_model(tags, cfg.ollama_model):
                raise EngineUnavailableError(
                    f"Ollama at {url} has no model {cfg.ollama_model!r}: "
                    + pull_hint(cfg.ollama_model),
                    code="llm.model_not_found",
                )
        except ServerTransportError as err:
            await http.close()
            raise EngineUnavailableError(
                f"Ollama is not reachable at {url}: {err.message}. Start it (`ollama serve`) or "
                "set llm.ollama_url (VOCABLE_LLM__OLLAMA_URL)",
                code=err.code,
            ) from err
        except BaseException:
            await http.close()
            raise
        info = EngineInfo(
            kind="llm",
            name="ollama",
            model=cfg.ollama_model,
            model_path=url,
            device="remote",
            version=str(version.get("version", "")) if isinstance(version, dict) else "",
        )
        return cls(http, info, settings)

    def request_body(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] | None = None
    ) -> dict[str, Any]:
        """The JSON body of ``POST /api/chat``."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [_wire_message(m) for m in messages],
            "stream": True,
            "keep_alive": self.keep_alive,
            "options": dict(self.options),
        }
        if tools:
            body["tools"] = [t.as_openai() for t in tools]
        return body

    async def _attempt(self, body: Mapping[str, Any]) -> AsyncGenerator[StreamItem, None]:
        done = False
        calls = 0
        lines = self._http.stream_lines("/api/chat", body, on_status=_status_mapper(self.model))
        async with contextlib.aclosing(lines):
            async for line in lines:
                if done or not line.strip():
                    continue  # read to the end, so the connection goes back to the pool
                chunk = _decode(line)
                if "error" in chunk:
                    raise _ollama_error(str(chunk["error"]), self.model)
                message = chunk.get("message") or {}
                content = message.get("content")
                if content:
                    yield str(content)
                for raw in message.get("tool_calls") or ():
                    yield parse_tool_call(raw, calls)
                    calls += 1
                done = bool(chunk.get("done"))
        if not done:
            raise self._ended_early()


def parse_tool_call(raw: Any, index: int) -> ToolCall:
    """A `ToolCall` from one entry of Ollama's ``message.tool_calls``.

    Raises:
        MalformedToolCallError: no function name, or arguments that are not a JSON object.
    """
    function = raw.get("function") if isinstance(raw, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(function, dict) or not isinstance(name, str) or not name:
        raise MalformedToolCallError(f"the model sent a tool call without a name: {raw!r:.200}")
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError as err:
            raise MalformedToolCallError(
                f"the model's call to {name} has arguments that are not JSON: {arguments!r:.200}"
            ) from err
    if not isinstance(arguments, dict):
        raise MalformedToolCallError(
            f"the model's call to {name} has arguments that are not an object: {arguments!r:.200}"
        )
    call_id = raw.get("id") or f"call_{index}"
    return ToolCall(id=str(call_id), name=name, arguments=arguments)


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls
        ]
    if message.role == "tool" and message.name:
        out["tool_name"] = message.name
    return out


def _decode(line: str) -> dict[str, Any]:
    try:
        chunk = json.loads(line)
    except ValueError as err:
        raise EngineError(
            f"Ollama sent a line that is not JSON: {line[:200]!r}", code="llm.bad_response"
        ) from err
    if not isinstance(chunk, dict):
        raise EngineError(f"Ollama sent {line[:200]!r}, not an object", code="llm.bad_response")
    return chunk


def _ollama_error(text: str, model: str) -> VocableError:
    if "not found" in text.lower():
        return EngineUnavailableError(
            f"Ollama has no model {model!r} ({text}): {pull_hint(model)}",
            code="llm.model_not_found",
        )
    return EngineError(f"Ollama failed: {text}", code="llm.failed")


def _status_mapper(model: str) -> StatusMapper:
    def on_status(status: int, body: str) -> VocableError:
        text = error_text(body)
        if status == 404:
            return _ollama_error(text if "not found" in text else f"{text}: not found", model)
        return EngineError(f"Ollama answered HTTP {status}: {text}", code="llm.failed")

    return on_status


def _has_model(tags: Any, model: str) -> bool:
    """Whether ``GET /api/tags`` lists `model` (a name without a tag means ``:latest``)."""
    wanted = {model, f"{model}:latest"} if ":" not in model else {model}
    listed = tags.get("models") if isinstance(tags, dict) else None
    for entry in listed or ():
        if isinstance(entry, dict) and wanted & {entry.get("name"), entry.get("model")}:
            return True
    return False


def _is_int(text: str) -> bool:
    return text.strip().lstrip("-").isdigit()
