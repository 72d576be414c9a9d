"""A Piper voice cut before its HiFi-GAN decoder, so a sentence is decoded chunk by chunk.

Piper's voices are VITS models: a text encoder and flow give latent frames, and a HiFi-GAN
decoder turns each frame into `hop` samples. The decoder is most of the work and only looks a
few frames to each side, so `SplitVoice.load` cuts the voice's graph in two (with ``onnx``):
the encoder runs once per sentence, and the decoder runs on growing chunks of frames with
`DECODER_CONTEXT_FRAMES` of context on each side. The chunks join exactly (checked at load).
Kept apart from `piper.py` (one module per engine) only for its size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)
Floats = npt.NDArray[np.float32]

DECODER_PREFIX = "/dec/"
"""Piper's VITS export names the HiFi-GAN decoder's nodes ``/dec/...``."""
DECODER_CONTEXT_FRAMES = 16
"""Latent frames decoded on each side of a chunk and dropped. en_US-joe-medium's decoder sees
fewer than 12 (with 12 the chunks equal the whole sentence's audio to 1e-6); `load` checks."""
JOIN_TOLERANCE = 1e-3
"""Largest difference between chunked and whole-sentence audio that counts as exact."""
CALIBRATION = (
    "Hello there.",
    "Well, I think the capital of France is Paris, and it is lovely in spring!",
    "Is that right?",
)
"""Sentences whose loudest sample sets the gain of chunked audio (see `SplitVoice`)."""


@dataclass
class SplitVoice:
    """A Piper voice's graph cut before its decoder, so a sentence is decoded chunk by chunk.

    Piper scales each whole sentence to full scale. A chunk cannot wait for the sentence's
    loudest sample, so chunks share one gain: full scale for the loudest of `CALIBRATION`,
    lowered within a sentence that goes louder (never clipped).
    """

    voice: Any
    encoder: Any
    """onnxruntime session: phoneme ids → the decoder's inputs."""
    decoder: Any
    """onnxruntime session: latent frames (and any speaker input) → audio."""
    latent: str
    """The decoder input that has one frame per `hop` samples."""
    first_frames: int
    peak: float = 1.0

    @property
    def hop(self) -> int:
        """Audio samples per latent frame."""
        return int(self.voice.config.hop_length)

    @classmethod
    def load(cls, voice: Any, model: Path, first_chunk_ms: int) -> SplitVoice | None:
        """Cut `voice`'s model, check that chunks join exactly, and calibrate its gain.

        None (logged) when ``onnx`` is missing or the model cannot be cut: the engine then
        synthesises whole sentences.
        """
        try:
            sessions = _cut(model, voice.session)
            if sessions is None:
                log.warning("%s has no separable decoder: Piper speaks whole sentences", model)
                return None
            frames = round(
                first_chunk_ms / 1000 * voice.config.sample_rate / voice.config.hop_length
            )
            split = cls(voice, *sessions, first_frames=max(1, frames))
            peaks = [split._calibrate(text) for text in CALIBRATION]
        except ImportError:
            log.info("onnx is not installed: Piper speaks whole sentences")
            return None
        except Exception as err:  # a model of another shape: whole sentences still work
            log.warning("%s could not be cut (%s): Piper speaks whole sentences", model, err)
            return None
        if None in peaks:
            log.warning(
                "%s: decoded chunks do not join exactly: Piper speaks whole sentences", model
            )
            return None
        split.peak = max(p for p in peaks if p is not None)
        return split

    def _calibrate(self, text: str) -> float | None:
        """The raw peak of `text`, or None when its chunks differ from the whole."""
        feeds = self.encode(self.voice.phonemes_to_ids(self.voice.phonemize(text)[0]), None)
        whole = self.decode(feeds, 0, feeds[self.latent].shape[-1])
        chunked = np.concatenate([self.decode(feeds, a, b) for a, b in self.chunks(feeds)])
        if len(chunked) != len(whole) or np.max(np.abs(chunked - whole)) > JOIN_TOLERANCE:
            return None
        return float(np.max(np.abs(whole)))

    def encode(self, ids: list[int], speaker: int | None) -> dict[str, Floats]:
        """Run the encoder on one sentence's phoneme ids; the decoder's inputs by name."""
        config = self.voice.config
        feeds: dict[str, Any] = {
            "input": np.array([ids], np.int64),
            "input_lengths": np.array([len(ids)], np.int64),
            "scales": np.array(
                [config.noise_scale, config.length_scale, config.noise_w_scale], np.float32
            ),
        }
        if config.num_speakers > 1:
            sid = config.default_speaker_id if speaker is None else speaker
            feeds["sid"] = np.array([sid], np.int64)
        names = [o.name for o in self.encoder.get_outputs()]
        return dict(zip(names, self.encoder.run(None, feeds), strict=True))

    def chunks(self, feeds: dict[str, Floats]) -> Iterator[tuple[int, int]]:
        """Frame ranges to decode: `first_frames`, then each twice the one before."""
        frames = feeds[self.latent].shape[-1]
        start, size = 0, self.first_frames
        while start < frames:
            yield start, min(frames, start + size)
            start, size = start + size, size * 2

    def decode(self, feeds: dict[str, Floats], start: int, end: int) -> Floats:
        """Raw audio of latent frames [start, end), decoded with context on each side."""
        frames = feeds[self.latent].shape[-1]
        lo = max(0, start - DECODER_CONTEXT_FRAMES)
        hi = min(frames, end + DECODER_CONTEXT_FRAMES)
        inputs = {**feeds, self.latent: feeds[self.latent][..., lo:hi]}
        audio = self.decoder.run(None, inputs)[0].reshape(-1)
        return np.asarray(audio[(start - lo) * self.hop : (end - lo) * self.hop], np.float32)

    def stream(self, ids: list[int], speaker: int | None) -> Iterator[Floats]:
        """One sentence's audio, chunk by chunk, at a gain shared across chunks."""
        feeds = self.encode(ids, speaker)
        peak = self.peak
        for start, end in self.chunks(feeds):
            audio = self.decode(feeds, start, end)
            peak = max(peak, float(np.max(np.abs(audio), initial=0.0)))
            yield audio / peak


def _cut(model: Path, whole: Any) -> tuple[Any, Any, str] | None:
    """Encoder and decoder sessions cut from `model`, and the latent's name.

    None when the model has no ``/dec/`` nodes fed by a latent.
    """
    import onnx
    import onnxruntime
    from onnx.utils import Extractor

    graph_model = onnx.load(str(model))
    graph = graph_model.graph
    decoder_nodes = [n for n in graph.node if n.name.startswith(DECODER_PREFIX)]
    if not decoder_nodes:
        return None
    made_inside = {out for node in decoder_nodes for out in node.output}
    constants = {init.name for init in graph.initializer}
    boundary = list(
        dict.fromkeys(
            name
            for node in decoder_nodes
            for name in node.input
            if name and name not in made_inside and name not in constants
        )
    )
    latent = decoder_nodes[0].input[0]
    inputs = [i.name for i in graph.input if i.name not in constants]
    if latent not in boundary or set(boundary) & set(inputs):
        return None
    extractor = Extractor(graph_model)
    encoder = extractor.extract_model(inputs, boundary)
    decoder = extractor.extract_model(boundary, [o.name for o in graph.output])
    if {i.name for i in decoder.graph.input} != set(boundary):
        return None
    options, providers = whole.get_session_options(), whole.get_providers()

    def session(part: Any) -> Any:
        return onnxruntime.InferenceSession(
            part.SerializeToString(), sess_options=options, providers=providers
        )

    return session(encoder), session(decoder), latent
