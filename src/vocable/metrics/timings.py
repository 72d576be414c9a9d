"""Per-turn latency, computed from pipeline events and from nothing else."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from vocable.frames import PipelineEvent, PipelineEventType

#: Each timing is measured from the end of the user's turn (TURN_STARTED) to its event.
TIMING_EVENTS: dict[str, PipelineEventType] = {
    "stt": PipelineEventType.TRANSCRIPT,
    "llm_first_token": PipelineEventType.LLM_FIRST_TOKEN,
    "first_sentence": PipelineEventType.SENTENCE,
    "tts_first_audio": PipelineEventType.TTS_FIRST_AUDIO,
    "total": PipelineEventType.TURN_DONE,
}


@dataclass(frozen=True, slots=True)
class TurnTimings:
    """Milliseconds from the end of the user's turn to each milestone (None: never reached).

    ``tts_first_audio`` is the voice-to-voice latency of the turn, apart from the VAD's
    end-of-speech wait in live use.
    """

    stt: float | None
    llm_first_token: float | None
    first_sentence: float | None
    tts_first_audio: float | None
    total: float | None

    def as_dict(self) -> dict[str, float | None]:
        """A JSON-ready dict of milliseconds."""
        return asdict(self)


def turn_timings(events: Iterable[PipelineEvent], turn_id: int) -> TurnTimings:
    """Timings of one turn from its events (the first event of each kind counts)."""
    first: dict[PipelineEventType, float] = {}
    for event in events:
        if event.turn_id == turn_id and event.kind not in first:
            first[event.kind] = event.timestamp
    start = first.get(PipelineEventType.TURN_STARTED)

    def since_start(kind: PipelineEventType) -> float | None:
        if start is None or kind not in first:
            return None
        return round((first[kind] - start) * 1000, 1)

    return TurnTimings(**{name: since_start(kind) for name, kind in TIMING_EVENTS.items()})
