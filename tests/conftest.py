"""Fixtures shared by every test: an isolated data directory and settings."""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vocable.config import Settings, load_settings


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test gets its own data dir and no stray VOCABLE_* settings from the shell."""
    import os

    for key in list(os.environ):
        if key.startswith("VOCABLE_") and not key.startswith("VOCABLE_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("VOCABLE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VOCABLE_UI__ENABLED", "false")  # the UI's own tests turn it on
    yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with a temporary data dir."""
    return load_settings(data_dir=tmp_path / "data")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A test that failed on a timeout reports every thread's stack, to show what hung."""
    report = yield
    excinfo = call.excinfo
    if report.failed and excinfo is not None and "Timeout" in type(excinfo.value).__name__:
        frames = sys._current_frames()
        names = {t.ident: t.name for t in threading.enumerate()}
        stacks = [
            f"--- thread {names.get(ident, ident)}\n" + "".join(traceback.format_stack(frame))
            for ident, frame in frames.items()
            if ident != threading.get_ident()
        ]
        report.sections.append(("thread stacks at the timeout", "\n".join(stacks)))
    return report
