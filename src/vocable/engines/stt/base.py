"""Speech to text."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from vocable.engines.base import EngineInfo
from vocable.frames import Transcript


class SpeechToText(Protocol):
    """Transcribes one utterance of mono float32 audio at 16 kHz."""

    info: EngineInfo

    async def transcribe(
        self, audio: npt.NDArray[np.float32], *, thorough: bool = False
    ) -> Transcript:
        """The final transcript of `audio` (16 kHz mono float32). Never blocks the loop.

        `thorough` asks for the engine's slower, surer pass where it has one (faster-whisper:
        the full 30 s window instead of one fitted to the utterance).
        """
        ...

    async def close(self) -> None:
        """Release the model and its worker thread."""
        ...
