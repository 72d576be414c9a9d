"""Forged, expired, revoked and reused tokens are refused; tokens survive a restart."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from typing import Any

import httpx
import jwt
import pytest

from tests.authhelp import PASSWORD, bearer, log_in, sign_up
from tests.security.helpers import AppClient, with_overrides
from vocable.api.app import create_app
from vocable.api.auth.tokens import SECRET_FILE
from vocable.config import Settings
from vocable.errors import ConfigError


def _secret(settings: Settings) -> bytes:
    return (settings.data_dir / SECRET_FILE).read_text().strip().encode()


def _claims(settings: Settings, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "sub": "1",
        "iat": now,
        "exp": now + 300,
        "jti": "x" * 32,
        "typ": "access",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _forge(settings: Settings, case: str) -> str:
    key = _secret(settings)
    if case == "alg_none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(settings))}."
    if case == "wrong_key":
        return jwt.encode(_claims(settings), b"k" * 64, algorithm="HS256")
    if case == "tampered":
        good = jwt.encode(_claims(settings), key, algorithm="HS256")
        header, _, signature = good.split(".")
        return f"{header}.{_b64(_claims(settings, sub='2'))}.{signature}"
    if case == "other_alg":
        return jwt.encode(_claims(settings), key, algorithm="HS512")
    changes: dict[str, dict[str, Any]] = {
        "expired": {"exp": int(time.time()) - 60, "iat": int(time.time()) - 400},
        "wrong_audience": {"aud": "someone-else"},
        "wrong_issuer": {"iss": "evil"},
        "refresh_as_access": {"typ": "refresh"},
        "no_expiry": {"exp": None},
    }
    return jwt.encode(_claims(settings, **changes[case]), key, algorithm="HS256")


FORGERIES = [
    "alg_none",
    "wrong_key",
    "tampered",
    "other_alg",
    "expired",
    "wrong_audience",
    "wrong_issuer",
    "refresh_as_access",
    "no_expiry",
]


@pytest.mark.parametrize("case", FORGERIES)
async def test_forged_access_tokens_get_401(
    client: httpx.AsyncClient, settings: Settings, case: str
) -> None:
    await sign_up(client, "ann")  # user 1 exists: only the forgery can fail
    r = await client.get("/v1/auth/me", headers=bearer(_forge(settings, case)))
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["code"] in ("auth.invalid_token", "auth.token_expired")


async def test_a_correctly_signed_token_is_accepted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The forgery helper's baseline works, so each forgery fails for its own reason."""
    await sign_up(client, "ann")
    token = jwt.encode(_claims(settings), _secret(settings), algorithm="HS256")
    r = await client.get("/v1/auth/me", headers=bearer(token))
    assert r.status_code == 200 and r.json()["username"] == "ann"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic YTpi"}, {"X-API-Key": "vk_nope"}],
)
async def test_missing_or_bad_credentials_get_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await sign_up(client, "ann")
    r = await client.get("/v1/conversations", headers=headers)
    assert r.status_code == 401 and r.json()["status"] == 401


async def test_refresh_rotates_and_a_reused_token_revokes_the_login(
    client: httpx.AsyncClient,
) -> None:
    first = await sign_up(client, "ann")
    second = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert (await client.get("/v1/auth/me", headers=bearer(rotated))).status_code == 200
    reused = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    # reuse is theft: the newer token of the same login is revoked too
    stolen = await client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert stolen.status_code == 401
    other_login = await log_in(client, "ann")  # another login is unaffected
    ok = await client.post("/v1/auth/refresh", json={"refresh_token": other_login["refresh_token"]})
    assert ok.status_code == 200


async def test_a_logged_out_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client, "ann")
    out = await client.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    r = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401 and r.json()["code"] == "auth.invalid_token"


async def test_an_access_token_is_no_refresh_token(client: httpx.AsyncClient) -> None:
    tokens = await sign_up(client, "ann")
    r = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert r.status_code == 401


async def test_tokens_survive_a_restart(app_client: AppClient, settings: Settings) -> None:
    async with app_client() as c:
        tokens = await sign_up(c, "ann")
        key = (await c.post("/v1/keys", json={"name": "k"}, headers=bearer(tokens))).json()["key"]
    secret_path = settings.data_dir / SECRET_FILE
    before = secret_path.read_bytes()
    assert stat.S_IMODE(os.stat(secret_path).st_mode) == 0o600
    async with app_client() as c:  # a new app over the same data directory
        me = await c.get("/v1/auth/me", headers=bearer(tokens))
        assert me.status_code == 200 and me.json()["username"] == "ann"
        assert (await c.get("/v1/auth/me", headers={"X-API-Key": key})).status_code == 200
        r = await c.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200
    assert secret_path.read_bytes() == before  # never regenerated


