"""Language models that stream a reply: text pieces, and the tool calls the model asks for."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from vocable.engines.base import EngineInfo
from vocable.errors import EngineError

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call.

    Attributes:
        name: Function name the model uses, e.g. ``get_time``.
        description: What the tool does, for the model.
        parameters: JSON schema of the arguments (an ``object`` schema).
    """

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    def as_openai(self) -> dict[str, Any]:
        """The ``tools`` entry shared by the OpenAI and Ollama chat APIs."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete call the model asked for; the caller runs the tool.

    Attributes:
        id: Call id, echoed back in the ``tool`` message that carries the result.
        name: Tool name.
        arguments: Decoded JSON arguments.
    """

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation.

    Attributes:
        role: Who speaks.
        content: The text.
        tool_calls: On an ``assistant`` message: the calls it made.
        tool_call_id: On a ``tool`` message: the call whose result this is.
        name: On a ``tool`` message: the tool's name.
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""


StreamItem = str | ToolCall
"""What `LanguageModel.stream` yields: a piece of reply text, or a complete tool call."""


class MalformedToolCallError(EngineError):
    """The model produced a tool call whose arguments are not a JSON object.

    Transient: the engine is healthy and generating again may succeed, so a fallback chain does
    not switch engines for it.
    """

    default_code = "llm.malformed_tool_call"
    default_transient = True


class LanguageModel(Protocol):
    """Streams a reply to a conversation.

    Attributes:
        info: Identity of the engine.
        supports_tools: Whether `stream` passes ``tools`` to the model and yields its
            `ToolCall` items. When False, ``tools`` is ignored and only text comes back.
    """

    info: EngineInfo
    supports_tools: bool

    def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] | None = None
    ) -> AsyncGenerator[StreamItem, None]:
        """Yield reply text pieces (``str``) and complete `ToolCall` items, in order.

        Closing the iterator early (``aclose``, ``break`` inside ``aclosing``, or cancelling the
        consumer) stops generation at once; for a server, the request's connection is closed.
        """
        ...

    async def close(self) -> None:
        """Release the model, its worker thread or its HTTP client. Safe to call twice."""
        ...


@runtime_checkable
class Prefills(Protocol):
    """A language model that can read a prompt ahead of its reply (a local KV cache)."""

    async def prefill(self, messages: Sequence[ChatMessage]) -> int:
        """Read `messages` into the model's cache; the last one may be cut short.

        The last message's text is read up to its end and no further (no end-of-message marker),
        so it can be the start of a turn still being spoken, or empty. A reply whose prompt
        starts the same way then reads only the rest. Best effort: returns the number of tokens
        read, 0 when nothing was (already cached, or the prompt cannot be rendered).
        """
        ...


@runtime_checkable
class JudgesEndings(Protocol):
    """A language model that can say whether a user's words end where they do (a local model)."""

    async def judge_ending(self, messages: Sequence[ChatMessage]) -> float | None:
        """The probability that the last message ends where its text does.

        That is the chance the model gives the next token being the end of the message or a
        sentence's final mark: high after "what is frozen water called", near 0 after "what is
        the tallest". The messages are read into the cache as by `Prefills.prefill`, so a reply
        to them reads only the rest. None when the model cannot say.
        """
        ...
