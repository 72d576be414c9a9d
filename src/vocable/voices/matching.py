"""Offline voice matching: move a non-cloning engine's speech (Piper) toward a reference speaker.

This is *voice matching*, not cloning: Praat's "Change Gender" (praat-parselmouth, PSOLA) sets
the pitch median and range to the reference's and shifts the formants (spectral envelope). The
formant shift is fitted per profile at enrolment by maximising the speaker similarity of the
engine's transformed speech to the whole sample: a coarse grid, then its best point's neighbours.

The fit is scored on about 10 s of the engine's speech (several sentences, `VoicesSettings`
``similarity_text`` and ``fit_texts``): on one 3.7 s sentence the embedding of each candidate was
so noisy that the chosen ratio changed from one Piper rendition to the next (flite slt: 1.16 or
1.24, a bench gain of 0.12 or 0.15). Scoring against the whole sample's embedding (the one a
profile is scored with) rather than its held-out last 30 % also made the choice steadier.

The timing is not stretched (`FITTED_DURATION_FACTOR`): PSOLA stretches by repeating pitch
periods, which the STT hears as slurred speech, and the speaker encoder hardly hears the rate.
On `vocable bench voices` (8 renditions of each sentence) stretching to the reference's rate
raised the matched speech's word error rate from 0.092 to 0.139 (plain voice: 0.104) and gave no
similarity (gain 0.162 with, 0.168 without). `MatchParams.duration_factor` is still applied, for
profiles stored before.
"""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from vocable.audio.convert import float_to_pcm16, pcm16_to_float, resample
from vocable.engines.base import EngineInfo
from vocable.engines.tts.base import TextToSpeech
from vocable.frames import PCM16_BYTES, AudioChunk
from vocable.voices import analysis, spectral
from vocable.voices.analysis import FloatAudio
from vocable.voices.embedding import RATE, SpeakerEncoder, cosine

