"""The metrics collector over synthetic event streams on a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from vocable.config import Settings
from vocable.frames import PipelineEventType as E
from vocable.metrics.collector import MetricsCollector, get_collector
from vocable.metrics.resources import ResourceProbe
from vocable.pipeline.clock import FakeClock
from vocable.pipeline.events import EventBus

SNAPSHOT_KEYS = {
    "turns",
    "v2v_p50_ms",
    "v2v_p95_ms",
    "v2v_histogram",
    "tokens_per_s",
    "tts_rtf",
    "fallback_switches",
    "interruptions",
    "dropped_frames",
    "cache",
    "sessions",
    "audio",
    "resources",
}
TURN_KEYS = {
    "turn_id",
    "started_at",
    "stt_ms",
    "first_token_ms",
    "first_sentence_ms",
    "first_audio_ms",
    "v2v_ms",
    "tts_rtf",
    "interrupted",
}


def collector(window: int = 100) -> MetricsCollector:
    probe = ResourceProbe(use_nvml=False)
    return MetricsCollector(window, clock=FakeClock(), wall=lambda: 1_800_000_000.0, probe=probe)


class Script:
    """Emits events on a bus whose fake clock moves between them."""

    def __init__(self) -> None:
        self.clock = FakeClock(100.0)
        self.bus = EventBus(self.clock)

    def at(self, dt: float, kind: E, turn: int = 1, stage: str = "t", **payload: Any) -> None:
        self.clock.advance(dt)
        self.bus.emit(stage, kind, turn, **payload)

    def file_turn(self, turn: int = 1) -> None:
        """Speech stops; 0.1 s later the turn starts; a full reply follows."""
        self.at(0.0, E.SPEECH_STARTED, turn)
        self.at(1.0, E.SPEECH_STOPPED, turn)
        self.at(0.1, E.TURN_STARTED, turn)
        self.at(0.2, E.TRANSCRIPT, turn, text="hi")  # 300 ms after the end of speech
        self.at(0.2, E.LLM_REQUEST, turn)
        self.at(0.1, E.LLM_FIRST_TOKEN, turn)  # 600
        self.at(0.1, E.SENTENCE, turn, index=0)  # 700
        self.at(0.0, E.TTS_REQUEST, turn, index=0)
        self.at(0.25, E.TTS_FIRST_AUDIO, turn, index=0)  # 950
        self.at(0.05, E.TTS_DONE, turn, index=0)  # TTS busy 0.3 s
        self.at(0.0, E.LLM_DONE, turn, tokens=10, tokens_per_s=25.0)
        self.at(0.0, E.TURN_DONE, turn, audio_s=1.5)


def test_a_turn_gives_its_waterfall_measured_from_the_end_of_speech() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus, kind="turn", user_id=7) as watch:
        assert c.snapshot()["sessions"] == 1
        s.file_turn()
    snap = c.snapshot()
    assert set(snap) == SNAPSHOT_KEYS
    assert snap["sessions"] == 0
    [turn] = snap["turns"]
    assert set(turn) == TURN_KEYS
    assert turn == {
        "turn_id": f"{watch.id}:1",
        "started_at": 1_800_000_000.0,
        "stt_ms": 300.0,
        "first_token_ms": 600.0,
        "first_sentence_ms": 700.0,
        "first_audio_ms": 950.0,
        "v2v_ms": 950.0,
        "tts_rtf": 0.2,
        "interrupted": False,
    }
    assert snap["v2v_p50_ms"] == snap["v2v_p95_ms"] == 950.0
    assert snap["tokens_per_s"] == 25.0
    assert snap["tts_rtf"] == pytest.approx(0.2)  # 0.3 s of synthesis for 1.5 s of audio
    hist = snap["v2v_histogram"]
    assert len(hist["counts"]) == len(hist["edges_ms"]) + 1
    assert hist["counts"][hist["edges_ms"].index(1000)] == 1  # 750 < 950 <= 1000
    assert sum(hist["counts"]) == 1
    assert c.turns_total == {"turn": 1}
    assert c.stage_histograms["stt"].count == 1
    assert c.stage_histograms["stt"].total == 300.0


def test_without_speech_events_the_turn_starts_the_clock() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus):
        s.at(0, E.TURN_STARTED)
        s.at(0.5, E.TRANSCRIPT)
        s.at(0.5, E.TURN_DONE)
    [turn] = c.snapshot()["turns"]
    assert turn["stt_ms"] == 500.0
    assert turn["first_audio_ms"] is None and turn["v2v_ms"] is None


def test_speech_that_resumed_does_not_count_as_its_end() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus):
        s.at(0, E.SPEECH_STOPPED)
        s.at(0.3, E.SPEECH_STARTED)
        s.at(1.0, E.TURN_STARTED)
        s.at(0.2, E.TRANSCRIPT)
        s.at(0.1, E.TURN_DONE)
    assert c.snapshot()["turns"][0]["stt_ms"] == 200.0


def test_speculative_work_counts_as_zero_and_audio_waits_for_the_turn() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus, kind="realtime"):
        s.at(0, E.SPEECH_STARTED, 2)
        s.at(1, E.LLM_FIRST_TOKEN, 1)  # speculation on a pause, before the end of speech
        s.at(0.1, E.TTS_FIRST_AUDIO, 1)
        s.at(0.1, E.SPEECH_STOPPED, 2)
        s.at(0.4, E.TURN_STARTED, 1)  # the endpoint: speculative audio is released now
        s.at(0, E.TRANSCRIPT, 1)
        s.at(0.1, E.TURN_DONE, 1)
        s.at(0.5, E.TURN_DONE, 1)  # the realtime session's own turn_done, after playout
    [turn] = c.snapshot()["turns"]
    assert turn["first_token_ms"] == 0.0 and turn["first_audio_ms"] == 0.0
    assert turn["stt_ms"] == 400.0
    assert turn["v2v_ms"] == 400.0
    assert c.turns_total == {"realtime": 1}


def test_dropped_speculation_is_never_recorded() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus):
        s.at(0, E.LLM_FIRST_TOKEN, 1)
        s.at(0.1, E.TURN_DONE, 1)
        s.at(0.1, E.SPECULATION_DROPPED, 1)
        s.at(0.1, E.TURN_STARTED, 1)  # a late event of the dropped turn starts nothing done
    assert c.snapshot()["turns"] == []
    assert c.turns_total == {}


def test_an_interruption_is_counted_once_and_marks_its_turn() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus):
        s.at(0, E.TURN_STARTED, 1)
        s.at(0.1, E.TRANSCRIPT, 1)
        for stage in ("respond", "chunk_sentences", "synthesize"):  # each stage reports it
            s.at(0.01, E.INTERRUPTED, 1, stage=stage, reason="Interrupt")
        s.file_turn(2)
        s.at(0.1, E.INTERRUPTED, 2, stage="session", reason="barge_in")  # after it was done
    snap = c.snapshot()
    assert snap["interruptions"] == 2
    first, second = snap["turns"]
    assert first["interrupted"] and first["stt_ms"] == 100.0 and first["v2v_ms"] is None
    assert second["interrupted"] and second["v2v_ms"] == 950.0


def test_closing_records_a_started_turn_and_forgets_unstarted_ones() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus):
        s.at(0, E.TURN_STARTED, 1)
        s.at(0.2, E.TRANSCRIPT, 1)
        s.at(0.2, E.LLM_FIRST_TOKEN, 2)
    assert [t["stt_ms"] for t in c.snapshot()["turns"]] == [200.0]
    s.at(0, E.TURN_DONE, 1)  # after close: the bus is no longer followed
    assert len(c.snapshot()["turns"]) == 1


def test_counters_for_fallbacks_drops_errors_and_caches() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus):
        s.at(0, E.FALLBACK_SWITCHED, 0, from_engine="a", to_engine="b", reason="slow")
        s.at(0, E.FRAMES_DROPPED, 0, channel="x", count=5)
        s.at(0, E.FRAMES_DROPPED, 0, seconds=0.02)  # the realtime input buffer: one event
        s.at(0, E.ERROR, 0, code="x")
    c.cache_sources = [lambda: {"embed:a": (1, 1)}, lambda: {"tts": (1, 0)}]
    snap = c.snapshot()
    assert snap["fallback_switches"] == 1
    assert snap["dropped_frames"] == 6
    assert snap["cache"] == {"hits": 2, "misses": 1, "hit_rate": pytest.approx(0.6667)}
    assert c.errors == 1
    assert c.cache_counts() == {"embed:a": (1, 1), "tts": (1, 0)}


def test_users_see_their_own_turns_and_admins_all() -> None:
    c = collector(window=3)
    for user, turns in ((1, 2), (2, 4)):
        s = Script()
        with c.watch(s.bus, user_id=user):
            for turn in range(1, turns + 1):
                s.file_turn(turn)
    assert len(c.snapshot(user_id=1)["turns"]) == 2
    mine = c.snapshot(user_id=2)["turns"]
    assert [t["turn_id"].split(":")[1] for t in mine] == ["2", "3", "4"]  # the last 3
    everyone = c.snapshot()
    assert len(everyone["turns"]) == 3
    assert sum(everyone["v2v_histogram"]["counts"]) == 6  # the histogram keeps every turn
    assert c.snapshot(user_id=99)["turns"] == []
    assert c.snapshot(user_id=99)["v2v_p50_ms"] is None


def test_p50_and_p95_come_from_the_visible_turns() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus):
        for turn, delay in enumerate((0.1, 0.2, 0.3, 0.4, 1.0), start=1):
            s.at(0, E.TURN_STARTED, turn)
            s.at(delay, E.TTS_FIRST_AUDIO, turn)
            s.at(0, E.TURN_DONE, turn)
    snap = c.snapshot()
    assert snap["v2v_p50_ms"] == 300.0
    assert snap["v2v_p95_ms"] == 880.0  # 400 + 0.8 * (1000 - 400)


def test_many_unfinished_turns_stay_bounded() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus) as watch:
        for turn in range(1, 200):
            s.at(0.01, E.LLM_FIRST_TOKEN, turn)  # speculative turns that never start
        assert len(watch._pending) <= 33
    assert c.snapshot()["turns"] == []


def test_get_collector_makes_one_per_app() -> None:
    class App:
        class state:  # noqa: N801 - shaped like Starlette's app.state
            pass

    first = get_collector(App)
    assert get_collector(App) is first
    assert first.window == 100


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        MetricsCollector(0)


def test_a_live_vad_endpoint_counts_from_the_last_speech() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus, kind="realtime"):
        s.at(0, E.SPEECH_STARTED)
        s.at(2, E.SPEECH_STOPPED, silence_s=0.5)  # the endpoint waited for 0.5 s of silence
        s.at(0, E.TURN_STARTED)
        s.at(0.1, E.TRANSCRIPT)
        s.at(0.2, E.TTS_FIRST_AUDIO)
        s.at(0, E.TURN_DONE)
    [turn] = c.snapshot()["turns"]
    assert turn["stt_ms"] == 600.0 and turn["v2v_ms"] == 800.0


async def test_the_embedding_cache_counts_come_from_the_cache_itself(settings: Settings) -> None:
    from vocable.engines.embed.loader import close_embedders, load_embedder

    hashing = settings.model_copy(
        update={"memory": settings.memory.model_copy(update={"embed_engine": "hashing"})}
    )
    embedder = await load_embedder(hashing)
    collector = MetricsCollector()
    key = f"embed:{embedder.model_name}"
    try:
        before = collector.cache_counts().get(key, (0, 0))  # the embedder is shared per process
        await embedder.embed(["a text no other test embeds", "and another such text"])
        await embedder.embed(["a text no other test embeds"])
        hits, misses = collector.cache_counts()[key]
        assert (hits - before[0], misses - before[1]) == (1, 2)
        snap = collector.snapshot()["cache"]
        assert snap["hits"] >= 1 and snap["misses"] >= 2
    finally:
        await close_embedders()
