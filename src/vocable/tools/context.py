"""What a tool may use: settings, the user's clock and timezone, storage, memory, the model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vocable.config import Settings
from vocable.engines.llm.base import ChatMessage, LanguageModel
from vocable.errors import ConfigError

if TYPE_CHECKING:
    from vocable.storage.db import Database
    from vocable.tools.timers import TimerService


class Recalled(Protocol):
    """One memory found by `MemoryStore.recall`."""

    id: int
    text: str
    kind: str
    score: float


class MemoryStore(Protocol):
    """Long-term memory of facts (`vocable.memory.semantic.SemanticMemory` is one)."""

    async def remember(
        self, *, user_id: int, text: str, kind: str = "fact", conversation_id: int | None = None
    ) -> int:
        """Store `text`; returns its id."""
        ...

    async def recall(self, *, user_id: int, query: str, k: int = 3) -> Sequence[Any]:
        """The `k` memories closest to `query`, best first (each like `Recalled`)."""
        ...

    async def forget(self, *, user_id: int, memory_id: int) -> None:
        """Delete one memory."""
        ...


def user_timezone(name: str) -> tzinfo:
    """The zone called `name` (IANA, e.g. ``Europe/Paris``), or the system's own when empty.

    Raises:
        ConfigError: an unknown zone name.
    """
    if not name:
        return datetime.now().astimezone().tzinfo or UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(
            f"unknown timezone {name!r} (VOCABLE_TOOLS__TIMEZONE): use an IANA name such as "
            "'Europe/London', or leave it empty for the system's zone",
            code="config.timezone",
        ) from err


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ToolContext:
    """Handed to every tool that declares a parameter of this type. Nothing here is global.

    Attributes:
        settings: The settings in effect.
        user_id: Whose timers and memories these are (None: no signed-in user).
        conversation_id: The stored conversation, when there is one.
        db: The database, for timers (None: timers are unavailable).
        memory: Long-term memory (None: remember/recall/forget are unavailable).
        llm: The language model, for summaries.
        history: The conversation so far (oldest first), for summaries.
        timers: Schedules and fires timers for this user.
        clock: Wall-clock time, timezone-aware; tests pass a fake one.
    """

    settings: Settings
    user_id: int | None = None
    conversation_id: int | None = None
    db: Database | None = None
    memory: MemoryStore | None = None
    llm: LanguageModel | None = None
    history: list[ChatMessage] = field(default_factory=list)
    timers: TimerService | None = None
    clock: Callable[[], datetime] = _utcnow

    @property
    def timezone(self) -> tzinfo:
        """The user's timezone (``tools.timezone``, or the system's)."""
        return user_timezone(self.settings.tools.timezone)

    def now(self) -> datetime:
        """The current time in the user's timezone."""
        return self.clock().astimezone(self.timezone)
