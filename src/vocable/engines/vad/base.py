"""Voice activity detection: speech probability per fixed-size frame."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from vocable.engines.base import EngineInfo


class VoiceActivityDetector(Protocol):
    """Scores fixed-size frames of mono float32 audio at `sample_rate`.

    The detector is stateful (recurrent): feed frames in order and `reset` between streams.
    """

    info: EngineInfo
    sample_rate: int
    frame_samples: int

    def speech_probability(self, frame: npt.NDArray[np.float32]) -> float:
        """Probability in [0, 1] that `frame` (exactly `frame_samples` long) holds speech."""
        ...

    def reset(self) -> None:
        """Forget the recurrent state before a new stream."""
        ...

    async def close(self) -> None:
        """Release the model."""
        ...
