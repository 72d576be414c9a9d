"""Clocks: the real monotonic clock, and a fake one that tests move by hand."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Source of monotonic time in seconds."""

    def monotonic(self) -> float:
        """Current monotonic time in seconds."""
        ...


class SystemClock:
    """The process's monotonic clock."""

    def monotonic(self) -> float:
        """Current monotonic time in seconds."""
        return time.monotonic()


class FakeClock:
    """A clock that only moves when `advance` is called."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def monotonic(self) -> float:
        """Current fake time in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds
