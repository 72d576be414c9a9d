"""Apps and clients for the security suite: fake engines, real SQLite, real auth."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.security.helpers import AppClient, fake_assistant
from vocable.api.app import create_app
from vocable.config import Settings


@pytest.fixture
def app_client(settings: Settings) -> AppClient:
    """Open an app (lifespan included) and an in-process client; settings may be overridden."""

    @contextlib.asynccontextmanager
    async def open_client(
        custom: Settings | None = None, *, client_ip: str = "10.1.2.3"
    ) -> AsyncIterator[httpx.AsyncClient]:
        chosen = custom or settings
        app = create_app(chosen, assistant=fake_assistant(chosen))
        transport = httpx.ASGITransport(app=app, client=(client_ip, 1234))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as c,
        ):
            yield c

    return open_client


@pytest.fixture
async def client(app_client: AppClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh app with no accounts yet."""
    async with app_client() as c:
        yield c
