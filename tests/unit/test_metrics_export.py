"""Histograms, audio quality, resources, and the Prometheus export of the collector's state."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.test_metrics_collector import Script, collector
from vocable.frames import PipelineEventType as E
from vocable.metrics.audio import AudioQuality, StreamMonitor
from vocable.metrics.collector import MetricsCollector
from vocable.metrics.histogram import Histogram
from vocable.metrics.prometheus import exposition, registry_for
from vocable.metrics.resources import ResourceProbe
from vocable.pipeline.clock import FakeClock


def sine_pcm(amplitude: float, seconds: float = 0.5, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    wave = amplitude * np.sin(2 * np.pi * 440 * t)
    return (np.clip(wave, -1, 1) * 32767).astype(np.int16).tobytes()


def test_histogram_buckets_are_upper_inclusive() -> None:
    h = Histogram([10, 20])
    for value in (0, 10, 10.5, 20, 21, 1e9):
        h.observe(value)
    assert h.counts == [2, 2, 2]
    assert h.cumulative() == [2, 4, 6]
    assert h.count == 6 and h.total == pytest.approx(1e9 + 61.5)
    with pytest.raises(ValueError, match="NaN"):
        h.observe(math.nan)
    with pytest.raises(ValueError, match="increasing"):
        Histogram([20, 10])
    with pytest.raises(ValueError, match="increasing"):
        Histogram([])


def test_loudness_and_clipping_of_reply_audio() -> None:
    q = AudioQuality()
    assert q.loudness_dbfs is None and q.clipping_ratio is None
    q.add_reply(sine_pcm(0.5))
    assert q.loudness_dbfs == pytest.approx(-9.03, abs=0.05)  # 0.5 / sqrt(2) RMS
    assert q.clipping_ratio == 0.0
    q.add_reply(sine_pcm(4.0))  # driven far past full scale: most samples clip
    assert q.clipping_ratio is not None and 0.3 < q.clipping_ratio < 0.5
    silent = AudioQuality()
    silent.add_reply(b"\x00\x00" * 100)
    assert silent.loudness_dbfs == -120.0
    silent.add_reply(b"\x01")  # half a sample: ignored
    assert silent.samples == 100


def test_loudness_covers_only_the_last_replies() -> None:
    q = AudioQuality(window=1)
    q.add_reply(sine_pcm(0.01))
    q.add_reply(sine_pcm(0.5))
    assert q.loudness_dbfs == pytest.approx(-9.03, abs=0.05)


def test_gaps_are_silences_over_40_ms_within_a_reply() -> None:
    q = AudioQuality()
    stream = StreamMonitor(q)
    chunk = b"\x10\x00" * 1600  # 100 ms at 16 kHz
    stream.chunk(chunk, 16000, now=10.0)  # plays until 10.1
    stream.chunk(chunk, 16000, now=10.05)  # ahead of time: queued, plays until 10.2
    stream.chunk(chunk, 16000, now=10.23)  # 30 ms late: not a gap
    stream.chunk(chunk, 16000, now=10.40)  # plays until 10.33 before: 70 ms of silence
    assert q.gaps == 1
    stream.reset()  # a new reply: the pause before it is not a gap
    stream.chunk(chunk, 16000, now=20.0)
    stream.chunk(b"", 16000, now=30.0)  # nothing: ignored
    assert q.gaps == 1
    assert q.samples == 5 * 1600


def test_proc_fallback_reads_cpu_and_memory(tmp_path: Path) -> None:
    (tmp_path / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 400 kB\n")
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3\n")
    probe = ResourceProbe(tmp_path, use_psutil=False, use_nvml=False)
    first = probe.sample()
    assert first.cpu_percent is None  # no earlier sample to compare with
    assert (first.ram_used_bytes, first.ram_total_bytes) == (600 * 1024, 1000 * 1024)
    stat.write_text("cpu  175 0 100 825 0 0 0 0 0 0\n")  # 75 busy of 100 ticks
    assert probe.sample().cpu_percent == 75.0
    assert probe.sample().as_dict()["gpus"] == []


def test_unreadable_proc_gives_nones(tmp_path: Path) -> None:
    probe = ResourceProbe(tmp_path / "missing", use_psutil=False, use_nvml=False)
    assert probe.sample().as_dict() == {
        "cpu_percent": None,
        "ram_used_bytes": None,
        "ram_total_bytes": None,
        "gpus": [],
    }


def test_the_real_probe_reports_this_machine() -> None:
    probe = ResourceProbe()
    probe.sample()
    now = probe.sample()
    assert now.cpu_percent is not None and 0 <= now.cpu_percent <= 100
    assert now.ram_total_bytes and now.ram_used_bytes
    assert 0 < now.ram_used_bytes < now.ram_total_bytes
    assert isinstance(now.gpus, list)  # empty without an NVIDIA driver
    probe.close()


def scrape(c: MetricsCollector) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of the exposition text, by name and sorted labels."""
    text = exposition(registry_for(c)).decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[key] = sample.value
    return out


