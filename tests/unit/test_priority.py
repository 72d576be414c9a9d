"""The speech-first CPU gate: background steps wait while foreground work runs, never forever."""

from __future__ import annotations

import threading
import time

from vocable.hardware.priority import CpuPriority


def test_background_waits_until_foreground_work_ends() -> None:
    gate = CpuPriority()
    entered, release = threading.Event(), threading.Event()

    def synthesise() -> None:
        with gate.foreground():
            entered.set()
            release.wait(5)

    worker = threading.Thread(target=synthesise)
    worker.start()
    assert entered.wait(5) and gate.busy
    threading.Timer(0.15, release.set).start()
    waited = gate.wait_turn(5.0)
    worker.join(5)
    assert 0.1 <= waited < 2.0
    assert not gate.busy
    assert gate.waited_s == waited


def test_wait_is_bounded_and_free_when_idle() -> None:
    gate = CpuPriority()
    assert gate.wait_turn(5.0) == 0.0  # nothing in the foreground: no wait at all
    with gate.foreground():
        start = time.monotonic()
        waited = gate.wait_turn(0.05)
        assert 0.04 <= waited < 1.0
        assert time.monotonic() - start < 1.0
    with gate.foreground(enabled=False):
        assert not gate.busy


def test_nested_foreground_work_keeps_the_gate_closed() -> None:
    gate = CpuPriority()
    with gate.foreground():
        with gate.foreground():
            assert gate.busy
        assert gate.busy
    assert not gate.busy
