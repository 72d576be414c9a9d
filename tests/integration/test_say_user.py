"""``vocable say --user NAME``: speak in that account's default voice, on real Piper and Praat."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from vocable.config import Settings
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.voices import analysis, store
from vocable.voices.matching import MatchParams

pytestmark = pytest.mark.slow

TARGET_HZ = 220.0


async def give_bea_a_default_voice(settings: Settings) -> None:
    db = await Database.open(settings.storage, data_dir=settings.data_dir)
    try:
        async with db.uow(readonly=True) as tx:
            bea = await repo.find_user(tx, name="bea")
        assert bea is not None
        root = settings.data_dir / "voices"
        await store.save_profile(
            db,
            root,
            user_id=bea.id,
            name="Bea",
            audio=np.zeros(16000, dtype=np.float32),
            vector=np.ones(256, dtype=np.float32) / 16,
            details={"match": MatchParams(TARGET_HZ, 1.0, 1.1, 1.0).as_dict()},
        )
        await store.set_default(db, root, user_id=bea.id, name="Bea")
    finally:
        await db.close()


def f0(path: Path) -> float:
    data, rate = sf.read(io.BytesIO(path.read_bytes()), dtype="float32")
    return analysis.pitch_stats(np.asarray(data, dtype=np.float32), int(rate))["f0_median_hz"]


def test_say_as_another_user_speaks_in_their_default_voice(
    settings: Settings, tmp_path: Path
) -> None:
    from vocable.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["users", "create", "bea"]).exit_code == 0
    asyncio.run(give_bea_a_default_voice(settings))
    text = "Good morning, the coffee is ready and the sun is out."

    theirs = tmp_path / "bea.wav"
    said = runner.invoke(app, ["say", text, "--user", "bea", "--out", str(theirs)])
    assert said.exit_code == 0, said.output
    assert "piper+voice-matching" in said.stderr
    mine = tmp_path / "local.wav"
    plain = runner.invoke(app, ["say", text, "--out", str(mine)])  # the local user: no default
    assert plain.exit_code == 0 and "voice-matching" not in plain.stderr, plain.output
    assert abs(f0(theirs) - TARGET_HZ) < 25  # Bea's matched voice
    assert f0(theirs) - f0(mine) > 60  # well above Piper's own joe voice
    named = runner.invoke(app, ["say", text, "--user", "bea", "--voice", "Bea", "--out", str(mine)])
    assert named.exit_code == 0 and "piper+voice-matching" in named.stderr
    nobody = runner.invoke(app, ["say", text, "--user", "nobody", "--out", str(mine)])
    assert nobody.exit_code == 2 and "user.not_found" in nobody.stderr
