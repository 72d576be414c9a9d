"""One watched session: turns its events into finished turn records for the collector."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vocable.frames import PipelineEvent, PipelineEventType
from vocable.metrics.audio import StreamMonitor
from vocable.pipeline.events import EventBus

if TYPE_CHECKING:
    from vocable.metrics.collector import MetricsCollector

E = PipelineEventType

STAGES: dict[str, PipelineEventType] = {
    "stt": E.TRANSCRIPT,
    "llm_first_token": E.LLM_FIRST_TOKEN,
    "first_sentence": E.SENTENCE,
    "tts_first_audio": E.TTS_FIRST_AUDIO,
}
"""The waterfall's stages (a Prometheus label) and the event that ends each."""
_JSON_NAMES = {
    "stt": "stt_ms",
    "llm_first_token": "first_token_ms",
    "first_sentence": "first_sentence_ms",
    "tts_first_audio": "first_audio_ms",
}
_MILESTONES = frozenset({E.TURN_STARTED, *STAGES.values()})
MAX_PENDING = 32
"""Unfinished turns kept per session (speculative ones that never start are dropped first)."""


@dataclass(slots=True)
class TurnRecord:
    """One finished turn: ms from the end of the user's speech to each milestone."""

    turn_id: str
    started_at: float
    stt_ms: float | None
    first_token_ms: float | None
    first_sentence_ms: float | None
    first_audio_ms: float | None
    v2v_ms: float | None
    interrupted: bool = False
    kind: str = "turn"
    user_id: int | None = None
    tokens_per_s: float | None = None
    tts_rtf: float | None = None

    def stages(self) -> dict[str, float | None]:
        """Milliseconds per waterfall stage, by stage name."""
        return {stage: getattr(self, name) for stage, name in _JSON_NAMES.items()}

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (one item of ``turns`` in ``/v1/metrics``)."""
        return {
            "turn_id": self.turn_id,
            "started_at": round(self.started_at, 3),
            "stt_ms": self.stt_ms,
            "first_token_ms": self.first_token_ms,
            "first_sentence_ms": self.first_sentence_ms,
            "first_audio_ms": self.first_audio_ms,
            "v2v_ms": self.v2v_ms,
            "tts_rtf": self.tts_rtf,
            "interrupted": self.interrupted,
        }


@dataclass(slots=True)
class _Pending:
    first: dict[PipelineEventType, float] = field(default_factory=dict)
    speech_end: float | None = None
    started_at: float = 0.0
    done: bool = False
    interrupted: bool = False
    tokens_per_s: float | None = None
    audio_s: float | None = None
    tts_busy_s: float = 0.0
    tts_open: dict[Any, float] = field(default_factory=dict)


class Watch:
    """A session followed by a `MetricsCollector`; close it (or leave its ``with``) at the end.

    Made by `MetricsCollector.watch`. Besides the bus events, the session may report the reply
    audio it sends (`audio_out`, for gaps, clipping and loudness) or a whole reply (`reply_audio`).
    """

    def __init__(
        self,
        collector: MetricsCollector,
        bus: EventBus | None,
        *,
        kind: str,
        user_id: int | None,
        number: int,
    ) -> None:
        self.collector = collector
        self.bus = bus
        self.kind = kind
        self.user_id = user_id
        self.id = f"{kind}-{number}"
        self.clock = bus.clock if bus is not None else collector.clock
        self._pending: dict[int, _Pending] = {}
        self._finished: dict[int, TurnRecord] = {}
        self._interrupted: set[int] = set()
        self._dropped: set[int] = set()
        self._last_stop: float | None = None
        self._last_start: float | None = None
        self._speaking = False
        self._stream = StreamMonitor(collector.audio)
        self._remove = bus.add_listener(self._on_event) if bus is not None else None
        self.closed = False

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop following the bus; a started turn that never finished is recorded as it is."""
        with self.collector.lock:
            if self.closed:
                return
            self.closed = True
            if self._remove is not None:
                self._remove()
            for turn, pending in sorted(self._pending.items()):
                if E.TURN_STARTED in pending.first:
                    self._finish(turn, pending)
            self._pending.clear()
            self.collector._session_closed(self.kind)

    def audio_out(self, pcm: bytes, sample_rate: int) -> None:
        """A chunk of PCM16 mono reply audio went out to the listener now."""
        with self.collector.lock:
            self._stream.chunk(pcm, sample_rate, self.clock.monotonic())

    def reply_audio(self, pcm: bytes) -> None:
        """A whole PCM16 mono reply (a file turn): counts for clipping and loudness only."""
        with self.collector.lock:
            self.collector.audio.add_reply(pcm)

    def replay(self, events: Iterable[PipelineEvent]) -> None:
        """Feed events recorded elsewhere (e.g. a finished turn's bus log), in order."""
        for event in events:
            self._on_event(event)

    def _on_event(self, event: PipelineEvent) -> None:
        with self.collector.lock:
            self.collector._on_event(event)
            self._track(event)

    def _track(self, event: PipelineEvent) -> None:
        kind, turn, ts = event.kind, event.turn_id, event.timestamp
        if kind is E.SPEECH_STARTED:
            self._speaking = True
            return
        if kind is E.SPEECH_STOPPED:  # a live VAD says how much silence it waited for
            silence = event.payload.get("silence_s")
            waited = float(silence) if isinstance(silence, int | float) and silence > 0 else 0.0
            self._speaking, self._last_stop = False, ts - waited
            return
        if kind is E.INTERRUPTED:
            self._interrupt(turn)
            return
        if turn in self._finished or turn in self._dropped:  # late events (a second turn_done)
            return
        if kind is E.SPECULATION_DROPPED:
            self._pending.pop(turn, None)
            self._dropped.add(turn)
            if len(self._dropped) > MAX_PENDING:
                self._dropped.remove(min(self._dropped))
            return
        if kind not in _MILESTONES and kind not in _DETAILS:
            return
        pending = self._pending.get(turn)
        if pending is None:
            pending = self._pending[turn] = _Pending()
            self._trim()
        if kind in _MILESTONES:
            pending.first.setdefault(kind, ts)
        if kind is E.TURN_STARTED and pending.speech_end is None:
            pending.speech_end = self._speech_end(ts)
            pending.started_at = self.collector.wall()
            self._last_start = ts
            self._stream.reset()
        elif kind is E.TTS_REQUEST:
            pending.tts_open[event.payload.get("index")] = ts
        elif kind is E.TTS_DONE:
            began = pending.tts_open.pop(event.payload.get("index"), None)
            if began is not None:
                pending.tts_busy_s += ts - began
        elif kind is E.LLM_DONE:
            rate = event.payload.get("tokens_per_s")
            pending.tokens_per_s = float(rate) if isinstance(rate, int | float) and rate else None
        elif kind is E.TURN_DONE and not pending.done:
            pending.done = True
            audio_s = event.payload.get("audio_s")
            pending.audio_s = float(audio_s) if isinstance(audio_s, int | float) else None
        if kind is E.TURN_STARTED:  # a done turn that never got its transcript ends here
            for other in [t for t, p in self._pending.items() if t < turn and _ready(p, False)]:
                self._finish(other, self._pending.pop(other))
        if _ready(pending, True):
            self._finish(turn, self._pending.pop(turn))

    def _speech_end(self, started: float) -> float:
        stop = self._last_stop
        fresh = stop is not None and (self._last_start is None or stop > self._last_start)
        if fresh and not self._speaking and stop is not None and stop <= started:
            return stop
        return started

    def _interrupt(self, turn: int) -> None:
        if turn in self._interrupted:
            return
        self._interrupted.add(turn)
        self.collector._interrupted()
        if turn in self._finished:
            self._finished[turn].interrupted = True
            return
        pending = self._pending.get(turn)
        if pending is not None and E.TURN_STARTED in pending.first:
            pending.interrupted = True
            self._finish(turn, self._pending.pop(turn))

    def _trim(self) -> None:
        while len(self._pending) > MAX_PENDING:
            unstarted = [t for t, p in self._pending.items() if E.TURN_STARTED not in p.first]
            oldest = min(unstarted or self._pending)
            dropped = self._pending.pop(oldest)
            if E.TURN_STARTED in dropped.first:
                self._finish(oldest, dropped)

    def _finish(self, turn: int, pending: _Pending) -> None:
        start = pending.speech_end if pending.speech_end is not None else 0.0

        def since(kind: PipelineEventType) -> float | None:
            ts = pending.first.get(kind)
            return None if ts is None else round(max(0.0, ts - start) * 1000, 1)

        ms = {stage: since(kind) for stage, kind in STAGES.items()}
        first_audio, released = ms["tts_first_audio"], since(E.TURN_STARTED)
        rtf = None
        if pending.audio_s and pending.tts_busy_s > 0:
            rtf = round(pending.tts_busy_s / pending.audio_s, 3)
        record = TurnRecord(
            turn_id=f"{self.id}:{turn}",
            started_at=pending.started_at,
            stt_ms=ms["stt"],
            first_token_ms=ms["llm_first_token"],
            first_sentence_ms=ms["first_sentence"],
            first_audio_ms=first_audio,
            v2v_ms=None if first_audio is None else max(first_audio, released or 0.0),
            interrupted=pending.interrupted,
            kind=self.kind,
            user_id=self.user_id,
            tokens_per_s=pending.tokens_per_s,
            tts_rtf=rtf,
        )
        self._finished[turn] = record
        while len(self._finished) > MAX_PENDING:
            self._finished.pop(min(self._finished))
        self.collector._record(record)


_DETAILS = frozenset({E.TTS_REQUEST, E.TTS_DONE, E.LLM_DONE, E.TURN_DONE})


def _ready(pending: _Pending, need_transcript: bool) -> bool:
    """Started and done; a realtime turn's transcript follows its start, so wait for it too."""
    started = E.TURN_STARTED in pending.first
    heard = E.TRANSCRIPT in pending.first or not need_transcript
    return pending.done and started and heard
