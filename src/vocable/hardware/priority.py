"""Speech first: on a shared CPU, synthesis the listener waits for runs before more LLM tokens.

A reply streams text much faster than it can be spoken, so on a small machine the LLM's next
tokens can wait while the next sentence is synthesised. Local CPU speech engines wrap each
synthesis in `CpuPriority.foreground`; CPU text generation calls `CpuPriority.wait_turn` between
tokens. The wait is bounded, so background work is never starved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class CpuPriority:
    """A process-wide gate: background steps wait while any foreground work runs."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._foreground = 0
        self.waited_s = 0.0
        """Total time background work has waited (for tests and diagnostics)."""

    @property
    def busy(self) -> bool:
        """True while foreground work runs."""
        return self._foreground > 0

    @contextmanager
    def foreground(self, enabled: bool = True) -> Iterator[None]:
        """Run the body as foreground work (`enabled` False: an ordinary block)."""
        if not enabled:
            yield
            return
        with self._cond:
            self._foreground += 1
        try:
            yield
        finally:
            with self._cond:
                self._foreground -= 1
                if not self._foreground:
                    self._cond.notify_all()

    def wait_turn(self, timeout_s: float) -> float:
        """Block while foreground work runs, at most `timeout_s`; return the seconds waited."""
        if not self._foreground or timeout_s <= 0:
            return 0.0
        start = time.monotonic()
        with self._cond:
            self._cond.wait_for(lambda: not self._foreground, timeout=timeout_s)
        waited = time.monotonic() - start
        self.waited_s += waited
        return waited


PRIORITY = CpuPriority()
"""The one gate of this process: every engine shares the same cores."""
