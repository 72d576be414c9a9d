"""Load the engines a command needs (concurrently), report their health, close them.

`load_engines` loads every kind for a voice session; `load_vad`, `load_stt`, `load_llm` and
`load_tts` load one kind, for commands that need only that (``vocable transcribe``, ``say``).
Each engine module is imported only when its kind is loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.chain import SwitchCallback, TTSChain, describe_error
from vocable.engines.concurrent import close_all, load_concurrently
from vocable.engines.llm.base import ChatMessage, LanguageModel, ToolSpec
from vocable.engines.llm.chain import LLMChain
from vocable.engines.stt.base import SpeechToText
from vocable.engines.tts.base import TextToSpeech
from vocable.engines.vad.base import VoiceActivityDetector
from vocable.errors import ConfigError, EngineUnavailableError
from vocable.frames import PipelineEvent, Transcript
from vocable.hardware.fallback import EventSink, load_with_cpu_fallback
from vocable.hardware.plan import plan_engine
from vocable.hardware.profile import settings_for_load

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("vad", "stt", "llm", "tts")


async def load_vad(settings: Settings) -> VoiceActivityDetector:
    """The voice activity detector (Silero)."""
    from vocable.engines.vad.silero import SileroVAD

    return await SileroVAD.load(settings)


async def load_stt(settings: Settings, *, on_event: EventSink | None = None) -> SpeechToText:
    """The speech recogniser (faster-whisper), on the CPU if its GPU load fails."""
    from vocable.engines.stt.faster_whisper import FasterWhisperSTT

    return await load_with_cpu_fallback("stt", settings, FasterWhisperSTT.load, on_event)


async def load_llm(
    settings: Settings,
    *,
    on_switch: SwitchCallback | None = None,
    on_event: EventSink | None = None,
) -> LLMChain:
    """The LLM chain over ``llm.engines``; llama.cpp retries on the CPU if its GPU fails."""
    from vocable.engines.llm.chain import load_llm_chain

    async def load(current: Settings) -> LLMChain:
        chain = await load_llm_chain(current, on_switch=on_switch)
        failed = chain.skipped.get("llama_cpp")
        if failed and plan_engine(current, "llm").device != "cpu":
            await chain.close()
            raise EngineUnavailableError(f"llama.cpp failed with GPU layers: {failed}")
        return chain

    return await load_with_cpu_fallback("llm", settings, load, on_event)


async def _load_piper(settings: Settings) -> TextToSpeech:
    from vocable.engines.tts.piper import PiperTTS

    return await PiperTTS.load(settings)


async def _load_pyttsx3(settings: Settings) -> TextToSpeech:
    from vocable.engines.tts.pyttsx3 import Pyttsx3TTS

    return await Pyttsx3TTS.load(settings)


async def _load_xtts(settings: Settings) -> TextToSpeech:
    from vocable.engines.tts.xtts import XttsTTS

    return await XttsTTS.load(settings)


async def _load_edge(settings: Settings) -> TextToSpeech:
    from vocable.engines.tts.edge import EdgeTTS

    return await EdgeTTS.load(settings)


TTS_LOADERS: dict[str, Callable[[Settings], Awaitable[TextToSpeech]]] = {
    "xtts": _load_xtts,
    "piper": _load_piper,
    "edge": _load_edge,
    "pyttsx3": _load_pyttsx3,
}


_TTS_DEVICE_KINDS: dict[str, Any] = {"piper": "tts", "xtts": "xtts"}  # may run on a GPU


async def load_tts(
    settings: Settings,
    *,
    on_switch: SwitchCallback | None = None,
    on_event: EventSink | None = None,
) -> TTSChain:
    """The TTS fallback chain, in ``tts.engines`` order, without the engines that cannot load.

    Raises:
        EngineUnavailableError: no engine in ``tts.engines`` could be loaded.
    """

    def loader(name: str) -> Callable[[], Awaitable[Any]]:
        kind = _TTS_DEVICE_KINDS.get(name)
        if kind is None:
            return _bind(TTS_LOADERS[name], settings)
        return lambda: load_with_cpu_fallback(kind, settings, TTS_LOADERS[name], on_event)

    names = list(dict.fromkeys(settings.tts.engines))
    loaded, failed, seconds = await load_concurrently({name: loader(name) for name in names})
    skipped = {name: describe_error(err) for name, err in failed.items()}
    # The default chain names optional engines (XTTS weights, edge-tts): missing them is normal.
    level = logging.WARNING if "engines" in settings.tts.model_fields_set else logging.INFO
    for name, reason in skipped.items():
        log.log(level, "tts engine %s is unavailable: %s", name, reason)
    engines = [loaded[name] for name in names if name in loaded]
    if not engines:
        reasons = "; ".join(f"{n}: {r}" for n, r in skipped.items()) or "tts.engines is empty"
        raise EngineUnavailableError(
            f"no text-to-speech engine could be loaded ({reasons}). Install one: "
            "pip install 'vocable[piper]' for Piper, or pyttsx3 with the espeak-ng system "
            "package; and list it in tts.engines",
        ) from next(iter(failed.values()), None)
    cfg = settings.tts
    return TTSChain(
        engines,
        first_item_timeout_s=cfg.first_audio_budget_s,
        item_timeout_s=cfg.stall_timeout_s,
        max_rtf=cfg.max_rtf,
        rtf_window=cfg.rtf_window,
        cooldown_s=cfg.fallback_cooldown_s,
        on_switch=on_switch,
        skipped=skipped,
        load_s=seconds,
    )


class Unloaded:
    """Stands in for a kind that `load_engines` was not asked to load; using it raises."""

    supports_tools = False
    sample_rate = 16000
    frame_samples = 512

    def __init__(self, kind: str) -> None:
        self.info = EngineInfo(kind=kind, name="not-loaded", model="")

    def _fail(self) -> NoReturn:
        raise EngineUnavailableError(
            f"the {self.info.kind} engine was not loaded; pass {self.info.kind!r} in kinds"
        )

    def speech_probability(self, frame: npt.NDArray[np.float32]) -> float:
        """Raises EngineUnavailableError."""
        self._fail()

    def reset(self) -> None:
        """Nothing to reset."""

    async def transcribe(
        self, audio: npt.NDArray[np.float32], *, thorough: bool = False
    ) -> Transcript:
        """Raises EngineUnavailableError."""
        self._fail()

    def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] | None = None
    ) -> Any:
        """Raises EngineUnavailableError."""
        self._fail()

    def synthesize(self, text: str, voice: str | None = None) -> Any:
        """Raises EngineUnavailableError."""
        self._fail()

    async def close(self) -> None:
        """Nothing to release."""


@dataclass
class Engines:
    """One loaded engine of each kind; the TTS engines form a fallback chain.

    Attributes:
        vad: Voice activity detector.
        stt: Speech recogniser.
        llm: Language model (an `LLMChain` once loaded).
        tts: Speech synthesiser chain.
        load_s: Seconds each kind took to load (``tts.<name>`` for each TTS engine).
    """

    vad: VoiceActivityDetector
    stt: SpeechToText
    llm: LanguageModel
    tts: TTSChain
    load_s: dict[str, float] = field(default_factory=dict)
    load_events: list[PipelineEvent] = field(default_factory=list)
    """``device_fallback`` events from loading: engines that left their GPU for the CPU."""
    _closed: bool = field(default=False, init=False, repr=False)

    def health(self) -> dict[str, dict[str, Any]]:
        """Readiness and identity of each kind, for ``/health``.

        Each entry has ``ready``, ``name``, ``model``, ``model_path``, ``device`` and ``version``,
        and ``error`` when not ready. The TTS and LLM entries also list the chain, its active
        engine and the engines skipped at load with the reason.
        """
        report: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            engine = getattr(self, kind)
            info: EngineInfo = engine.info
            unloaded = _is_unloaded(engine)
            entry: dict[str, Any] = {
                "ready": not self._closed and not unloaded,
                "name": info.name,
                "model": info.model,
                "model_path": info.model_path,
                "device": info.device,
                "version": info.version,
            }
            if kind in self.load_s:
                entry["load_s"] = round(self.load_s[kind], 3)
            if unloaded:
                entry["error"] = "not loaded: this command did not ask for it"
            elif self._closed:
                entry["error"] = "closed"
            note = getattr(engine, "fallback_reason", None)
            if note:
                entry["note"] = note
            for event in self.load_events:
                if event.payload.get("engine") == kind:
                    entry["device_fallback"] = event.payload["reason"]
            if isinstance(engine, LLMChain):
                entry.update(engine.report())
            if isinstance(engine, TTSChain):
                entry["chain"] = [e.info.name for e in engine.engines]
                entry["active"] = engine.active.info.name
                entry["skipped"] = dict(engine.skipped)
            report[kind] = entry
        return report

    async def close(self) -> None:
        """Close every engine and join their threads. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await close_all([getattr(self, kind) for kind in KINDS])


