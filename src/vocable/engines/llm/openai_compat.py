"""Any OpenAI-compatible server (vLLM, the llama.cpp server, LM Studio): streamed chat over SSE.

Protocol: ``POST {base_url}/chat/completions`` with ``stream: true`` answers with server-sent
events, each ``data: {chunk}`` then a blank line, and ``data: [DONE]`` at the end. A chunk's
``choices[0].delta`` carries a ``content`` piece, or ``tool_calls`` fragments: the first fragment
of a call has its ``index``, ``id`` and ``function.name``; later fragments with the same ``index``
append to ``function.arguments``, a JSON text. Calls are complete when ``finish_reason`` is set.
``GET {base_url}/models`` lists the served models.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
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
    error_text,
)
from vocable.errors import EngineError, EngineUnavailableError, VocableError

_KEY_HINT = "set llm.openai_api_key (VOCABLE_LLM__OPENAI_API_KEY)"


class OpenAICompatLLM(HttpChatLLM):
    """Streams chat replies from an OpenAI-compatible server, with tool calling.

    Build it with `load`. One HTTP client, with pooled connections, serves every call; closing
    a reply's iterator closes its connection, which makes the server stop generating.
    """

    def __init__(self, http: LLMHttpClient, info: EngineInfo, settings: Settings) -> None:
        super().__init__(http, info)
        self.model = info.model
        cfg = settings.llm
        self.sampling: dict[str, Any] = {
            "max_tokens": cfg.max_tokens,
            "temperature": cfg.temperature,
            "seed": cfg.seed,
        }

    @classmethod
    async def load(cls, settings: Settings) -> Self:
        """Ask the server for its models and pick ``llm.openai_model`` (or its first model).

        Raises:
            EngineUnavailableError: the server is unreachable, refuses the API key, does not
                serve the configured model, or lists no model at all.
        """
        cfg = settings.llm
        url = cfg.openai_base_url.rstrip("/")
        key = cfg.openai_api_key.get_secret_value() if cfg.openai_api_key is not None else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        service = f"the OpenAI-compatible server at {url}"
        http = LLMHttpClient(
            url, HttpPolicy.from_settings(settings), service=service, headers=headers
        )
        try:
            listing = await http.get_json("/models", on_status=_on_status)
            model = _pick_model(listing, cfg.openai_model, service)
        except ServerTransportError as err:
            await http.close()
            raise EngineUnavailableError(
                f"{err.message}. Start the server, or set llm.openai_base_url "
                "(VOCABLE_LLM__OPENAI_BASE_URL)",
                code=err.code,
            ) from err
        except BaseException:
            await http.close()
            raise
        info = EngineInfo(kind="llm", name="openai", model=model, model_path=url, device="remote")
        return cls(http, info, settings)

    def request_body(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] | None = None
    ) -> dict[str, Any]:
        """The JSON body of ``POST /chat/completions``."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [_wire_message(m) for m in messages],
            "stream": True,
            **self.sampling,
        }
        if tools:
            body["tools"] = [t.as_openai() for t in tools]
        return body

    async def _attempt(self, body: Mapping[str, Any]) -> AsyncGenerator[StreamItem, None]:
        calls = ToolCallAssembler()
        finished = False
        lines = self._http.stream_lines("/chat/completions", body, on_status=_on_status)
        async with contextlib.aclosing(lines):
            async for data in sse_data(lines):
                if finished:
                    continue  # read to the end, so the connection goes back to the pool
                if data.strip() == "[DONE]":
                    for call in calls.finish():  # a server that sent no finish_reason
                        yield call
                    finished = True
                    continue
                choice = _choice(data)
                if choice is None:
                    continue
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    yield str(delta["content"])
                if delta.get("tool_calls"):
                    calls.add(delta["tool_calls"])
                if choice.get("finish_reason"):
                    for call in calls.finish():
                        yield call
                    finished = True
        if not finished:
            raise self._ended_early()


