"""256-d speaker embeddings (resemblyzer, on torch CPU) and the scores built on them.

resemblyzer, torch and librosa are the ``voices`` extra: nothing here imports them until
`SpeakerEncoder.load` runs, and a missing one is an `EngineUnavailableError` with the install line.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vocable.engines.base import EngineInfo
from vocable.engines.worker import BlockingWorker
from vocable.errors import PipelineClosedError
from vocable.voices.analysis import FloatAudio, optional_module

EMBEDDING_DIM = 256
RATE = 16000
"""resemblyzer works on 16 kHz mono audio."""

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Embedding:
    """A whole-sample embedding and the embeddings of its ~1.6 s partial windows (unit norm)."""

    vector: Vector
    partials: npt.NDArray[np.float32]


def cosine(a: Vector, b: Vector) -> float:
    """Cosine similarity of two vectors, in [-1, 1]."""
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / denom) if denom > 0 else 0.0


def speaker_split(partials: npt.NDArray[np.float32]) -> tuple[float, float]:
    """How far apart the two most distinct groups of windows are: (similarity, minority share).

    Two-means clustering (cosine) seeded with the two least similar windows. One speaker gives
    groups that are still alike (similarity about 0.8 and up); two speakers give about 0.5-0.7.
    """
    if len(partials) < 4:
        return 1.0, 0.0
    unit = partials / np.linalg.norm(partials, axis=1, keepdims=True)
    sims = unit @ unit.T
    i, j = np.unravel_index(int(np.argmin(sims)), sims.shape)
    centres = unit[[i, j]]
    labels = np.zeros(len(unit), dtype=int)
    for _ in range(10):
        labels = np.argmax(unit @ centres.T, axis=1)
        if labels.min() == labels.max():
            return 1.0, 0.0
        centres = np.stack([unit[labels == k].mean(axis=0) for k in (0, 1)])
    share = float(min(np.mean(labels == 0), np.mean(labels == 1)))
    return cosine(centres[0], centres[1]), share


def as_bytes(vector: Vector) -> bytes:
    """The stored form of an embedding: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> Vector:
    """An embedding back from `as_bytes`."""
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


class SpeakerEncoder:
    """resemblyzer's `VoiceEncoder` on its own worker thread. Build it with `load`."""

    def __init__(self, encoder: Any, worker: BlockingWorker, info: EngineInfo) -> None:
        self._encoder = encoder
        self._worker = worker
        self.info = info

    @classmethod
    async def load(cls) -> SpeakerEncoder:
        """Load the pretrained encoder (17 MB, inside the resemblyzer package) on CPU.

        Raises:
            EngineUnavailableError: resemblyzer, torch or librosa is not installed.
        """
        worker = BlockingWorker("voice-embed")
        try:
            encoder = await worker.run(_load_encoder)
        except BaseException:
            await worker.close()
            raise
        info = EngineInfo(
            kind="speaker",
            name="resemblyzer",
            model="ge2e-256",
            model_path=str(getattr(encoder, "weights_path", "")),
            device="cpu",
            version=importlib.metadata.version("resemblyzer"),
            threads=1,
        )
        return cls(encoder, worker, info)

    async def embed(self, samples16k: FloatAudio) -> Embedding:
        """Embed 16 kHz mono speech (long silences are trimmed first, as resemblyzer does).

        Raises:
            PipelineClosedError: the encoder was closed.
        """
        return await self._worker.run(self._embed, samples16k)

    def _embed(self, samples16k: FloatAudio) -> Embedding:
        if self._encoder is None:
            raise PipelineClosedError("the speaker encoder is closed")
        resemblyzer = optional_module("resemblyzer", "speaker embeddings")
        wav = resemblyzer.preprocess_wav(np.asarray(samples16k, dtype=np.float32), source_sr=RATE)
        if len(wav) < RATE // 2:  # mostly silence: embed what there is
            wav = np.asarray(samples16k, dtype=np.float32)
        vector, partials, _ = self._encoder.embed_utterance(wav, return_partials=True)
        return Embedding(np.asarray(vector, np.float32), np.asarray(partials, np.float32))

    async def close(self) -> None:
        """Drop the model and stop the thread. Safe to call twice."""
        self._encoder = None
        await self._worker.close()


def _load_encoder() -> Any:
    optional_module("torch", "speaker embeddings")
    with warnings.catch_warnings():
        # resemblyzer 0.1.4 imports scipy.ndimage.morphology, deprecated in SciPy 1.8+.
        warnings.filterwarnings("ignore", "Please import", DeprecationWarning)
        resemblyzer = optional_module("resemblyzer", "speaker embeddings")
    return resemblyzer.VoiceEncoder("cpu", verbose=False)


class SharedEncoder:
    """One `SpeakerEncoder` for a server, loaded on first use and closed with `aclose`."""

    def __init__(self) -> None:
        self._encoder: SpeakerEncoder | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> SpeakerEncoder:
        """The encoder, loading it the first time (about 3 s on two cores).

        Raises:
            EngineUnavailableError: the ``voices`` extra is not installed.
        """
        async with self._lock:
            if self._encoder is None:
                self._encoder = await SpeakerEncoder.load()
            return self._encoder

    async def aclose(self) -> None:
        """Close the encoder if it was loaded. Safe to call twice."""
        async with self._lock:
            encoder, self._encoder = self._encoder, None
        if encoder is not None:
            await encoder.close()

    async def __aenter__(self) -> SharedEncoder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
