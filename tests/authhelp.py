"""Signing up and in over HTTP, for tests of authenticated routes."""

from __future__ import annotations

from typing import Any

import httpx

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account


async def sign_up(
    client: httpx.AsyncClient, name: str, *, invite: str | None = None
) -> dict[str, Any]:
    """Register `name` and log in; returns the token response."""
    body: dict[str, Any] = {"username": name, "password": PASSWORD}
    if invite is not None:
        body["invite"] = invite
    r = await client.post("/v1/auth/register", json=body)
    assert r.status_code == 201, r.text
    return await log_in(client, name)


async def log_in(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """Log `name` in with the test password."""
    r = await client.post("/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return dict(r.json())


def bearer(tokens: dict[str, Any] | str) -> dict[str, str]:
    """The Authorization header for a token response or a bare token/key."""
    token = tokens if isinstance(tokens, str) else tokens["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def sign_up_and_use(client: httpx.AsyncClient, name: str = "ann") -> dict[str, Any]:
    """Register `name` (the first user: admin) and send its token on every later request."""
    tokens = await sign_up(client, name)
    client.headers.update(bearer(tokens))
    return tokens
