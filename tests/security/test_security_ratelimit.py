"""Brute-force login is limited per IP and per account, recovers, and is shared through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.authhelp import PASSWORD, bearer, sign_up
from tests.security.helpers import AppClient, fake_assistant, with_overrides
from tests.unit.test_api import question_wav
from vocable.api.app import create_app
from vocable.config import Settings

WRONG = {"username": "ann", "password": "wrong password"}


@contextlib.asynccontextmanager
async def two_ips(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    app = create_app(settings, assistant=fake_assistant(settings))
    one = httpx.ASGITransport(app=app, client=("10.0.0.1", 1))
    two = httpx.ASGITransport(app=app, client=("10.0.0.2", 1))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=one, base_url="http://t") as a,
        httpx.AsyncClient(transport=two, base_url="http://t") as b,
    ):
        yield a, b


async def test_brute_force_login_gets_429_and_recovers(settings: Settings) -> None:
    limited = with_overrides(settings, api={"login_rate": "3/2 second"})
    async with two_ips(limited) as (attacker, other):
        await other.post("/v1/auth/register", json={"username": "ann", "password": PASSWORD})
        codes = [(await attacker.post("/v1/auth/login", json=WRONG)).status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        blocked = await attacker.post("/v1/auth/login", json=WRONG)
        assert blocked.status_code == 429
        assert blocked.headers["content-type"] == "application/problem+json"
        assert 1 <= int(blocked.headers["retry-after"]) <= 2
        # the account is limited too: the right password from another IP waits as well
        good = {"username": "ann", "password": PASSWORD}
        assert (await other.post("/v1/auth/login", json=good)).status_code == 429
        await asyncio.sleep(2.1)
        assert (await other.post("/v1/auth/login", json=good)).status_code == 200


async def test_expensive_routes_are_limited_per_user(
    app_client: AppClient, settings: Settings
) -> None:
    async with app_client(with_overrides(settings, api={"expensive_rate": "2/minute"})) as c:
        ann = await sign_up(c, "ann")
        audio = {"content": question_wav(), "headers": {**bearer(ann), "content-type": "audio/wav"}}
        codes = [(await c.post("/v1/turns", **audio)).status_code for _ in range(3)]  # type: ignore[arg-type]
        assert codes == [200, 200, 429]


@pytest.mark.skipif(
    not os.environ.get("VOCABLE_TEST_REDIS_URL"), reason="no VOCABLE_TEST_REDIS_URL"
)
async def test_two_apps_sharing_redis_share_the_counts(settings: Settings) -> None:
    shared = with_overrides(
        settings,
        api={"login_rate": "3/minute", "rate_limit_prefix": f"test-{uuid.uuid4().hex}"},
    ).model_copy(update={"redis_url": os.environ["VOCABLE_TEST_REDIS_URL"]})
    async with two_ips(shared) as (first, _), two_ips(shared) as (second, _):
        await first.post("/v1/auth/register", json={"username": "ann", "password": PASSWORD})
        for client in (first, second, first):
            assert (await client.post("/v1/auth/login", json=WRONG)).status_code == 401
        # the 4th attempt on the account, made on the other app, is over the shared limit
        r = await second.post("/v1/auth/login", json=WRONG)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
