"""Prometheus export of the collector's state, in a per-app registry (see docs/metrics.md).

Nothing is counted twice: a custom Prometheus collector reads `MetricsCollector` at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from vocable.metrics.collector import MetricsCollector
from vocable.metrics.histogram import Histogram

__all__ = [
    "CONTENT_TYPE",
    "PrometheusExport",
    "VoiceScore",
    "exposition",
    "registry_for",
    "voice_similarity",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format: every Prometheus server parses it."""


def _buckets(hist: Histogram) -> list[tuple[str, float]]:
    edges = [f"{edge / 1000:g}" for edge in hist.edges] + ["+Inf"]
    return list(zip(edges, [float(c) for c in hist.cumulative()], strict=True))


class PrometheusExport(Collector):
    """The ``vocable_*`` metrics of one `MetricsCollector`."""

    def __init__(self, metrics: MetricsCollector) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family (called by the registry at each scrape)."""
        m = self.metrics
        resources = m.probe.sample()
        with m.lock:
            stage = HistogramMetricFamily(
                "vocable_turn_stage_seconds",
                "Time from the end of the user's speech to each stage's first output.",
                labels=["stage"],
            )
            for name, hist in m.stage_histograms.items():
                stage.add_metric([name], _buckets(hist), hist.total / 1000)
            yield stage
            v2v = HistogramMetricFamily(
                "vocable_voice_to_voice_seconds",
                "Time from the end of the user's speech to the first reply audio.",
            )
            v2v.add_metric([], _buckets(m.v2v_histogram), m.v2v_histogram.total / 1000)
            yield v2v
            turns = CounterMetricFamily(
                "vocable_turns", "Turns finished, by session kind.", labels=["kind"]
            )
            for kind, count in sorted(m.turns_total.items()):
                turns.add_metric([kind], count)
            yield turns
            yield CounterMetricFamily(
                "vocable_interruptions", "Replies interrupted (barge-in).", value=m.interruptions
            )
            yield CounterMetricFamily(
                "vocable_fallback_switches",
                "Engine fallback switches.",
                value=m.fallback_switches,
            )
            yield CounterMetricFamily(
                "vocable_dropped_frames", "Frames dropped by full queues.", value=m.dropped_frames
            )
            yield CounterMetricFamily(
                "vocable_pipeline_errors", "Errors reported by pipeline stages.", value=m.errors
            )
            cache = CounterMetricFamily(
                "vocable_cache_requests",
                "Cache look-ups, by cache and result.",
                labels=["cache", "result"],
            )
            for name, (hits, misses) in sorted(m.cache_counts().items()):
                cache.add_metric([name, "hit"], hits)
                cache.add_metric([name, "miss"], misses)
            yield cache
            sessions = GaugeMetricFamily(
                "vocable_sessions", "Sessions open now, by kind.", labels=["kind"]
            )
            for kind, count in sorted(m.sessions.items()):
                sessions.add_metric([kind], count)
            yield sessions
            yield from self._recent(m)
            yield from self._audio(m)
        yield from _resources(resources.as_dict())

    def _recent(self, m: MetricsCollector) -> Iterator[Metric]:
        turns = m.visible_turns(None)
        rates = [t.tokens_per_s for t in turns if t.tokens_per_s is not None]
        rtfs = [t.tts_rtf for t in turns if t.tts_rtf is not None]
        if rates:
            yield GaugeMetricFamily(
                "vocable_llm_tokens_per_second",
                "Mean LLM generation rate over the recent turns.",
                value=sum(rates) / len(rates),
            )
        if rtfs:
            yield GaugeMetricFamily(
                "vocable_tts_real_time_factor",
                "Mean TTS synthesis time over audio time, recent turns (below 1 is faster).",
                value=sum(rtfs) / len(rtfs),
            )

    def _audio(self, m: MetricsCollector) -> Iterator[Metric]:
        audio = m.audio
        yield CounterMetricFamily(
            "vocable_audio_output_gaps", "Gaps over 40 ms in reply audio.", value=audio.gaps
        )
        yield CounterMetricFamily(
            "vocable_audio_output_samples", "Reply audio samples sent.", value=audio.samples
        )
        yield CounterMetricFamily(
            "vocable_audio_clipped_samples", "Reply samples at full scale.", value=audio.clipped
        )
        if audio.loudness_dbfs is not None:
            yield GaugeMetricFamily(
                "vocable_audio_loudness_dbfs",
                "RMS level of the recent replies (dBFS).",
                value=audio.loudness_dbfs,
            )


def _resources(r: dict[str, object]) -> Iterator[Metric]:
    for key, name, text in (
        ("cpu_percent", "vocable_cpu_percent", "System CPU use (percent)."),
        ("ram_used_bytes", "vocable_ram_used_bytes", "System RAM in use."),
        ("ram_total_bytes", "vocable_ram_total_bytes", "System RAM."),
    ):
        value = r.get(key)
        if isinstance(value, int | float):
            yield GaugeMetricFamily(name, text, value=value)
    gpus = r.get("gpus")
    if not isinstance(gpus, list) or not gpus:
        return
    families = {
        "util_percent": GaugeMetricFamily(
            "vocable_gpu_utilization_percent", "GPU use (percent).", labels=["gpu", "name"]
        ),
        "vram_used_bytes": GaugeMetricFamily(
            "vocable_gpu_memory_used_bytes", "GPU memory in use.", labels=["gpu", "name"]
        ),
        "vram_total_bytes": GaugeMetricFamily(
            "vocable_gpu_memory_total_bytes", "GPU memory.", labels=["gpu", "name"]
        ),
    }
    for index, gpu in enumerate(gpus):
        for key, family in families.items():
            value = gpu.get(key)
            if isinstance(value, int | float):
                family.add_metric([str(index), str(gpu.get("name", ""))], value)
    yield from families.values()


def registry_for(metrics: MetricsCollector) -> CollectorRegistry:
    """A new registry (never the global one) exporting `metrics`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PrometheusExport(metrics))
    return registry


VoiceScore = tuple[str, str, str, float]
"""``(user, voice, engine, similarity)``: one enrolment similarity of one voice profile."""


def voice_similarity(scores: Iterable[VoiceScore]) -> GaugeMetricFamily:
    """``vocable_voice_similarity``: each profile's enrolment similarity, per engine."""
    family = GaugeMetricFamily(
        "vocable_voice_similarity",
        "Cosine similarity (resemblyzer) of a voice profile's speech to its reference sample, "
        "measured at enrolment, per engine that speaks it.",
        labels=["user", "voice", "engine"],
    )
    for user, voice, engine, value in scores:
        family.add_metric([user, voice, engine], value)
    return family


class _Families(Collector):
    """Metric families read by the caller before the scrape (from the database)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        """Yield the families."""
        yield from self.families


def exposition(registry: CollectorRegistry, extra: Iterable[Metric] = ()) -> bytes:
    """The text exposition format of `registry`, then of the `extra` families."""
    text = generate_latest(registry)
    families = list(extra)
    if not families:
        return text
    more = CollectorRegistry(auto_describe=False)
    more.register(_Families(families))
    return text + generate_latest(more)
