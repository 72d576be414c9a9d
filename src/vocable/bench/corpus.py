"""Spoken test questions, synthesised on this machine with flite or espeak-ng.

Nothing is downloaded: Debian's ``flite`` (voices kal, slt, awb, rms) or ``espeak-ng`` speak a
fixed list of questions into WAV files, chosen and voiced deterministically from a seed.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from vocable.errors import EngineError, EngineTimeoutError, EngineUnavailableError

Engine = Literal["flite", "espeak-ng"]

DEFAULT_VOICES: dict[str, str] = {"flite": "kal", "espeak-ng": "en-us"}
_INSTALL_HINTS: dict[str, str] = {
    "flite": "apt-get install flite",
    "espeak-ng": "apt-get install espeak-ng",
}

QUESTIONS: tuple[str, ...] = (
    "What is the capital of France?",
    "How many days are in a week?",
    "What color is the sky on a clear day?",
    "How many legs does a spider have?",
    "What is two plus two?",
    "Which planet is closest to the sun?",
    "What is the boiling point of water?",
    "How many hours are in a day?",
    "What language is spoken in Spain?",
    "Who wrote Romeo and Juliet?",
    "What is the largest ocean on Earth?",
    "How many minutes are in an hour?",
    "What do bees make?",
    "What is the opposite of hot?",
    "How many months are in a year?",
    "What is frozen water called?",
    "Which animal is known as the king of the jungle?",
    "What is the tallest mountain in the world?",
    "How many continents are there?",
    "What gas do plants take in from the air?",
)
"""Short spoken questions with short, well-known answers."""


@dataclass(frozen=True, slots=True)
class CorpusItem:
    """One spoken question: its text, the WAV file, and the voice that spoke it."""

    text: str
    path: Path
    voice: str


def synthesize_speech(
    text: str,
    out_path: str | Path,
    *,
    voice: str | None = None,
    engine: Engine = "flite",
    timeout_s: float = 30.0,
) -> Path:
    """Speak `text` into a WAV file with a system TTS program.

    Args:
        text: What to say.
        out_path: WAV file to write; parent directories are created.
        voice: flite voice (``kal``, ``slt``, ``awb``, ``rms``; see ``flite -lv``) or espeak-ng
            voice (``en-us``); None picks ``kal`` or ``en-us``.
        engine: ``flite`` or ``espeak-ng``.
        timeout_s: Longest the program may run.

    Returns:
        The path written.

    Raises:
        EngineUnavailableError: the program or the voice is not installed.
        EngineTimeoutError: the program ran past `timeout_s`.
        EngineError: the program failed or wrote no audio.
        ValueError: `text` is empty or `engine` is unknown.
    """
    if not text.strip():
        raise ValueError("text to synthesise is empty")
    if engine not in DEFAULT_VOICES:
        raise ValueError(f"unknown engine {engine!r}; use one of {sorted(DEFAULT_VOICES)}")
    binary = _find_binary(engine)
    voice = voice or DEFAULT_VOICES[engine]
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if engine == "flite":
        # flite falls back to its default voice without a word when a voice is unknown.
        if voice not in flite_voices(binary) and not Path(voice).is_file():
            raise EngineUnavailableError(
                f"flite has no voice {voice!r}; installed: {', '.join(flite_voices(binary))}",
                code="engine.voice_missing",
            )
        cmd = [binary, "-voice", voice, "-o", str(out), "-t", text]
        stdin = None
    else:
        cmd = [binary, "-v", voice, "-w", str(out), "--stdin"]
        stdin = text
    try:
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError as err:
        raise _missing(engine) from err
    except subprocess.TimeoutExpired as err:
        raise EngineTimeoutError(
            f"{engine} took longer than {timeout_s:g} s to speak {len(text)} characters",
        ) from err
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
        detail = (proc.stderr or proc.stdout).strip()[-300:] or f"exit status {proc.returncode}"
        raise EngineError(f"{engine} wrote no audio for voice {voice!r}: {detail}")
    return out


def flite_voices(binary: str = "flite") -> tuple[str, ...]:
    """The voices compiled into flite (``flite -lv``)."""
    return _flite_voices(binary)


@lru_cache(maxsize=4)
def _flite_voices(binary: str) -> tuple[str, ...]:
    try:
        proc = subprocess.run(
            [binary, "-lv"], capture_output=True, text=True, timeout=10.0, check=False
        )
    except FileNotFoundError as err:
        raise _missing("flite") from err
    _, _, names = proc.stdout.partition(":")
    return tuple(names.split())


def build_corpus(
    directory: str | Path,
    n: int,
    *,
    seed: int = 0,
    voices: tuple[str, ...] = ("kal", "slt", "awb", "rms"),
    engine: Engine = "flite",
) -> list[CorpusItem]:
    """Synthesise `n` spoken questions from `QUESTIONS` into `directory`.

    The questions (each used once before any repeats) and voices are drawn from
    ``random.Random(seed)``, so a seed always gives the same corpus.

    Returns:
        The items, in order; files are named ``NNN_<voice>.wav``.
    """
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    if not voices:
        raise ValueError("voices must name at least one voice")
    rng = random.Random(seed)
    texts: list[str] = []
    while len(texts) < n:
        batch = list(QUESTIONS)
        rng.shuffle(batch)
        texts.extend(batch)
    root = Path(directory)
    items: list[CorpusItem] = []
    for i, text in enumerate(texts[:n]):
        voice = rng.choice(voices)
        path = synthesize_speech(
            text, root / f"{i:03d}_{_safe(voice)}.wav", voice=voice, engine=engine
        )
        items.append(CorpusItem(text=text, path=path, voice=voice))
    return items


def _find_binary(engine: str) -> str:
    found = shutil.which(engine)
    if found is None:
        raise _missing(engine)
    return found


def _missing(engine: str) -> EngineUnavailableError:
    return EngineUnavailableError(
        f"{engine} is not installed (not found on PATH); install it with "
        f"`{_INSTALL_HINTS.get(engine, engine)}`",
    )


def _safe(voice: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in Path(voice).stem)
