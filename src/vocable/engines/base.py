"""What every engine reports about itself, whatever its kind."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """Identity of a loaded engine, for `/health`, `--json` output and bench `machine` blocks.

    Attributes:
        kind: ``vad``, ``stt``, ``llm`` or ``tts``.
        name: Engine name, e.g. ``faster-whisper``.
        model: Model name, e.g. ``tiny.en``.
        model_path: Where the weights were loaded from ("" when there are none).
        device: ``cpu``, ``cuda`` or ``mps``.
        version: Version of the library behind the engine.
        compute_type: Numeric precision, where the engine has one.
        threads: CPU threads the engine may use (0 when not applicable).
    """

    kind: str
    name: str
    model: str
    model_path: str = ""
    device: str = "cpu"
    version: str = ""
    compute_type: str = ""
    threads: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class Engine(Protocol):
    """Lifecycle every engine shares."""

    info: EngineInfo

    async def close(self) -> None:
        """Release models, threads and handles. Safe to call twice."""
        ...
