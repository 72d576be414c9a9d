"""Metrics: ``GET /v1/metrics`` (JSON for the dashboard) and ``GET /metrics`` (Prometheus).

Both read the one `MetricsCollector` of the app (see docs/metrics.md); ``/metrics`` also reads
the voice profiles' enrolment similarity from the database at each scrape.

Access:
- ``/v1/metrics`` needs the ``metrics`` scope. An admin sees every user's turns; anyone else
  sees only their own turns (and percentiles over them). Counters, histograms, sessions, audio
  and resources are server-wide aggregates without per-user data.
- ``/metrics`` is open when ``metrics.public`` is true (for a scraper behind a network
  restriction). Otherwise it needs an admin, or an API key that explicitly lists the
  ``metrics`` scope: a dedicated least-privilege scrape key (``vocable keys create --user
  prometheus --scopes metrics``). A non-admin's login token gets 403.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from vocable.api.auth.deps import api_key_scheme, current_principal, oauth2_scheme, require_scope
from vocable.api.auth.service import Principal
from vocable.errors import ForbiddenError, StorageError
from vocable.metrics.collector import get_collector
from vocable.metrics.prometheus import (
    CONTENT_TYPE,
    VoiceScore,
    exposition,
    registry_for,
    voice_similarity,
)
from vocable.storage.db import Database
from vocable.voices import store

log = logging.getLogger(__name__)
router = APIRouter(tags=["metrics"])
MetricsUser = Annotated[Principal, Depends(require_scope("metrics"))]


class TurnOut(BaseModel):
    """One turn's waterfall: ms from the end of the user's speech (null: not reached)."""

    turn_id: str
    started_at: float
    stt_ms: float | None
    first_token_ms: float | None
    first_sentence_ms: float | None
    first_audio_ms: float | None
    v2v_ms: float | None
    tts_rtf: float | None = None
    """Seconds of synthesis per second of reply audio (null: no audio)."""
    interrupted: bool


class HistogramOut(BaseModel):
    """Bucket ``i`` counts values in ``(edges_ms[i-1], edges_ms[i]]``; the last, the rest."""

    edges_ms: list[float]
    counts: list[int]


class CacheOut(BaseModel):
    """Cache look-ups of every cache."""

    hits: int
    misses: int
    hit_rate: float | None


class AudioOut(BaseModel):
    """Quality of the reply audio sent."""

    gaps: int
    clipping_ratio: float | None
    loudness_dbfs: float | None


class GpuOut(BaseModel):
    """One GPU (through NVML)."""

    name: str
    util_percent: float | None
    vram_used_bytes: int | None
    vram_total_bytes: int | None


class ResourcesOut(BaseModel):
    """The machine's use now."""

    cpu_percent: float | None
    ram_used_bytes: int | None
    ram_total_bytes: int | None
    gpus: list[GpuOut]


class MetricsOut(BaseModel):
    """The dashboard's data: recent turns, latency figures, counters, audio, resources."""

    turns: list[TurnOut]
    v2v_p50_ms: float | None
    v2v_p95_ms: float | None
    v2v_histogram: HistogramOut
    tokens_per_s: float | None
    tts_rtf: float | None
    fallback_switches: int
    interruptions: int
    dropped_frames: int
    cache: CacheOut
    sessions: int
    audio: AudioOut
    resources: ResourcesOut


EXAMPLE: dict[str, Any] = {
    "turns": [
        {
            "turn_id": "realtime-3:2",
            "started_at": 1795000000.123,
            "stt_ms": 180.2,
            "first_token_ms": 410.5,
            "first_sentence_ms": 520.0,
            "first_audio_ms": 690.4,
            "v2v_ms": 690.4,
            "tts_rtf": 0.21,
            "interrupted": False,
        }
    ],
    "v2v_p50_ms": 690.4,
    "v2v_p95_ms": 690.4,
    "v2v_histogram": {
        "edges_ms": [50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000],
        "counts": [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    },
    "tokens_per_s": 42.7,
    "tts_rtf": 0.21,
    "fallback_switches": 0,
    "interruptions": 0,
    "dropped_frames": 0,
    "cache": {"hits": 3, "misses": 1, "hit_rate": 0.75},
    "sessions": 1,
    "audio": {"gaps": 0, "clipping_ratio": 0.0, "loudness_dbfs": -21.4},
    "resources": {
        "cpu_percent": 37.5,
        "ram_used_bytes": 3221225472,
        "ram_total_bytes": 8589934592,
        "gpus": [],
    },
}


@router.get(
    "/v1/metrics",
    summary="Live metrics for the dashboard",
    operation_id="getMetrics",
    response_model=MetricsOut,
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}},
)
async def get_metrics(request: Request, principal: MetricsUser) -> dict[str, Any]:
    """Recent turns (yours; everyone's for an admin), latency, counters, audio and resources."""
    collector = get_collector(request.app)
    return collector.snapshot(None if principal.is_admin else principal.user_id)


async def scrape_access(
    request: Request,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> None:
    """Let a scrape through: open when ``metrics.public``, else admin or a ``metrics`` key.

    Raises:
        AuthError: 401 without valid credentials.
        ForbiddenError: 403 for anyone else.
    """
    if request.app.state.settings.metrics.public:
        return
    principal = await current_principal(request, bearer, api_key)
    explicit = principal.scopes is not None and "metrics" in principal.scopes
    if explicit or (principal.is_admin and principal.has_scope("metrics")):
        return
    raise ForbiddenError(
        "/metrics needs an admin or an API key with the 'metrics' scope",
        code="auth.missing_scope",
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    operation_id="getPrometheusMetrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "The Prometheus text exposition format.",
        }
    },
    dependencies=[Depends(scrape_access)],
)
async def prometheus_metrics(request: Request) -> Response:
    """Histograms, counters and gauges in the Prometheus text format (see docs/metrics.md).

    Voice similarities are read from the profile store at each scrape, so a deleted or renamed
    profile is gone from the next scrape.
    """
    state = request.app.state
    registry = getattr(state, "metrics_registry", None)
    if registry is None:
        registry = state.metrics_registry = registry_for(get_collector(request.app))
    db: Database | None = getattr(state, "db", None)
    scores: list[VoiceScore] = []
    if db is not None:
        try:
            scores = await voice_scores(db)
        except StorageError as err:  # the rest of the scrape is still worth having
            log.warning("voice similarity left out of /metrics: %s", err)
    return Response(exposition(registry, [voice_similarity(scores)]), media_type=CONTENT_TYPE)


async def voice_scores(db: Database) -> list[VoiceScore]:
    """Every profile's enrolment similarities, as ``(user, voice, engine, similarity)``."""
    return [
        (user, profile.name, engine, value)
        for user, profile in await store.every_profile(db)
        for engine, value in profile.similarities.items()
    ]
