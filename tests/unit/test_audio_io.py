"""Decoding, validation, framing and WAV output of `vocable.audio.io`."""

from __future__ import annotations

import io
import random
import shutil
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vocable.audio.io import (
    DecodedAudio,
    decode_audio,
    encode_wav,
    frames_from_samples,
    read_audio_file,
    write_wav,
)
from vocable.errors import AudioInputError

needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")


def sine(freq: float, rate: int, seconds: float, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    tone = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([tone] * channels, axis=1) if channels > 1 else tone


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def peak_hz(audio: DecodedAudio) -> float:
    spectrum = np.abs(np.fft.rfft(audio.samples * np.hanning(len(audio.samples))))
    freqs = np.fft.rfftfreq(len(audio.samples), 1 / audio.sample_rate)
    return float(freqs[int(np.argmax(spectrum))])


def assert_code(err: pytest.ExceptionInfo[AudioInputError], code: str) -> None:
    assert err.value.code == code, err.value.message


# --- decoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext"),
    [("WAV", "PCM_16", "wav"), ("FLAC", "PCM_16", "flac"), ("OGG", "VORBIS", "ogg")],
)
@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_formats_and_rates_decode_to_16k_mono(
    tmp_path: Path, fmt: str, subtype: str, ext: str, rate: int
) -> None:
    path = tmp_path / f"tone.{ext}"
    sf.write(path, sine(440.0, rate, 1.5, channels=2), rate, format=fmt, subtype=subtype)

    for audio in (read_audio_file(path), decode_audio(path.read_bytes())):
        assert audio.sample_rate == 16000
        assert audio.samples.dtype == np.float32
        assert audio.samples.ndim == 1
        assert audio.source_rate == rate
        assert audio.source_channels == 2
        assert audio.source_format == fmt.lower()
        assert audio.duration_s == pytest.approx(1.5, rel=0.01)
        assert len(audio.samples) == pytest.approx(1.5 * 16000, rel=0.01)
        assert peak_hz(audio) == pytest.approx(440.0, abs=2.0)


def test_opus_decodes(tmp_path: Path) -> None:
    if "OPUS" not in sf.available_subtypes("OGG"):
        pytest.skip("this libsndfile has no Opus")
    path = tmp_path / "tone.opus"
    sf.write(path, sine(1000.0, 48000, 1.0), 48000, format="OGG", subtype="OPUS")
    audio = read_audio_file(path)
    assert audio.duration_s == pytest.approx(1.0, rel=0.01)
    assert peak_hz(audio) == pytest.approx(1000.0, abs=3.0)


def test_stereo_downmix_averages_channels() -> None:
    left = sine(300.0, 16000, 1.0)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    audio = decode_audio(wav_bytes(stereo, 16000, subtype="FLOAT"))
    assert np.allclose(audio.samples, left / 2, atol=1e-6)


def test_target_rate_and_float_subtype() -> None:
    audio = decode_audio(wav_bytes(sine(1000.0, 44100, 0.5), 44100, "FLOAT"), target_rate=24000)
    assert audio.sample_rate == 24000
    assert len(audio.samples) == pytest.approx(12000, abs=2)
    assert peak_hz(audio) == pytest.approx(1000.0, abs=3.0)


@needs_sox
@needs_flite
@pytest.mark.parametrize(
    ("ext", "args"),
    [
        ("wav", ["-r", "44100", "-c", "2"]),
        ("flac", ["-r", "22050"]),
        ("ogg", ["-r", "48000", "-c", "2"]),
        ("wav", ["-r", "8000", "-b", "8"]),
    ],
)
def test_flite_speech_converted_by_sox(tmp_path: Path, ext: str, args: list[str]) -> None:
    spoken = tmp_path / "speech.wav"
    subprocess.run(
        ["flite", "-voice", "slt", "-t", "What is the capital of France?", "-o", str(spoken)],
        check=True,
        timeout=30,
    )
    original = read_audio_file(spoken)
    converted = tmp_path / f"converted.{ext}"
    subprocess.run(["sox", str(spoken), *args, str(converted)], check=True, timeout=30)

    audio = read_audio_file(converted)
    assert audio.sample_rate == 16000
    assert audio.source_format == ext
    assert audio.duration_s == pytest.approx(original.duration_s, rel=0.01)
    assert np.max(np.abs(audio.samples)) > 0.05


@needs_sox
def test_sox_sine_frequency_preserved(tmp_path: Path) -> None:
    path = tmp_path / "tone.flac"
    cmd = ["sox", "-n", "-r", "44100", "-c", "2", str(path), "synth", "2", "sine", "523.25"]
    subprocess.run(cmd, check=True, timeout=30)
    audio = read_audio_file(path)
    assert audio.source_channels == 2
    assert audio.duration_s == pytest.approx(2.0, rel=0.01)
    assert peak_hz(audio) == pytest.approx(523.25, abs=1.0)