def test_prometheus_reads_the_same_state_as_the_json() -> None:
    c, s = collector(), Script()
    with c.watch(s.bus, kind="realtime", user_id=1) as watch:
        for turn in (1, 2):
            s.file_turn(turn)
        s.at(0, E.INTERRUPTED, 2)
        s.at(0, E.FALLBACK_SWITCHED, 0)
        s.at(0, E.FRAMES_DROPPED, 0, count=3)
        watch.audio_out(sine_pcm(0.5), 16000)
        c.cache_sources = [lambda: {"embed:test": (1, 1)}]
        live = scrape(c)
        assert live["vocable_sessions"] == {(("kind", "realtime"),): 1.0}
    snap = c.snapshot()
    m = scrape(c)
    json_cumulative = list(itertools.accumulate(snap["v2v_histogram"]["counts"]))
    buckets = m["vocable_voice_to_voice_seconds_bucket"]
    edges = [f"{e / 1000:g}" for e in snap["v2v_histogram"]["edges_ms"]] + ["+Inf"]
    assert [buckets[(("le", le),)] for le in edges] == json_cumulative
    assert m["vocable_voice_to_voice_seconds_count"][()] == 2 == len(snap["turns"])
    assert m["vocable_voice_to_voice_seconds_sum"][()] == pytest.approx(1.9)
    stt = (("stage", "stt"),)
    assert m["vocable_turn_stage_seconds_count"][stt] == 2
    assert m["vocable_turn_stage_seconds_sum"][stt] == pytest.approx(0.6)
    assert m["vocable_turns_total"] == {(("kind", "realtime"),): 2.0}
    assert m["vocable_interruptions_total"][()] == snap["interruptions"] == 1
    assert m["vocable_fallback_switches_total"][()] == snap["fallback_switches"] == 1
    assert m["vocable_dropped_frames_total"][()] == snap["dropped_frames"] == 3
    assert m["vocable_cache_requests_total"] == {
        (("cache", "embed:test"), ("result", "hit")): 1.0,
        (("cache", "embed:test"), ("result", "miss")): 1.0,
    }
    assert m["vocable_sessions"] == {(("kind", "realtime"),): 0.0}
    assert m["vocable_llm_tokens_per_second"][()] == snap["tokens_per_s"] == 25.0
    assert m["vocable_tts_real_time_factor"][()] == pytest.approx(snap["tts_rtf"])
    assert m["vocable_audio_loudness_dbfs"][()] == snap["audio"]["loudness_dbfs"]
    assert m["vocable_audio_output_samples_total"][()] == 8000
    assert m["vocable_ram_total_bytes"][()] > 0


def test_an_empty_collector_exports_zeros_and_leaves_unknown_gauges_out() -> None:
    m = scrape(collector())
    assert m["vocable_voice_to_voice_seconds_count"][()] == 0
    assert m["vocable_interruptions_total"][()] == 0
    assert "vocable_llm_tokens_per_second" not in m
    assert "vocable_audio_loudness_dbfs" not in m


def test_two_collectors_keep_separate_registries() -> None:
    a, b = collector(), collector()
    s = Script()
    with a.watch(s.bus):
        s.file_turn()
    assert scrape(a)["vocable_voice_to_voice_seconds_count"][()] == 1
    assert scrape(b)["vocable_voice_to_voice_seconds_count"][()] == 0


def test_streams_without_a_bus_use_the_collector_clock() -> None:
    clock = FakeClock(5.0)
    c = MetricsCollector(clock=clock, probe=ResourceProbe(use_nvml=False))
    with c.watch(kind="speech") as watch:
        chunk = b"\x10\x00" * 1600
        watch.audio_out(chunk, 16000)
        clock.advance(0.2)  # 100 ms of silence after the first chunk
        watch.audio_out(chunk, 16000)
        watch.reply_audio(chunk)
    assert c.snapshot()["audio"]["gaps"] == 1
    assert c.audio.samples == 3 * 1600