async def test_a_secret_from_settings_is_used_and_placeholders_are_refused(
    app_client: AppClient, settings: Settings
) -> None:
    strong = "s" * 8 + os.urandom(24).hex()
    custom = with_overrides(settings, auth={"secret": strong})
    async with app_client(custom) as c:
        tokens = await sign_up(c, "ann")
    claims = jwt.decode(
        tokens["access_token"], strong, algorithms=["HS256"], audience=settings.auth.audience
    )
    assert claims["sub"] == "1" and not (settings.data_dir / SECRET_FILE).exists()
    for weak in ("changeme", "change-me-please-change-me-please-0123456789", "short"):
        with pytest.raises(ConfigError) as caught:
            create_app(with_overrides(settings, auth={"secret": weak}))
        assert caught.value.code == "config.placeholder_secret"
    create_app(with_overrides(settings, auth={"secret": "changeme", "dev_mode": True}))


def test_a_secret_file_readable_by_others_is_refused(settings: Settings) -> None:
    create_app(settings)
    path = settings.data_dir / SECRET_FILE
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        create_app(settings)


async def test_wrong_passwords_and_unknown_users_look_the_same(client: httpx.AsyncClient) -> None:
    await sign_up(client, "ann")
    wrong = await client.post("/v1/auth/login", json={"username": "ann", "password": "x" * 12})
    nobody = await client.post("/v1/auth/login", json={"username": "zed", "password": PASSWORD})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["detail"] == nobody.json()["detail"]


async def test_oauth2_password_form_logs_in(client: httpx.AsyncClient) -> None:
    await sign_up(client, "ann")
    r = await client.post(
        "/v1/auth/login", data={"grant_type": "password", "username": "ann", "password": PASSWORD}
    )
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"  # noqa: S105


async def test_first_user_is_admin_and_later_sign_ups_need_an_invite(
    app_client: AppClient, settings: Settings
) -> None:
    async with app_client() as c:
        ann = await sign_up(c, "ann")
        assert (await c.get("/v1/auth/me", headers=bearer(ann))).json()["is_admin"] is True
        body = {"username": "bob", "password": PASSWORD}
        r = await c.post("/v1/auth/register", json=body)
        assert r.status_code == 403 and r.json()["code"] == "auth.invite_required"
        invite = (
            await c.post("/v1/auth/invites", json={"username": "carl"}, headers=bearer(ann))
        ).json()["invite"]
        r = await c.post("/v1/auth/register", json={**body, "invite": invite})  # not for bob
        assert r.status_code == 403 and r.json()["code"] == "auth.invalid_invite"
        carl = await sign_up(c, "carl", invite=invite)
        assert (await c.get("/v1/auth/me", headers=bearer(carl))).json()["is_admin"] is False
        r = await c.post("/v1/auth/invites", json={"username": "dan"}, headers=bearer(carl))
        assert r.status_code == 403 and r.json()["code"] == "auth.admin_only"
        taken = await c.post("/v1/auth/register", json={**body, "username": "carl"})
        assert taken.status_code in (403, 409)
    async with app_client(with_overrides(settings, auth={"open_registration": True})) as c:
        r = await c.post("/v1/auth/register", json={"username": "eve", "password": PASSWORD})
        assert r.status_code == 201 and r.json()["is_admin"] is False
        taken = await c.post("/v1/auth/register", json={"username": "eve", "password": PASSWORD})
        assert taken.status_code == 409 and taken.json()["code"] == "auth.name_taken"


async def test_api_keys_are_scoped_revocable_and_record_use(client: httpx.AsyncClient) -> None:
    ann = await sign_up(client, "ann")
    created = await client.post(
        "/v1/keys", json={"name": "ha", "scopes": ["audio"]}, headers=bearer(ann)
    )
    assert created.status_code == 201
    key = created.json()
    assert key["key"].startswith("vk_") and len(key["key"]) >= 3 + 43
    listed = (await client.get("/v1/keys", headers=bearer(ann))).json()
    assert "key" not in listed[0] and listed[0]["last_used_at"] is None
    assert (await client.get("/v1/auth/me", headers=bearer(key["key"]))).status_code == 200
    scoped = await client.get("/v1/conversations", headers=bearer(key["key"]))
    assert scoped.status_code == 403 and scoped.json()["code"] == "auth.missing_scope"
    listed = (await client.get("/v1/keys", headers=bearer(ann))).json()
    assert listed[0]["last_used_at"] is not None
    revoked = await client.delete(f"/v1/keys/{key['id']}", headers=bearer(ann))
    assert revoked.status_code == 204
    assert (await client.get("/v1/auth/me", headers=bearer(key["key"]))).status_code == 401
    bad = await client.post("/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=bearer(ann))
    assert bad.status_code == 422
