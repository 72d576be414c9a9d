"""The metrics collector: one per app, fed by the event bus of every session.

Latency comes from pipeline events and from nothing else. Each turn's waterfall is measured from
the end of the user's speech: the last ``speech_stopped`` of the session before the turn's
``turn_started`` (when speech did not resume in between; less its ``silence_s`` payload, the
silence a live endpoint waited for), else ``turn_started`` itself. Work done
speculatively before that moment counts as 0 ms. Voice-to-voice is the first reply audio, but
never earlier than ``turn_started``: held speculative audio is released only then.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from vocable.frames import PipelineEvent, PipelineEventType
from vocable.metrics.audio import AudioQuality
from vocable.metrics.histogram import Histogram, percentile
from vocable.metrics.resources import ResourceProbe
from vocable.metrics.watch import STAGES, TurnRecord, Watch
from vocable.pipeline.clock import Clock, SystemClock
from vocable.pipeline.events import EventBus

E = PipelineEventType
CacheSource = Callable[[], dict[str, tuple[int, int]]]
"""Returns (hits, misses) by cache name; the collector reads it at each snapshot and scrape."""


def embed_caches() -> dict[str, tuple[int, int]]:
    """The LRU counters of the loaded text embedders, as ``embed:<model>``."""
    from vocable.engines.embed.loader import cache_stats

    return {
        f"embed:{model}": (int(stats["hits"]), int(stats["misses"]))
        for model, stats in cache_stats().items()
    }


__all__ = ["STAGES", "MetricsCollector", "TurnRecord", "Watch", "get_collector"]


class MetricsCollector:
    """Turn waterfalls, counters, histograms, audio quality and resources of one app.

    Both ``/v1/metrics`` (`snapshot`) and ``/metrics`` (`vocable.metrics.prometheus`) read this
    one state.

    Args:
        window: How many recent turns are kept (per user, and server-wide).
        clock: Monotonic time of streams watched without an event bus.
        wall: Unix time, for ``started_at``.
        probe: Samples CPU, RAM and GPUs; None makes one.
    """

    def __init__(
        self,
        window: int = 100,
        *,
        clock: Clock | None = None,
        wall: Callable[[], float] = time.time,
        probe: ResourceProbe | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window = window
        self.clock: Clock = clock or SystemClock()
        self.wall = wall
        self.probe = probe or ResourceProbe()
        self.lock = threading.RLock()
        self.turns: deque[TurnRecord] = deque(maxlen=window)
        self._user_turns: dict[int, deque[TurnRecord]] = {}
        self.stage_histograms = {stage: Histogram() for stage in STAGES}
        self.v2v_histogram = Histogram()
        self.turns_total: dict[str, int] = defaultdict(int)
        self.interruptions = 0
        self.fallback_switches = 0
        self.dropped_frames = 0
        self.errors = 0
        self.cache_sources: list[CacheSource] = [embed_caches]
        self.sessions: dict[str, int] = defaultdict(int)
        self.audio = AudioQuality(window)
        self._ids = itertools.count(1)

    def watch(
        self, bus: EventBus | None = None, *, kind: str = "turn", user_id: int | None = None
    ) -> Watch:
        """Follow one session's bus until the returned `Watch` is closed (use it with ``with``).

        Args:
            bus: The session's event bus; None for a stream with no pipeline (e.g. speech).
            kind: The session kind, a Prometheus label: ``realtime``, ``turn``, ``speech``...
            user_id: Whose turns these are (None: visible to admins only).
        """
        with self.lock:
            self.sessions[kind] += 1
            return Watch(self, bus, kind=kind, user_id=user_id, number=next(self._ids))

    def cache_counts(self) -> dict[str, tuple[int, int]]:
        """(hits, misses) of every cache, read from the caches' own counters."""
        counts: dict[str, tuple[int, int]] = {}
        for source in self.cache_sources:
            counts.update(source())
        return counts

    # Called by Watch, under the lock.
    def _session_closed(self, kind: str) -> None:
        self.sessions[kind] = max(0, self.sessions[kind] - 1)

    def _on_event(self, event: PipelineEvent) -> None:
        if event.kind is E.FALLBACK_SWITCHED:
            self.fallback_switches += 1
        elif event.kind is E.FRAMES_DROPPED:
            count = event.payload.get("count")
            self.dropped_frames += count if isinstance(count, int) and count > 0 else 1
        elif event.kind is E.ERROR:
            self.errors += 1

    def _record(self, record: TurnRecord) -> None:
        self.turns.append(record)
        if record.user_id is not None:
            mine = self._user_turns.setdefault(record.user_id, deque(maxlen=self.window))
            mine.append(record)
        self.turns_total[record.kind] += 1
        for stage, value in record.stages().items():
            if value is not None:
                self.stage_histograms[stage].observe(value)
        if record.v2v_ms is not None:
            self.v2v_histogram.observe(record.v2v_ms)

    def _interrupted(self) -> None:
        self.interruptions += 1

    def visible_turns(self, user_id: int | None = None) -> list[TurnRecord]:
        """The recent turns, oldest first: everyone's (None), or one user's."""
        with self.lock:
            if user_id is None:
                return list(self.turns)
            return list(self._user_turns.get(user_id, ()))

    def snapshot(self, user_id: int | None = None) -> dict[str, Any]:
        """The JSON of ``/v1/metrics``: one user's turns, or everyone's when `user_id` is None.

        ``turns``, the percentiles, ``tokens_per_s`` and ``tts_rtf`` come from the visible turns
        (the last `window`); counters, ``v2v_histogram``, ``sessions``, ``audio`` and
        ``resources`` are server-wide, the same figures ``/metrics`` exports.
        """
        resources = self.probe.sample().as_dict()
        with self.lock:
            turns = self.visible_turns(user_id)
            v2v = [t.v2v_ms for t in turns if t.v2v_ms is not None]
            caches = self.cache_counts().values()
            hits = sum(c[0] for c in caches)
            misses = sum(c[1] for c in caches)
            return {
                "turns": [t.as_dict() for t in turns],
                "v2v_p50_ms": _round(percentile(v2v, 50)),
                "v2v_p95_ms": _round(percentile(v2v, 95)),
                "v2v_histogram": {
                    "edges_ms": list(self.v2v_histogram.edges),
                    "counts": list(self.v2v_histogram.counts),
                },
                "tokens_per_s": _mean([t.tokens_per_s for t in turns]),
                "tts_rtf": _mean([t.tts_rtf for t in turns], digits=3),
                "fallback_switches": self.fallback_switches,
                "interruptions": self.interruptions,
                "dropped_frames": self.dropped_frames,
                "cache": {
                    "hits": hits,
                    "misses": misses,
                    "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
                },
                "sessions": sum(self.sessions.values()),
                "audio": {
                    "gaps": self.audio.gaps,
                    "clipping_ratio": self.audio.clipping_ratio,
                    "loudness_dbfs": self.audio.loudness_dbfs,
                },
                "resources": resources,
            }

    def close(self) -> None:
        """Release the resource probe (NVML)."""
        self.probe.close()


def _mean(values: list[float | None], digits: int = 1) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), digits) if known else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def get_collector(app: Any) -> MetricsCollector:
    """The app's collector (``app.state.metrics``), made on first use.

    Accepts a FastAPI/Starlette app, or anything with a ``state`` (a request's ``app``).
    """
    state = app.state
    collector: MetricsCollector | None = getattr(state, "metrics", None)
    if collector is None:
        settings = getattr(state, "settings", None)
        window = settings.metrics.window_turns if settings is not None else 100
        collector = MetricsCollector(window)
        state.metrics = collector
    return collector
