"""Language models that stream tokens."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from vocable.engines.base import EngineInfo

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation."""

    role: Role
    content: str


class LanguageModel(Protocol):
    """Streams a reply to a conversation, one text piece at a time."""

    info: EngineInfo

    def stream(self, messages: Sequence[ChatMessage]) -> AsyncGenerator[str, None]:
        """Yield reply text pieces as they are generated.

        Closing the iterator early (``aclose``, ``break`` inside ``aclosing``, or cancelling the
        consumer) stops generation at once.
        """
        ...

    async def close(self) -> None:
        """Release the model and its worker thread."""
        ...
