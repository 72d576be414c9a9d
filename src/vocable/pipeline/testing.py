"""Test harness: run one stage (or a few) over a list of frames and collect what comes out."""

from __future__ import annotations

from collections.abc import Iterable

from vocable.frames import Frame
from vocable.pipeline.events import EventBus
from vocable.pipeline.runner import run_pipeline
from vocable.pipeline.stage import Stage


async def run_stage(
    stage: Stage, frames_in: Iterable[Frame], *, channel_size: int = 64, bus: EventBus | None = None
) -> list[Frame]:
    """Feed `frames_in` (plus `EndOfStream`) to `stage`; return its output, minus the final end."""
    return await run_pipeline([stage], list(frames_in), channel_size=channel_size, bus=bus)
