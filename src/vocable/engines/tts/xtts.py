"""XTTS v2 voice cloning through coqui-tts, from a local model directory, streamed.

The weights are not on any package registry: download the ``coqui/XTTS-v2`` model directory
(``config.json``, ``model.pth``, ``vocab.json``, ``speakers_xtts.pth``) yourself, under the Coqui
Public Model Licence (non-commercial use only), and point ``tts.xtts_dir`` (or ``VOCABLE_XTTS_DIR``)
at it. vocable never downloads it.

The engine follows coqui-tts's documented API: ``XttsConfig.load_json``,
``Xtts.init_from_config``, ``load_checkpoint``, ``get_conditioning_latents`` and
``inference_stream`` (24 kHz float chunks). The conditioning latents of each reference WAV (the
``voice`` argument: a path, such as a profile's ``reference.wav``) are computed once and cached on
disk beside it as ``<wav>.xtts-latents.pt``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import threading
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any, Self

import numpy as np

from vocable import hardware
from vocable.audio.convert import float_to_pcm16
from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.worker import BlockingWorker
from vocable.errors import ConfigError, EngineError, EngineUnavailableError, PipelineClosedError
from vocable.frames import PCM16_BYTES, AudioChunk

RATE = 24000
_INSTALL_HINT = (
    "XTTS v2 needs coqui-tts with a matching torchaudio and torchcodec: pip install coqui-tts "
    "(CPU torch: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu)"
)


def model_dir(settings: Settings) -> Path:
    """``tts.xtts_dir``, else ``VOCABLE_XTTS_DIR``; it must hold ``config.json``.

    Raises:
        EngineUnavailableError: neither is set, or the directory holds no XTTS model.
    """
    raw = settings.tts.xtts_dir or os.environ.get("VOCABLE_XTTS_DIR")
    if not raw:
        raise EngineUnavailableError(
            "no XTTS v2 weights: set VOCABLE_XTTS_DIR (or tts.xtts_dir) to a local XTTS-v2 "
            "model directory; see docs/voices.md for where to get it and its licence"
        )
    folder = Path(raw).expanduser()
    if not (folder / "config.json").is_file():
        raise EngineUnavailableError(f"{folder} is not an XTTS v2 model directory (no config.json)")
    return folder


class XttsTTS:
    """Clones a voice from a reference WAV with XTTS v2, streaming chunks as they are decoded."""

    def __init__(self, model: Any, worker: BlockingWorker, info: EngineInfo, settings: Settings):
        self._model = model
        self._worker = worker
        self.info = info
        self.sample_rate = RATE
        self.language = settings.tts.xtts_language
        self.default_voice = settings.tts.xtts_speaker_wav
        self.chunk_samples = max(1, RATE * settings.tts.chunk_ms // 1000)

    @classmethod
    async def load(cls, settings: Settings) -> Self:
        """Load the model on the engine's worker thread.

        Raises:
            EngineUnavailableError: no weights, or coqui-tts is missing or broken.
        """
        folder = model_dir(settings)
        plan = hardware.plan_engine(settings, "xtts")
        threads = plan.threads
        worker = BlockingWorker("tts-xtts")
        try:
            model = await worker.run(_load_model, folder, threads, plan.device)
        except BaseException:
            await worker.close()
            raise
        info = EngineInfo(
            kind="tts",
            name="xtts",
            model="xtts_v2",
            model_path=str(folder),
            device=plan.device,
            version=importlib.metadata.version("coqui-tts"),
            threads=threads,
        )
        return cls(model, worker, info, settings)

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        """Speak `text` in the voice of the reference WAV `voice` (default: tts.xtts_speaker_wav).

        Raises:
            ConfigError: no reference WAV is given or configured, or it does not exist.
            EngineError: XTTS failed (``tts.failed``).
        """
        if not text.strip():
            return
        reference = Path(voice or self.default_voice or "")
        async for chunk in self._worker.stream(lambda stop: self._generate(text, reference, stop)):
            yield chunk

    def _generate(self, text: str, reference: Path, stop: threading.Event) -> Iterator[AudioChunk]:
        if self._model is None:
            raise PipelineClosedError("the XTTS engine is closed")
        if not reference.is_file():
            raise ConfigError(
                "XTTS needs a reference WAV: pass a voice profile, or set tts.xtts_speaker_wav",
                code="tts.unknown_voice",
            )
        latent, speaker = self._latents(reference)
        step = self.chunk_samples * PCM16_BYTES
        try:
            for piece in self._model.inference_stream(text, self.language, latent, speaker):
                pcm = float_to_pcm16(np.asarray(piece.squeeze().cpu().numpy(), np.float32))
                for start in range(0, len(pcm), step):
                    if stop.is_set():
                        return
                    yield AudioChunk(pcm[start : start + step], RATE)
        except Exception as err:
            raise EngineError(f"XTTS failed: {err}", code="tts.failed") from err

    def _latents(self, reference: Path) -> tuple[Any, Any]:
        """Conditioning latents of `reference`, computed once and cached beside it."""
        torch = importlib.import_module("torch")
        cache = reference.with_name(reference.name + ".xtts-latents.pt")
        if cache.is_file() and cache.stat().st_mtime >= reference.stat().st_mtime:
            saved = torch.load(cache, weights_only=True)
            return saved["gpt_cond_latent"], saved["speaker_embedding"]
        latent, speaker = self._model.get_conditioning_latents(audio_path=[str(reference)])
        torch.save({"gpt_cond_latent": latent, "speaker_embedding": speaker}, cache)
        return latent, speaker

    async def close(self) -> None:
        """Drop the model and stop the thread. Safe to call twice."""
        self._model = None
        await self._worker.close()


def _load_model(folder: Path, threads: int, device: str = "cpu") -> Any:
    try:
        torch = importlib.import_module("torch")
        configs = importlib.import_module("TTS.tts.configs.xtts_config")
        models = importlib.import_module("TTS.tts.models.xtts")
    except Exception as err:  # noqa: BLE001 - coqui-tts 0.28 raises more than ImportError
        raise EngineUnavailableError(f"{_INSTALL_HINT} ({type(err).__name__}: {err})") from err
    if threads:
        torch.set_num_threads(threads)
    config = configs.XttsConfig()
    config.load_json(str(folder / "config.json"))
    model = models.Xtts.init_from_config(config)
    model.load_checkpoint(config, checkpoint_dir=str(folder), use_deepspeed=False)
    model.eval()
    return model.to(device) if device != "cpu" else model
