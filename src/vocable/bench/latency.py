"""`vocable bench latency`: voice-to-voice latency over a real WebSocket, against a baseline.

A real `vocable serve` process is started for vocable's own turn-taking, then one for the
baseline (fixed 700 ms endpoint, no speculation, speech only after the whole reply), on the same
corpus and engines. The client streams 20 ms frames at wall-clock pace. Voice-to-voice latency
runs from the last speech sample of the user's utterance to when the first reply audio above
-45 dBFS plays, for a client that plays chunks as they arrive: the arrival of the first loud
chunk, plus any silence ahead of the sound in it.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vocable.audio.io import read_audio_file
from vocable.bench.corpus import QUESTIONS, synthesize_speech
from vocable.bench.machine import cpu_load, machine_info
from vocable.bench.server import dump_server, server_stages, server_turn, serving
from vocable.bench.stats import distribution, word_error_rate
from vocable.realtime.client import (
    Conversation,
    converse,
    first_heard,
    first_loud,
    playback_gaps,
    reply_or_nothing,
)
from vocable.realtime.turns import UNFINISHED_WORDS

RATE = 24000
LEAD_S = 0.4
VOICES = ("kal", "slt", "awb", "rms")
LONG_ANSWERS = (
    "Tell me a long story about a dragon who learns to bake bread.",
    "Explain in detail how a steam engine works.",
    "Describe your perfect day from morning to night.",
    "Tell me everything you know about the history of Rome.",
)
"""Questions that draw long replies, for the barge-in scenario."""
REPLY_LIMIT_S = 60.0
"""How long one utterance and its whole reply may take: 96 tokens of SmolLM2 play for 25-30 s."""
BASELINE_ENV = {
    "VOCABLE_REALTIME__SPECULATE": "false",
    "VOCABLE_REALTIME__FIXED_ENDPOINT_MS": "700",
    "VOCABLE_REALTIME__STREAM_TTS": "false",
    "VOCABLE_VAD__TAIL_QUIET_DB": "0",  # a plain pipeline trusts the VAD's own end of speech
}


@dataclass
class Utterance:
    """A spoken input: the text, the audio at `RATE`, and where its speech ends."""

    text: str
    audio: np.ndarray
    speech_end_s: float
    resume_s: float = 0.0  # paused utterances: where speech starts again after the pause


def _speech(text: str, voice: str, tmp: Path) -> np.ndarray:
    path = synthesize_speech(text, tmp / f"{abs(hash((text, voice)))}.wav", voice=voice)
    return read_audio_file(path, target_rate=RATE).samples


def _loud(audio: np.ndarray) -> np.ndarray:
    return np.nonzero(np.abs(audio) > 0.02 * float(np.max(np.abs(audio))))[0]


def _last_speech(audio: np.ndarray) -> float:
    loud = _loud(audio)
    return float(loud[-1] + 1) / RATE if len(loud) else 0.0


def _from_first_speech(audio: np.ndarray) -> np.ndarray:
    """`audio` from 20 ms before its first loud sample (flite leads with 200-300 ms of silence)."""
    loud = _loud(audio)
    return audio[max(0, int(loud[0]) - RATE // 50) :] if len(loud) else audio


def complete_utterance(text: str, voice: str, tmp: Path) -> Utterance:
    """A whole question after `LEAD_S` of silence."""
    speech = _speech(text, voice, tmp)
    audio = np.concatenate([np.zeros(int(LEAD_S * RATE), np.float32), speech])
    return Utterance(text, audio, LEAD_S + _last_speech(speech))


def paused_utterance(text: str, voice: str, pause_s: float, tmp: Path) -> Utterance:
    """A question cut after a function word ("… of", "… the"), `pause_s` of silence, the rest.

    The silence runs from the last loud sample of the first part to 20 ms before the first loud
    sample of the rest.
    """
    words = text.split()
    cuts = [i for i in range(2, len(words) - 1) if words[i - 1].lower() in UNFINISHED_WORDS]
    cut = cuts[len(cuts) // 2] if cuts else len(words) // 2
    first = _speech(" ".join(words[:cut]), voice, tmp)
    # The pause is exactly `pause_s` of silence: the rest starts at its speech, not at flite's
    # leading silence.
    second = _from_first_speech(_speech(" ".join(words[cut:]), voice, tmp))
    head = np.concatenate(
        [
            np.zeros(int(LEAD_S * RATE), np.float32),
            first[: int(_last_speech(first) * RATE)],
            np.zeros(int(pause_s * RATE) - RATE // 50, np.float32),
        ]
    )
    resume = len(head) / RATE
    return Utterance(text, np.concatenate([head, second]), resume + _last_speech(second), resume)


async def _complete(url: str, utt: Utterance) -> dict[str, Any]:
    since = time.time()
    conv = await converse(
        url,
        utt.audio,
        rate=RATE,
        stop_when=reply_or_nothing,
        timeout_s=REPLY_LIMIT_S,
        on_timeout=lambda: dump_server(url),
    )
    return {**_figures(conv, utt), "server": server_turn(url, since)}


def _figures(conv: Conversation, utt: Utterance) -> dict[str, Any]:
    # From when the last speech sample actually went out: a client running late is not
    # counted against the server.
    end = conv.sent_time(int(utt.speech_end_s * RATE)) or utt.speech_end_s

    def since(kind: str) -> float | None:
        found = conv.events(kind)
        return round((found[0].t - end) * 1000, 1) if found else None

    loud = first_heard(conv.audio(), RATE)
    transcript = conv.events("conversation.item.input_audio_transcription.completed")
    stopped = conv.events("input_audio_buffer.speech_stopped")
    heard = transcript[0].event["transcript"] if transcript and transcript[0].event else None
    return {
        "said": utt.text,
        "heard": heard,
        "v2v": round((loud - end) * 1000, 1) if loud is not None else None,
        "endpoint": since("input_audio_buffer.speech_stopped"),
        "transcript": since("conversation.item.input_audio_transcription.completed"),
        "first_text": since("response.output_text.delta"),
        "gaps": playback_gaps(conv.audio(), RATE),
        "wer": word_error_rate(utt.text, heard) if heard is not None else 1.0,
        "cut_in": bool(
            stopped
            and stopped[0].event
            and utt.resume_s
            and stopped[0].event["audio_end_ms"] < utt.resume_s * 1000
        ),
    }


async def _barge_in(url: str, first: Utterance, second: Utterance) -> float | None:
    """Talk over the reply 300 ms into it; None when the reply had ended before the onset."""
    starts: list[int] = []

    def inject(conv: Conversation, t: float) -> np.ndarray | None:
        loud = first_loud(conv.audio(), RATE)
        if starts or loud is None or t < loud + 0.3 - LEAD_S:
            return None
        starts.append(len(conv.sent_at) * RATE * 20 // 1000)
        return second.audio

    def stop(conv: Conversation, t: float) -> bool:
        over = bool(starts) and len(conv.sent_at) * 0.02 > starts[0] / RATE + 8
        return len(conv.events("response.done")) >= 2 or over

    conv = await converse(
        url,
        first.audio,
        rate=RATE,
        inject=inject,
        stop_when=stop,
        timeout_s=REPLY_LIMIT_S,
        on_timeout=lambda: dump_server(url),
    )
    created = conv.events("response.created")
    if not starts or not created or created[0].event is None:
        return None
    level = np.abs(second.audio)
    spoken = int(np.nonzero(level > 0.02 * float(np.max(level)))[0][0])
    onset = conv.sent_time(starts[0] + spoken)  # when the user's speech actually went out
    chunks = conv.audio(created[0].event["response"]["id"])
    if onset is None or not chunks or chunks[-1].t < onset:
        return None  # the reply was over before the user spoke: nothing to react to
    return round((chunks[-1].t - onset) * 1000, 1)


def _summary(runs: list[dict[str, Any]], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("v2v", "endpoint", "transcript", "first_text"):
        values = [r[name] for r in runs if r[name] is not None]
        out.update(distribution(prefix + name, values))
    out[prefix + "gaps_over_40ms"] = sum(r["gaps"] for r in runs)
    out[prefix + "stt_wer_mean"] = round(float(np.mean([r["wer"] for r in runs])), 3)
    out[prefix + "no_reply"] = sum(r["v2v"] is None for r in runs)
    return out


async def run_latency_bench(
    *,
    n: int,
    seed: int = 0,
    load: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run the corpus against vocable and the baseline; return the figures.

    `load` busy-loop processes compete for the cores while both servers run (`cpu_load`): how
    the pipeline fares on a busy or slower machine, against a baseline under the same load.
    """
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="vocable-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        progress("generating the corpus (flite voices, not the reply voice)…")
        texts = [rng.choice(QUESTIONS) for _ in range(n)]
        voices = [VOICES[i % len(VOICES)] for i in range(n)]
        complete = [complete_utterance(t, v, tmp) for t, v in zip(texts, voices, strict=True)]
        paused = [
            paused_utterance(t, v, rng.uniform(0.3, 0.7), tmp)
            for t, v in zip(texts, voices, strict=True)
        ]
        barge = [complete_utterance(rng.choice(QUESTIONS), v, tmp) for v in voices]
        storytellers = [complete_utterance(rng.choice(LONG_ANSWERS), v, tmp) for v in voices]
        result: dict[str, Any] = {"bench": "latency", "n": n, "seed": seed, "cpu_load": load}
        if load:
            progress(f"{load} busy-loop processes compete for the cores from here on")
        with cpu_load(load), serving(tmp / "vocable", {}) as (url, health):
            runs = []
            for i, utt in enumerate(complete, 1):
                runs.append(await _complete(url, utt))
                progress(f"vocable {i}/{n}: voice-to-voice {runs[-1]['v2v']} ms")
            result.update(server_stages(url))
            paused_runs = [await _complete(url, utt) for utt in paused]
            progress("barge-in scenarios…")
            reactions = [
                r
                for a, b in zip(storytellers, barge, strict=True)
                if (r := await _barge_in(url, a, b)) is not None
            ]
        result.update(_summary(runs))
        result.update(_summary(paused_runs, "paused_"))
        result["false_cut_in_ratio"] = round(sum(r["cut_in"] for r in paused_runs) / n, 3)
        result.update(distribution("barge_in_reaction", reactions))
        result["barge_in_n"] = len(reactions)
        with cpu_load(load), serving(tmp / "baseline", BASELINE_ENV) as (url, _):
            base = []
            for i, utt in enumerate(complete, 1):
                base.append(await _complete(url, utt))
                progress(f"baseline {i}/{n}: voice-to-voice {base[-1]['v2v']} ms")
            base_stages = server_stages(url)
            base_paused = [await _complete(url, utt) for utt in paused]
        result["baseline"] = {
            **_summary(base),
            **base_stages,
            "false_cut_in_ratio": round(sum(r["cut_in"] for r in base_paused) / n, 3),
        }
        ours, theirs = result.get("v2v_p50_ms"), result["baseline"].get("v2v_p50_ms")
        result["speedup_ratio"] = round(theirs / ours, 2) if ours and theirs else None
        # Each turn as measured, so a slow one can be traced to its words (an uncertain ending).
        result["turns"] = {"complete": runs, "paused": paused_runs}
        result["machine"] = machine_info(health.get("engines"))
    return result


def summary_line(r: dict[str, Any]) -> str:
    """One line for people."""
    return (
        f"bench latency n={r['n']}: voice-to-voice p50 {r['v2v_p50_ms']} ms, p95 {r['v2v_p95_ms']}"
        f" ms (baseline p50 {r['baseline']['v2v_p50_ms']} ms, speedup {r['speedup_ratio']}x) | "
        f"false cut-ins {r['false_cut_in_ratio']:.0%} | barge-in p95 "
        f"{r['barge_in_reaction_p95_ms']} ms | gaps>40ms {r['gaps_over_40ms']} | "
        f"TTS real-time factor p50 {r.get('server_tts_p50_rtf')}"
        + (f" | under {r['cpu_load']} busy-loop processes" if r.get("cpu_load") else "")
    )