FORMANT_GRID = (0.84, 0.92, 1.0, 1.08, 1.16, 1.24)
"""Formant shift ratios tried first at enrolment (above 1.24 the STT mishears more words)."""
FORMANT_REFINE_STEP = 0.04
"""Then the best grid ratio's neighbours this far either side are tried."""
OVERHEADS_KEPT = 1000
"""Calls whose first-audio overhead is kept (a profile's engine lives as long as the server)."""
HELD_OUT_SHARE = 0.3
"""The last part of the sample kept out of the pitch and equaliser fit (its score is stored)."""
FITTED_DURATION_FACTOR = 1.0
"""The duration factor every fit gives: no time stretch (see the module docstring)."""
PRAAT_SEED = 1
"""Praat's PSOLA draws random pulses; seeding it makes a transform (and so a fit) repeatable."""
_PRAAT_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class MatchParams:
    """How to transform an engine's speech toward one reference speaker."""

    pitch_median_hz: float
    pitch_range_factor: float
    formant_shift_ratio: float
    duration_factor: float
    eq_db: tuple[float, ...] = ()
    """Equaliser gains on `vocable.voices.spectral.GRID_HZ` (empty: no equaliser)."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["eq_db"] = [round(g, 2) for g in self.eq_db]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatchParams:
        """The parameters back from `as_dict`."""
        return cls(**{**data, "eq_db": tuple(data.get("eq_db", ()))})


def transform(samples: FloatAudio, rate: int, params: MatchParams) -> FloatAudio:
    """Apply the match to mono float audio (Praat "Change Gender"); same rate out.

    The same input and parameters give the same output (Praat's generator is seeded).
    """
    pm = analysis.optional_module("parselmouth", "voice matching")
    if len(samples) < rate // 20:
        return samples
    sound = pm.Sound(samples.astype(np.float64), sampling_frequency=rate)
    with _PRAAT_LOCK, warnings.catch_warnings():  # the generator is global: seed and use it
        # A piece with no voiced frame (a breath, a fricative) comes back unchanged, as it should.
        warnings.simplefilter("ignore", pm.PraatWarning)
        pm.praat.run(f"random_initializeWithSeedUnsafelyButPredictably ({PRAAT_SEED})")
        changed = pm.praat.call(
            sound,
            "Change gender",
            75,
            600,
            params.formant_shift_ratio,
            params.pitch_median_hz,
            params.pitch_range_factor,
            params.duration_factor,
        )
    out = np.asarray(changed.values[0], dtype=np.float32)
    out = spectral.apply_eq(out, rate, np.asarray(params.eq_db))
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    return out / peak * 0.95 if peak > 0.99 else out


def initial_params(reference: FloatAudio, synthetic: FloatAudio, synth_rate: int) -> MatchParams:
    """Pitch median and range factor from the two voices' statistics; no time stretch."""
    ref = analysis.pitch_stats(reference, RATE)
    own = analysis.pitch_stats(synthetic, synth_rate)
    ref_span = max(1.0, ref["f0_p90_hz"] - ref["f0_p10_hz"])
    own_span = max(1.0, own["f0_p90_hz"] - own["f0_p10_hz"])
    return MatchParams(
        pitch_median_hz=ref["f0_median_hz"],
        pitch_range_factor=float(np.clip(ref_span / own_span, 0.5, 2.0)),
        formant_shift_ratio=1.0,
        duration_factor=FITTED_DURATION_FACTOR,
    )


async def fit(
    reference: FloatAudio,
    synthetic: FloatAudio,
    synth_rate: int,
    encoder: SpeakerEncoder,
    *,
    target: np.ndarray | None = None,
) -> tuple[MatchParams, float]:
    """Fit the match for one profile. Returns the parameters and their held-out similarity.

    Args:
        reference: The normalised reference sample, 16 kHz mono.
        synthetic: The engine's plain speech, at `synth_rate`: several sentences (about 10 s)
            make a steady fit.
        synth_rate: Rate of `synthetic`.
        encoder: Speaker encoder used to score candidates.
        target: The embedding of the whole `reference` candidates are scored against (computed
            when not given).
    """
    cut = int(len(reference) * (1 - HELD_OUT_SHARE))
    held_out = (await encoder.embed(reference[cut:])).vector
    whole = (await encoder.embed(reference)).vector if target is None else target
    base = initial_params(reference[:cut], synthetic, synth_rate)
    scored: dict[float, tuple[float, float, MatchParams]] = {}

    async def score(ratio: float) -> None:
        shifted = replace(base, formant_shift_ratio=ratio)
        plain = await asyncio.to_thread(transform, synthetic, synth_rate, shifted)
        eq = spectral.equaliser(reference[:cut], RATE, plain, synth_rate)
        out = resample(spectral.apply_eq(plain, synth_rate, eq), synth_rate, RATE)
        vector = (await encoder.embed(out)).vector
        candidate = replace(shifted, eq_db=tuple(float(g) for g in eq))
        scored[ratio] = (cosine(whole, vector), cosine(held_out, vector), candidate)

    for ratio in FORMANT_GRID:
        await score(ratio)
    centre = max(scored, key=lambda r: scored[r][0])
    for ratio in (centre - FORMANT_REFINE_STEP, centre + FORMANT_REFINE_STEP):
        if FORMANT_GRID[0] <= ratio <= FORMANT_GRID[-1]:
            await score(round(ratio, 3))
    _, held_score, best = max(scored.values(), key=lambda s: s[0])
    return best, held_score


def split_point(samples: FloatAudio, rate: int) -> int:
    """Where to cut a sentence so its head can be transformed (and heard) first.

    The quietest 20 ms between 0.35 and 0.9 s; a sentence shorter than 1.4 s stays whole.
    """
    lo, hi = int(0.35 * rate), int(0.9 * rate)
    if len(samples) < hi + rate // 2:
        return len(samples)
    frame = rate // 50
    count = (hi - lo) // frame
    energy = np.mean(samples[lo : lo + count * frame].reshape(count, frame) ** 2, axis=1)
    return lo + int(np.argmin(energy)) * frame + frame // 2


class MatchedTTS:
    """A `TextToSpeech` that speaks through `inner` and transforms each call's audio.

    Each call (one sentence in the pipeline) is collected, cut once at a quiet point near its
    start (`split_point`), and each piece is transformed on a thread and re-cut into chunks of
    the inner engine's size. The head's transform time is the added first-audio latency.
    """

    def __init__(self, inner: TextToSpeech, params: MatchParams, *, profile: str) -> None:
        self.inner = inner
        self.params = params
        self.sample_rate = inner.sample_rate
        self.overheads_ms: deque[float] = deque(maxlen=OVERHEADS_KEPT)
        """Per call: how much later the first chunk came than the inner engine's first chunk."""
        self.info = EngineInfo(
            kind="tts",
            name=f"{inner.info.name}+voice-matching",
            model=f"{inner.info.model} matched to {profile}",
            model_path=inner.info.model_path,
            version=inner.info.version,
        )

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        """Speak `text` with the inner engine, matched to the profile's voice."""
        pcm: list[bytes] = []
        chunk_bytes = 0
        first_at: float | None = None
        async for chunk in self.inner.synthesize(text, voice):
            first_at = time.perf_counter() if first_at is None else first_at
            pcm.append(chunk.pcm)
            chunk_bytes = max(chunk_bytes, len(chunk.pcm))
        if not pcm or first_at is None:
            return
        audio = pcm16_to_float(b"".join(pcm))
        cut = split_point(audio, self.sample_rate)
        step = max(PCM16_BYTES, chunk_bytes)
        for i, piece in enumerate((audio[:cut], audio[cut:])):
            if not len(piece):
                continue
            matched = float_to_pcm16(
                await asyncio.to_thread(transform, piece, self.sample_rate, self.params)
            )
            if i == 0:
                self.overheads_ms.append((time.perf_counter() - first_at) * 1000)
            for start in range(0, len(matched), step):
                yield AudioChunk(matched[start : start + step], self.sample_rate)

    async def close(self) -> None:
        """Close the inner engine."""
        await self.inner.close()