# --- rejections -----------------------------------------------------------------------------


def test_empty_bytes() -> None:
    with pytest.raises(AudioInputError) as err:
        decode_audio(b"", filename="clip.wav")
    assert_code(err, "audio.empty")
    assert "clip.wav" in err.value.message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.touch()
    with pytest.raises(AudioInputError) as err:
        read_audio_file(path)
    assert_code(err, "audio.empty")


def test_header_without_samples() -> None:
    with pytest.raises(AudioInputError) as err:
        decode_audio(wav_bytes(np.zeros(0, dtype=np.float32), 16000))
    assert_code(err, "audio.empty")


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is a text file\n" * 20,
        b"\x89PNG\r\n\x1a\n" + bytes(200),
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        b"{}",
        bytes(1000),
    ],
    ids=["text", "png", "truncated-header", "json", "zeros"],
)
def test_not_audio(data: bytes) -> None:
    with pytest.raises(AudioInputError) as err:
        decode_audio(data, filename="upload.bin")
    assert_code(err, "audio.not_audio")
    assert "upload.bin" in err.value.message
    assert "WAV, FLAC or OGG" in err.value.message
    assert "BytesIO" not in err.value.message


def test_too_long_names_limit_and_setting() -> None:
    with pytest.raises(AudioInputError) as err:
        decode_audio(wav_bytes(sine(200.0, 8000, 3.0), 8000), max_seconds=2.0)
    assert_code(err, "audio.too_long")
    assert "2 s" in err.value.message
    assert "VOCABLE_AUDIO__MAX_INPUT_SECONDS" in err.value.message


def test_too_long_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded although the header already said too long")

    monkeypatch.setattr(sf.SoundFile, "read", no_read)
    with pytest.raises(AudioInputError) as err:
        decode_audio(wav_bytes(sine(200.0, 8000, 3.0), 8000), max_seconds=1.0)
    assert_code(err, "audio.too_long")


def test_limit_is_inclusive() -> None:
    audio = decode_audio(wav_bytes(sine(200.0, 8000, 2.0), 8000), max_seconds=2.0)
    assert audio.duration_s == pytest.approx(2.0)


@pytest.mark.parametrize("amp", [0.0, 1e-4, 5e-4])
def test_silent(amp: float) -> None:
    with pytest.raises(AudioInputError) as err:
        decode_audio(wav_bytes(sine(440.0, 16000, 1.0, amp=amp), 16000, "FLOAT"))
    assert_code(err, "audio.silent")
    assert "no speech found" in err.value.message


def test_quiet_but_not_silent_passes() -> None:
    audio = decode_audio(wav_bytes(sine(440.0, 16000, 1.0, amp=0.01), 16000))
    assert audio.duration_s == pytest.approx(1.0)


def test_nan_samples_rejected() -> None:
    samples = sine(440.0, 16000, 0.5)
    samples[100] = np.nan
    with pytest.raises(AudioInputError) as err:
        decode_audio(wav_bytes(samples, 16000, "FLOAT"))
    assert_code(err, "audio.not_audio")


def test_not_found(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError) as err:
        read_audio_file(tmp_path / "missing.wav")
    assert_code(err, "audio.not_found")
    with pytest.raises(AudioInputError) as err:
        decode_audio(tmp_path / "missing.wav")
    assert_code(err, "audio.not_found")
    with pytest.raises(AudioInputError) as err:
        read_audio_file(tmp_path)
    assert_code(err, "audio.not_found")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        decode_audio(b"x", target_rate=0)
    with pytest.raises(ValueError, match="positive"):
        decode_audio(b"x", max_seconds=0)


# --- fuzzing: corrupt input raises AudioInputError and nothing else -------------------------


def decode_or_reject(data: bytes, max_seconds: float = 60.0) -> DecodedAudio | AudioInputError:
    try:
        return decode_audio(data, max_seconds=max_seconds)
    except AudioInputError as err:
        assert err.code in {"audio.empty", "audio.not_audio", "audio.too_long", "audio.silent"}
        return err


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_16")])
def test_truncated_at_every_offset(fmt: str, subtype: str) -> None:
    buf = io.BytesIO()
    sf.write(buf, sine(440.0, 16000, 0.25), 16000, format=fmt, subtype=subtype)
    data = buf.getvalue()
    offsets = list(range(0, min(len(data), 200))) + list(range(200, len(data), 97))
    for cut in offsets:
        result = decode_or_reject(data[:cut])
        if isinstance(result, DecodedAudio):
            assert result.duration_s <= 0.25 + 1e-6