async def load_engines(
    settings: Settings,
    *,
    on_switch: SwitchCallback | None = None,
    kinds: Collection[str] = KINDS,
    on_event: EventSink | None = None,
) -> Engines:
    """Load the engines of `kinds`; the others are `Unloaded` placeholders.

    VAD, STT and TTS load concurrently, then the LLM alone (see the comment in the code). A
    fresh calibration profile in the data directory orders the TTS and LLM chains
    (`vocable.hardware.profile`); an engine whose GPU load fails loads on the CPU.

    Args:
        settings: Where models, devices and threads come from.
        on_switch: Called as ``(from_name, to_name, reason)`` when the TTS chain falls back.
        kinds: Which of ``vad``, ``stt``, ``llm``, ``tts`` to load.
        on_event: Called with each ``device_fallback`` event (also kept on `Engines`).

    Raises:
        ConfigError: an unknown kind, or settings that point at missing models.
        EngineUnavailableError: a package or model is missing; the message says what to install.
    """
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ConfigError(f"unknown engine kinds {unknown}; choose from {list(KINDS)}")
    settings = settings_for_load(settings)
    events: list[PipelineEvent] = []

    def sink(event: PipelineEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    loaders: dict[str, Callable[[], Awaitable[Any]]] = {
        "vad": _bind(load_vad, settings),
        "stt": lambda: load_stt(settings, on_event=sink),
        "llm": lambda: load_llm(settings, on_event=sink),
        "tts": lambda: load_tts(settings, on_switch=on_switch, on_event=sink),
    }
    loaded, failed, seconds = await load_concurrently(
        {kind: loaders[kind] for kind in KINDS if kind in kinds and kind != "llm"}
    )
    if not failed and "llm" in kinds:
        # While llama-cpp-python loads a model (verbose=False) it points the whole process's
        # stdout and stderr at /dev/null: load it alone, so no other loader's log is lost.
        try:
            llm_loaded, failed, llm_seconds = await load_concurrently({"llm": loaders["llm"]})
        except BaseException:
            await close_all(list(loaded.values()))
            raise
        loaded.update(llm_loaded)
        seconds.update(llm_seconds)
    if failed:
        await close_all(list(loaded.values()))
        for kind, err in failed.items():
            log.error("loading the %s engine failed: %s", kind, describe_error(err))
        raise next(iter(failed.values()))
    tts = loaded.get("tts") or TTSChain([Unloaded("tts")])
    for name, secs in tts.load_s.items():
        seconds[f"tts.{name}"] = secs
    return Engines(
        vad=loaded.get("vad") or Unloaded("vad"),
        stt=loaded.get("stt") or Unloaded("stt"),
        llm=loaded.get("llm") or Unloaded("llm"),
        tts=tts,
        load_s=seconds,
        load_events=events,
    )


def _is_unloaded(engine: object) -> bool:
    if isinstance(engine, TTSChain | LLMChain):
        return all(isinstance(e, Unloaded) for e in engine.engines)
    return isinstance(engine, Unloaded)


def _bind(
    load: Callable[[Settings], Awaitable[Any]], settings: Settings
) -> Callable[[], Awaitable[Any]]:
    return lambda: load(settings)