class ToolCallAssembler:
    """Joins streamed ``delta.tool_calls`` fragments, by ``index``, into complete calls."""

    def __init__(self) -> None:
        self._parts: dict[int, dict[str, Any]] = {}

    def add(self, fragments: Sequence[Any]) -> None:
        """Take the fragments of one chunk."""
        for fragment in fragments:
            if not isinstance(fragment, dict):
                raise MalformedToolCallError(
                    f"a tool call fragment is not an object: {fragment!r:.200}"
                )
            index = int(fragment.get("index", len(self._parts)))
            part = self._parts.setdefault(index, {"id": "", "name": "", "arguments": []})
            if fragment.get("id"):
                part["id"] = str(fragment["id"])
            function = fragment.get("function") or {}
            if function.get("name") and not part["name"]:
                part["name"] = str(function["name"])
            if function.get("arguments"):
                part["arguments"].append(str(function["arguments"]))

    def finish(self) -> list[ToolCall]:
        """The complete calls in index order; the assembler is empty afterwards.

        Raises:
            MalformedToolCallError: a call has no name, or arguments that are not a JSON object.
        """
        parts, self._parts = self._parts, {}
        return [_complete(index, parts[index]) for index in sorted(parts)]


def _complete(index: int, part: dict[str, Any]) -> ToolCall:
    name = part["name"]
    text = "".join(part["arguments"])
    if not name:
        raise MalformedToolCallError(f"the model sent a tool call without a name ({text!r:.200})")
    try:
        arguments = json.loads(text) if text.strip() else {}
    except ValueError as err:
        raise MalformedToolCallError(
            f"the model's call to {name} has arguments that are not JSON: {text!r:.200}"
        ) from err
    if not isinstance(arguments, dict):
        raise MalformedToolCallError(
            f"the model's call to {name} has arguments that are not an object: {text!r:.200}"
        )
    return ToolCall(id=part["id"] or f"call_{index}", name=name, arguments=arguments)


async def sse_data(lines: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """The ``data`` of each server-sent event (multi-line data joined by newlines)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _choice(data: str) -> dict[str, Any] | None:
    try:
        chunk = json.loads(data)
    except ValueError as err:
        raise EngineError(
            f"the server sent an event that is not JSON: {data[:200]!r}", code="llm.bad_response"
        ) from err
    if not isinstance(chunk, dict):
        raise EngineError(f"the server sent {data[:200]!r}, not an object", code="llm.bad_response")
    if chunk.get("error"):
        raise EngineError(f"the server failed: {error_text(data)}", code="llm.failed")
    choices = chunk.get("choices") or []
    first = choices[0] if choices else None
    return first if isinstance(first, dict) else None


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
    return out


def _on_status(status: int, body: str) -> VocableError:
    text = error_text(body)
    if status in (401, 403):
        return EngineUnavailableError(
            f"the server refused the request (HTTP {status}: {text}); {_KEY_HINT}",
            code="llm.unauthorized",
        )
    if status == 404:
        return EngineUnavailableError(
            f"the server has no such model or endpoint (HTTP 404: {text}); check "
            "llm.openai_base_url (it usually ends in /v1) and llm.openai_model",
            code="llm.model_not_found",
        )
    return EngineError(f"the server answered HTTP {status}: {text}", code="llm.failed")


def _pick_model(listing: Any, wanted: str, service: str) -> str:
    entries = listing.get("data") if isinstance(listing, dict) else None
    ids = [str(e["id"]) for e in entries or () if isinstance(e, dict) and e.get("id")]
    if wanted:
        if ids and wanted not in ids:
            raise EngineUnavailableError(
                f"{service} does not serve {wanted!r} (it serves {', '.join(ids)}); set "
                "llm.openai_model (VOCABLE_LLM__OPENAI_MODEL) to one of them",
                code="llm.model_not_found",
            )
        return wanted
    if not ids:
        raise EngineUnavailableError(
            f"{service} lists no model at /models; set llm.openai_model "
            "(VOCABLE_LLM__OPENAI_MODEL)",
            code="llm.model_not_found",
        )
    return ids[0]
