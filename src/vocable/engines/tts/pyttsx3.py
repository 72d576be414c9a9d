"""Last-resort speech through pyttsx3 (espeak-ng on Linux), one child process per utterance.

pyttsx3's espeak-ng driver is not reliable when one engine is reused in a process: espeak-ng
synthesises on its own thread, so ``runAndWait`` can return before ``save_to_file`` has written
anything, and the driver's cancel flag, set whenever its loop ends while espeak-ng is busy, leaks
into the next utterance and cancels it (empty audio in about one call in six when two callers
alternate). A lost end-of-message callback leaves ``runAndWait`` spinning forever. So each
utterance runs pyttsx3 in a fresh child process (about 70 ms, espeak-ng included): the child
waits for the driver's "finished-utterance" notice before it exits, a wedged child is killed
after a timeout, and no state survives from one call to the next. The parent reads the WAV file
back with soundfile and deletes it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Self

import soundfile as sf

from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.worker import BlockingWorker
from vocable.errors import (
    ConfigError,
    EngineError,
    EngineUnavailableError,
    PipelineClosedError,
)
from vocable.frames import PCM16_BYTES, AudioChunk

_INSTALL_HINT = (
    "pyttsx3 needs espeak-ng: pip install pyttsx3 (or 'vocable[offline]') and install the "
    "espeak-ng system package (apt install espeak-ng, brew install espeak-ng)"
)
_PROBE_TEXT = "ready"
TIMEOUT_S = 30.0
"""A child that has not finished one utterance after this long is killed."""

_BAD_VOICE_EXIT = 3
_UNAVAILABLE_EXIT = 4

# Runs in the child: argv is text, WAV path, rate (words per minute), voice ("" for default).
_CHILD = f"""
import sys, threading
text, out, rate, voice = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
try:
    import pyttsx3
    engine = pyttsx3.init()
except Exception as err:
    print(f"{{type(err).__name__}}: {{err}}", file=sys.stderr)
    sys.exit({_UNAVAILABLE_EXIT})
finished = threading.Event()
errors = []
engine.connect("finished-utterance", lambda **kw: finished.set())
engine.connect("error", lambda **kw: errors.append(kw.get("exception")))
if voice:
    engine.setProperty("voice", voice)
engine.setProperty("rate", rate)
engine.save_to_file(text, out)
engine.runAndWait()
done = finished.wait({TIMEOUT_S})
if errors:
    print(errors[0], file=sys.stderr)
    sys.exit({_BAD_VOICE_EXIT} if "voice" in str(errors[0]).lower() else 1)
if not done:
    print("no finished-utterance notice", file=sys.stderr)
    sys.exit(1)
