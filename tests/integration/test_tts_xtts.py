"""XTTS v2 through coqui-tts: runs only where VOCABLE_XTTS_DIR points at local weights."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import with_settings
from vocable.config import Settings
from vocable.engines.tts.xtts import XttsTTS, model_dir
from vocable.errors import EngineUnavailableError

XTTS_DIR = os.environ.get("VOCABLE_XTTS_DIR")  # read before the fixtures clear VOCABLE_*
NO_WEIGHTS = (
    "XTTS v2 weights are on no package registry; set VOCABLE_XTTS_DIR to a local XTTS-v2 "
    "model directory to run this"
)


def test_without_weights_the_error_says_where_to_point(settings: Settings) -> None:
    with pytest.raises(EngineUnavailableError, match="VOCABLE_XTTS_DIR"):
        model_dir(settings)


def test_a_directory_without_a_model_is_refused(settings: Settings, tmp_path: Path) -> None:
    configured = with_settings(settings, tts={"xtts_dir": tmp_path})
    with pytest.raises(EngineUnavailableError, match="no config.json"):
        model_dir(configured)


@pytest.mark.slow
@pytest.mark.skipif(not XTTS_DIR, reason=NO_WEIGHTS)
async def test_xtts_clones_from_a_reference_and_streams(settings: Settings, tmp_path: Path) -> None:
    from vocable.bench.corpus import synthesize_speech

    reference = synthesize_speech("Hello, this is my voice for cloning.", tmp_path / "ref.wav")
    tts = await XttsTTS.load(with_settings(settings, tts={"xtts_dir": XTTS_DIR}))
    try:
        chunks = [c async for c in tts.synthesize("Good morning.", str(reference))]
        assert {c.sample_rate for c in chunks} == {24000} and len(chunks) > 1
        assert reference.with_name("ref.wav.xtts-latents.pt").is_file()  # latents cached
    finally:
        await tts.close()
