"""Text to speech."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from vocable.engines.base import EngineInfo
from vocable.frames import AudioChunk


class TextToSpeech(Protocol):
    """Speaks text as mono PCM16 audio chunks at `sample_rate`."""

    info: EngineInfo
    sample_rate: int

    def synthesize(self, text: str, voice: str | None = None) -> AsyncGenerator[AudioChunk, None]:
        """Yield audio chunks for `text`, the first as early as the engine allows.

        `voice` selects an engine-specific voice; None uses the configured default.
        """
        ...

    async def close(self) -> None:
        """Release the model and its worker thread."""
        ...