def test_truncated_ogg() -> None:
    buf = io.BytesIO()
    sf.write(buf, sine(440.0, 16000, 0.5), 16000, format="OGG", subtype="VORBIS")
    data = buf.getvalue()
    for cut in range(0, len(data), max(1, len(data) // 150)):
        decode_or_reject(data[:cut])


def test_random_bytes() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        size = rng.choice([1, 4, 12, 44, 100, 1000, 5000])
        decode_or_reject(rng.randbytes(size))


def test_random_byte_flips_in_valid_files() -> None:
    rng = random.Random(99)
    for fmt, subtype in [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS")]:
        buf = io.BytesIO()
        sf.write(buf, sine(440.0, 16000, 0.25), 16000, format=fmt, subtype=subtype)
        data = buf.getvalue()
        for _ in range(100):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                mutated[rng.randrange(min(len(mutated), 128))] = rng.randrange(256)
            decode_or_reject(bytes(mutated), max_seconds=5.0)


def wav_header(
    *, channels: int = 1, rate: int = 16000, bits: int = 16, data_size: int = 32000
) -> bytes:
    """A PCM WAV header; fields wrap like a careless writer's would."""
    u32, u16 = 0xFFFFFFFF, 0xFFFF
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * block) & u32, block & u16, bits)
    riff_size = struct.pack("<I", (36 + data_size) & u32)
    chunks = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data_size)
    return b"RIFF" + riff_size + chunks


@pytest.mark.parametrize(
    "header",
    [
        wav_header(rate=0),
        wav_header(rate=1),
        wav_header(rate=4_000_000_000),
        wav_header(channels=0),
        wav_header(channels=65535),
        wav_header(bits=0),
        wav_header(bits=13),
        wav_header(bits=64),
        wav_header(data_size=0xFFFFFFFF),
        wav_header(data_size=0),
    ],
    ids=[
        "rate0",
        "rate1",
        "rate-huge",
        "channels0",
        "channels-huge",
        "bits0",
        "bits13",
        "bits64",
        "data-huge",
        "data0",
    ],
)
def test_absurd_wav_headers(header: bytes) -> None:
    body = (sine(440.0, 16000, 0.1) * 32767).astype("<i2").tobytes()
    result = decode_or_reject(header + body)
    if isinstance(result, DecodedAudio):
        assert result.duration_s < 1.0


def test_header_claiming_an_hour_is_rejected_from_the_header() -> None:
    rate = 8000
    body = (sine(440.0, rate, 3.0) * 32767).astype("<i2").tobytes()
    data = wav_header(rate=rate, data_size=rate * 2 * 3600) + body
    with pytest.raises(AudioInputError) as err:
        decode_audio(data, max_seconds=1.0)
    assert_code(err, "audio.too_long")


# --- frames and WAV output ------------------------------------------------------------------


def test_frames_from_samples_pads_last_frame() -> None:
    samples = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    frames = list(frames_from_samples(samples, 16000, 320, turn_id=3))
    assert len(frames) == 4
    assert all(f.num_samples == 320 and f.sample_rate == 16000 for f in frames)
    assert all(f.turn_id == 3 for f in frames)
    joined = np.concatenate([f.samples() for f in frames])
    assert np.allclose(joined[:1000], samples, atol=1 / 16000)
    assert not joined[1000:].any()


def test_frames_from_samples_edges() -> None:
    assert list(frames_from_samples(np.zeros(0, dtype=np.float32), 16000, 512)) == []
    exact = list(frames_from_samples(np.zeros(1024, dtype=np.float32), 16000, 512))
    assert len(exact) == 2
    with pytest.raises(ValueError, match="positive"):
        list(frames_from_samples(np.zeros(10, dtype=np.float32), 16000, 0))


def test_encode_wav_from_float_int16_and_bytes() -> None:
    tone = sine(440.0, 22050, 0.5)
    from_float = encode_wav(tone, 22050)
    from_int = encode_wav((tone * 32767).round().astype(np.int16), 22050)
    pcm = (tone * 32767).round().astype("<i2").tobytes()
    assert from_float == from_int == encode_wav(pcm, 22050)
    with wave.open(io.BytesIO(from_float)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        assert wav.getnframes() == len(tone)
    decoded, rate = sf.read(io.BytesIO(from_float), dtype="float32")
    assert rate == 22050
    assert np.allclose(decoded, tone, atol=1e-4)


def test_encode_wav_downmixes_and_validates() -> None:
    stereo = sine(440.0, 16000, 0.1, channels=2)
    with wave.open(io.BytesIO(encode_wav(stereo, 16000))) as wav:
        assert wav.getnchannels() == 1
    with pytest.raises(ValueError, match="16-bit"):
        encode_wav(b"\x00", 16000)
    with pytest.raises(ValueError, match="positive"):
        encode_wav(b"", 0)


def test_write_wav_round_trip(tmp_path: Path) -> None:
    pcm = (sine(440.0, 16000, 0.5) * 32767).astype("<i2").tobytes()
    target = tmp_path / "nested" / "reply.wav"
    assert write_wav(target, pcm, 16000) == target
    assert list(target.parent.iterdir()) == [target]
    audio = read_audio_file(target)
    assert audio.duration_s == pytest.approx(0.5)
    assert audio.source_format == "wav"
