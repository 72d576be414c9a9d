"""`vocable bench voices`: voice matching against a generated set of reference speakers.

Each reference speaker is a system voice other than Piper's joe (flite slt, awb, rms, kal;
espeak-ng variants), speaking about ten seconds into a temporary directory. For each one the
bench enrols a profile through `VoiceService` (sample checks, fitting), then speaks held-out
sentences with the plain voice and the matched voice and reports:

- the speaker similarity of the plain voice to the reference (the baseline) and of the matched
  voice, and the gain;
- the word error rate of the matched speech (and of the plain speech), transcribed by the STT;
- the time to first audio with and without matching (per sentence), and the matching overhead:
  how much later the matched first chunk comes than the plain engine's first chunk, measured
  inside the same call (two separate first-audio timings differ by more than that in noise).
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from vocable.audio.convert import pcm16_to_float, resample
from vocable.bench.machine import machine_info
from vocable.bench.stats import distribution, word_error_rate
from vocable.config import Settings
from vocable.engines.loader import load_stt, load_tts
from vocable.engines.tts.base import TextToSpeech
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.voices.embedding import RATE, SpeakerEncoder
from vocable.voices.service import VoiceService

REFERENCE_TEXT = (
    "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
    "Peter Piper picked a peck of pickled peppers. How much wood would a woodchuck chuck?"
)
EVAL_SENTENCES = (
    "Good morning, the coffee is ready in the kitchen.",
    "Remember to take an umbrella, it will rain this afternoon.",
    "Your meeting with the design team starts right after lunch.",
)
SPEAKERS: tuple[tuple[str, list[str]], ...] = (
    ("flite-slt", ["flite", "-voice", "slt", "-t", "{text}", "-o", "{out}"]),
    ("flite-awb", ["flite", "-voice", "awb", "-t", "{text}", "-o", "{out}"]),
    ("flite-rms", ["flite", "-voice", "rms", "-t", "{text}", "-o", "{out}"]),
    ("flite-kal", ["flite", "-voice", "kal", "-t", "{text}", "-o", "{out}"]),
    ("espeak-ng-annie", ["espeak-ng", "-v", "en-us+Annie", "-w", "{out}", "{text}"]),
    ("espeak-ng-andy", ["espeak-ng", "-v", "en-us+Andy", "-w", "{out}", "{text}"]),
)
"""Reference speakers: name and command line (flite's kal is 8 kHz and is resampled to 16 kHz)."""


def make_reference(command: list[str], out: Path) -> Path:
    """Speak `REFERENCE_TEXT` into `out` at 16 kHz or more."""
    raw = out.with_suffix(".raw.wav")
    args = [a.format(text=REFERENCE_TEXT, out=raw) for a in command]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    data, rate = sf.read(str(raw), dtype="float32", always_2d=True)
    if rate < RATE:
        data, rate = resample(data[:, 0], int(rate), RATE)[:, None], RATE
    sf.write(str(out), data, int(rate), subtype="PCM_16")
    return out


async def first_audio_ms(tts: TextToSpeech, text: str) -> tuple[float, np.ndarray]:
    """Time to the first chunk (ms) and the whole audio (float, at the engine's rate)."""
    start = time.perf_counter()
    first: float | None = None
    pcm: list[bytes] = []
    async for chunk in tts.synthesize(text):
        if first is None:
            first = (time.perf_counter() - start) * 1000
        pcm.append(chunk.pcm)
    return first or 0.0, pcm16_to_float(b"".join(pcm))


async def run_voices_bench(
    settings: Settings,
    *,
    speakers: Sequence[tuple[str, list[str]]] = SPEAKERS,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Enrol each reference speaker and measure similarity, WER and first-audio latency."""
    with tempfile.TemporaryDirectory(prefix="vocable-bench-voices-") as tmp:
        folder = Path(tmp)
        progress(f"speaking {len(speakers)} reference speakers…")
        refs = {name: make_reference(cmd, folder / f"{name}.wav") for name, cmd in speakers}
        local = settings.model_copy(update={"data_dir": folder / "data"})
        local.data_dir.mkdir()
        progress("loading the speaker encoder, TTS and STT…")
        encoder = await SpeakerEncoder.load()
        tts = await load_tts(local)
        stt = await load_stt(local)
        db = await Database.open(local.storage, data_dir=local.data_dir)
        try:
            async with db.uow() as tx:
                user_id = (await repo.create_user(tx, name="bench")).id
            service = VoiceService(local, db, encoder, tts)
            await first_audio_ms(tts, "Warm up.")
            rows = []
            for name, path in refs.items():
                progress(f"{name}: enrolling and measuring…")
                rows.append(await _measure(service, stt, user_id, name, path))
            engines = {
                "tts": tts.info.as_dict(),
                "stt": stt.info.as_dict(),
                "speaker": encoder.info.as_dict(),
            }
        finally:
            await db.close()
            await stt.close()
            await tts.close()
            await encoder.close()
    return _summary(rows, engines)


async def _measure(
    service: VoiceService, stt: Any, user_id: int, name: str, path: Path
) -> dict[str, Any]:
    t0 = time.perf_counter()
    profile = await service.add(user_id=user_id, name=name, sample=path)
    enrol_s = time.perf_counter() - t0
    matched_tts = service.speaker(profile)
    plain_ms, matched_ms, plain, matched, errors, plain_errors = [], [], [], [], [], []
    for text in EVAL_SENTENCES:
        ms, audio = await first_audio_ms(service.tts, text)
        plain_ms.append(ms)
        plain.append(audio)
        heard = await stt.transcribe(resample(audio, service.tts.sample_rate, RATE))
        plain_errors.append(word_error_rate(text, heard.text))
        ms, audio = await first_audio_ms(matched_tts, text)
        matched_ms.append(ms)
        matched.append(audio)
        heard = await stt.transcribe(resample(audio, service.tts.sample_rate, RATE))
        errors.append(word_error_rate(text, heard.text))
    reference = profile.embedding
    baseline = await service.similarity(reference, np.concatenate(plain))
    similarity = await service.similarity(reference, np.concatenate(matched))
    return {
        "speaker": name,
        "matching_overhead_ms": [round(v, 1) for v in matched_tts.overheads_ms],
        "baseline_similarity": round(baseline, 3),
        "matched_similarity": round(similarity, 3),
        "similarity_gain": round(similarity - baseline, 3),
        "enrolment_similarity": profile.similarity,
        "wer_ratio": round(statistics.fmean(errors), 3),
        "wer_plain_ratio": round(statistics.fmean(plain_errors), 3),
        "first_audio_plain_ms": [round(v, 1) for v in plain_ms],
        "first_audio_matched_ms": [round(v, 1) for v in matched_ms],
        "enrol_s": round(enrol_s, 2),
        "match": profile.details["match"],
    }


def _summary(rows: list[dict[str, Any]], engines: dict[str, Any]) -> dict[str, Any]:
    plain = [v for r in rows for v in r["first_audio_plain_ms"]]
    matched = [v for r in rows for v in r["first_audio_matched_ms"]]
    overhead = [v for r in rows for v in r["matching_overhead_ms"]]
    out: dict[str, Any] = {
        "bench": "voices",
        "n": len(rows),
        "sentences_per_speaker": len(EVAL_SENTENCES),
        "baseline_similarity_mean": round(
            statistics.fmean(r["baseline_similarity"] for r in rows), 3
        ),
        "matched_similarity_mean": round(
            statistics.fmean(r["matched_similarity"] for r in rows), 3
        ),
        "similarity_gain_mean": round(statistics.fmean(r["similarity_gain"] for r in rows), 3),
        "wer_mean_ratio": round(statistics.fmean(r["wer_ratio"] for r in rows), 3),
        "wer_plain_mean_ratio": round(statistics.fmean(r["wer_plain_ratio"] for r in rows), 3),
    }
    out.update(distribution("first_audio_plain", plain))
    out.update(distribution("first_audio_matched", matched))
    out.update(distribution("matching_overhead", overhead))
    out["speakers"] = rows
    out["machine"] = machine_info(engines)
    return out


def summary_line(result: dict[str, Any]) -> str:
    """One line for people."""
    return (
        f"bench voices n={result['n']}: similarity {result['baseline_similarity_mean']} plain -> "
        f"{result['matched_similarity_mean']} matched (gain {result['similarity_gain_mean']}) | "
        f"WER {result['wer_mean_ratio']} matched, {result['wer_plain_mean_ratio']} plain | "
        f"first audio p50 "
        f"{result['first_audio_plain_p50_ms']} ms plain, {result['first_audio_matched_p50_ms']} "
        f"ms matched (overhead p50 {result['matching_overhead_p50_ms']} ms, p95 "
        f"{result['matching_overhead_p95_ms']} ms)"
    )
