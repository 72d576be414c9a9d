"""Fixtures shared by every test: an isolated data directory and settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