"""


class Pyttsx3TTS:
    """Speaks with pyttsx3's platform voice (espeak-ng on Linux), off the event loop.

    Build it with `load`. Robotic but always available; the whole text is rendered before the
    first chunk is yielded.
    """

    def __init__(
        self,
        worker: BlockingWorker,
        info: EngineInfo,
        *,
        sample_rate: int,
        voice: str | None,
        rate_wpm: int,
        chunk_ms: int,
        tmp_dir: Path,
    ) -> None:
        self._worker = worker
        self.info = info
        self.sample_rate = sample_rate
        self.voice = voice
        self.rate_wpm = rate_wpm
        self.chunk_ms = chunk_ms
        self._tmp_dir: Path | None = tmp_dir
        self._names = itertools.count()

    @classmethod
    async def load(cls, settings: Settings) -> Self:
        """Speak a probe word, which checks pyttsx3, its driver and the voice, and gives the rate.

        Raises:
            ConfigError: ``tts.pyttsx3_voice`` is not a voice of the platform's driver.
            EngineUnavailableError: pyttsx3 or espeak-ng is missing.
        """
        if importlib.util.find_spec("pyttsx3") is None:
            raise EngineUnavailableError(_INSTALL_HINT)
        cfg = settings.tts
        worker = BlockingWorker("tts-pyttsx3")
        tmp_dir: Path | None = None
        try:
            tmp_dir = Path(await worker.run(tempfile.mkdtemp, "", "vocable-pyttsx3-"))
            _, sample_rate = await worker.run(
                _render, _PROBE_TEXT, cfg.pyttsx3_voice, cfg.pyttsx3_rate, tmp_dir / "probe.wav"
            )
        except BaseException:
            if tmp_dir is not None:
                await worker.run(shutil.rmtree, tmp_dir, True)
            await worker.close()
            raise
        info = EngineInfo(
            kind="tts",
            name="pyttsx3",
            model=cfg.pyttsx3_voice or "default",
            device="cpu",
            version=importlib.metadata.version("pyttsx3"),
            threads=1,
        )
        return cls(
            worker,
            info,
            sample_rate=sample_rate,
            voice=cfg.pyttsx3_voice,
            rate_wpm=cfg.pyttsx3_rate,
            chunk_ms=cfg.chunk_ms,
            tmp_dir=tmp_dir,
        )

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        """Yield PCM16 chunks of at most ``tts.chunk_ms``; blank text yields nothing.

        Raises:
            ConfigError: `voice` is not a voice of the driver (``tts.unknown_voice``).
            EngineError: the child failed or timed out (``tts.failed``).
            PipelineClosedError: the engine was closed.
        """
        if not text.strip():
            return
        chosen = voice or self.voice
        async for chunk in self._worker.stream(lambda stop: self._generate(text, chosen, stop)):
            yield chunk

    def _generate(
        self, text: str, voice: str | None, stop: threading.Event
    ) -> Iterator[AudioChunk]:
        """Runs on the worker thread."""
        if self._tmp_dir is None:
            raise PipelineClosedError("the pyttsx3 engine is closed")
        path = self._tmp_dir / f"utterance-{next(self._names)}.wav"
        pcm, rate = _render(text, voice, self.rate_wpm, path)
        step = max(1, rate * self.chunk_ms // 1000) * PCM16_BYTES
        for start in range(0, len(pcm), step):
            if stop.is_set():
                return
            yield AudioChunk(pcm[start : start + step], rate)

    async def close(self) -> None:
        """Delete the temporary directory and stop the worker thread. Safe to call twice."""
        tmp_dir, self._tmp_dir = self._tmp_dir, None
        if tmp_dir is not None:
            await self._worker.run(shutil.rmtree, tmp_dir, True)
        await self._worker.close()


def _render(text: str, voice: str | None, rate_wpm: int, path: Path) -> tuple[bytes, int]:
    """Speak `text` into `path` in a child process, read it back as PCM16, delete it.

    Returns:
        The mono PCM16 bytes and their sample rate, as the file says.
    """
    args = [sys.executable, "-c", _CHILD, text, str(path), str(rate_wpm), voice or ""]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    try:
        done = subprocess.run(  # noqa: S603 - our interpreter, our script, text as an argument
            args, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, check=False
        )
        problem = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        if done.returncode == _UNAVAILABLE_EXIT:
            raise EngineUnavailableError(f"{_INSTALL_HINT} ({problem})")
        if done.returncode == _BAD_VOICE_EXIT:
            raise ConfigError(
                f"{voice!r} is not a pyttsx3 voice here; set tts.pyttsx3_voice to one listed by "
                f"`espeak-ng --voices` (e.g. en-us), or unset it ({problem})",
                code="tts.unknown_voice",
            )
        if done.returncode != 0 or not path.is_file():
            raise EngineError(
                f"pyttsx3 failed (exit {done.returncode}): {problem or 'no audio file'}",
                code="tts.failed",
            )
        data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    except subprocess.TimeoutExpired as err:
        raise EngineError(
            f"pyttsx3 did not finish within {TIMEOUT_S:g} s", code="tts.failed"
        ) from err
    finally:
        path.unlink(missing_ok=True)
    return data[:, 0].astype("<i2").tobytes(), int(rate)
