"""Voice similarity on ``GET /metrics``, on a real server on loopback, read at scrape time."""

from __future__ import annotations

import httpx
import numpy as np

from tests.authhelp import bearer
from tests.e2e.test_metrics_server import parse
from tests.security.helpers import admin_and_user, fake_assistant, serving
from vocable.api.app import create_app
from vocable.config import Settings
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.voices import store
from vocable.voices.matching import MatchParams

GAUGE = "vocable_voice_similarity"


async def add(db: Database, settings: Settings, user: str, name: str, **scores: float) -> None:
    async with db.uow(readonly=True) as tx:
        found = await repo.find_user(tx, name=user)
    assert found is not None
    await store.save_profile(
        db,
        settings.data_dir / "voices",
        user_id=found.id,
        name=name,
        audio=np.zeros(16000, dtype=np.float32),
        vector=np.ones(256, dtype=np.float32) / 16,
        details={
            "match": MatchParams(180.0, 1.0, 1.0, 1.0).as_dict(),
            "tts": {"name": "piper"},
            **scores,
        },
    )


def labels(user: str, voice: str, engine: str) -> tuple[tuple[str, str], ...]:
    return (("engine", engine), ("user", user), ("voice", voice))


async def test_voice_similarity_follows_the_profiles(settings: Settings) -> None:
    app = create_app(settings, assistant=fake_assistant(settings))
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as c:
        ann, bob = await admin_and_user(c)
        scrape = await c.get("/metrics", headers=bearer(ann))
        assert scrape.status_code == 200
        assert GAUGE not in parse(scrape.text)  # no profiles: no samples
        assert f"# TYPE {GAUGE} gauge" in scrape.text
        db = app.state.db
        await add(db, settings, "ann", "Sal", similarity=0.81, baseline_similarity=0.55)
        await add(db, settings, "ann", "Mo", similarity=0.7, cloned_similarity=0.86)
        await add(db, settings, "bob", "Gran", similarity=0.64, baseline_similarity=0.5)

        scraped = parse((await c.get("/metrics", headers=bearer(ann))).text)[GAUGE]
        assert scraped == {
            labels("ann", "Mo", "piper+voice-matching"): 0.7,
            labels("ann", "Mo", "xtts+cloning"): 0.86,
            labels("ann", "Sal", "piper+voice-matching"): 0.81,
            labels("ann", "Sal", "piper"): 0.55,
            labels("bob", "Gran", "piper+voice-matching"): 0.64,
            labels("bob", "Gran", "piper"): 0.5,
        }

        # deleted and renamed profiles change the very next scrape
        assert (await c.delete("/v1/voices/Gran", headers=bearer(bob))).status_code == 204
        renamed = await c.patch("/v1/voices/Sal", json={"name": "Sally"}, headers=bearer(ann))
        assert renamed.status_code == 200, renamed.text
        after = parse((await c.get("/metrics", headers=bearer(ann))).text)[GAUGE]
        assert {(dict(k)["user"], dict(k)["voice"]) for k in after} == {
            ("ann", "Mo"),
            ("ann", "Sally"),
        }
        assert after[labels("ann", "Sally", "piper+voice-matching")] == 0.81

        # a user who may not scrape sees nothing of it
        denied = await c.get("/metrics", headers=bearer(bob))
        assert denied.status_code == 403 and GAUGE not in denied.text
