"""API keys of the signed-in user: shown once at creation, stored hashed, scoped, revocable."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from vocable.api.auth.deps import open_database, require_scope
from vocable.api.auth.service import SCOPES, Principal
from vocable.api.params import RowIdPath
from vocable.api.ratelimit import LimiterDep, client_ip
from vocable.errors import VocableError
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.storage.models import NAME_MAX, ApiKey

router = APIRouter(prefix="/v1/keys", tags=["keys"])
KeysUser = Annotated[Principal, Depends(require_scope("keys"))]
DbDep = Annotated[Database, Depends(open_database)]


class KeyRequest(BaseModel):
    """A new key: a label and, optionally, the scopes it is limited to."""

    name: str = Field(min_length=1, max_length=NAME_MAX, examples=["home-assistant"])
    scopes: list[str] = Field(
        default_factory=list, max_length=len(SCOPES), examples=[["audio", "turns"]]
    )


class KeyOut(BaseModel):
    """A key as listed: never the secret."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewKeyOut(KeyOut):
    """A created key, with its secret: shown this once only."""

    key: str


def key_out(row: ApiKey) -> KeyOut:
    """The listing form of a key row."""
    return KeyOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=row.scopes.split(),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@router.get("", summary="List your API keys", operation_id="listKeys")
async def list_keys(principal: KeysUser, db: DbDep) -> list[KeyOut]:
    """Every key of yours, revoked ones included, oldest first."""
    async with db.uow(readonly=True) as tx:
        rows = await repo.list_api_keys(tx, user_id=principal.user_id)
    return [key_out(r) for r in rows]


@router.post(
    "",
    status_code=201,
    summary="Create an API key",
    operation_id="createKey",
    responses={429: {"description": "Too many keys created."}},
)
async def create_key(
    request: Request, body: KeyRequest, principal: KeysUser, db: DbDep, limiter: LimiterDep
) -> NewKeyOut:
    """Create a key; the ``key`` field is shown only in this response."""
    unknown = set(body.scopes) - set(SCOPES)
    if unknown:
        raise VocableError(
            f"unknown scopes {sorted(unknown)}; known: {list(SCOPES)}", code="request.invalid"
        )
    if principal.scopes:  # a scoped key cannot mint a broader one
        body.scopes = sorted(set(body.scopes or principal.scopes) & principal.scopes)
    rate = request.app.state.settings.api.login_rate
    await limiter.hit(rate, "keys-ip", client_ip(request))
    await limiter.hit(rate, "keys-account", str(principal.user_id))
    async with db.uow() as tx:
        row, secret = await repo.create_api_key(
            tx, user_id=principal.user_id, name=body.name, scopes=body.scopes
        )
    return NewKeyOut(**key_out(row).model_dump(), key=secret)


@router.delete(
    "/{key_id}",
    status_code=204,
    summary="Revoke an API key",
    operation_id="revokeKey",
    responses={404: {"description": "No such key."}},
)
async def revoke_key(key_id: RowIdPath, principal: KeysUser, db: DbDep) -> Response:
    """Revoke one of your keys; it stops working at once."""
    async with db.uow() as tx:
        await repo.revoke_api_key(tx, user_id=principal.user_id, key_id=key_id)
    return Response(status_code=204)
