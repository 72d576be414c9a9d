"""Accounts, logins, refresh-token rotation and credential checks, over one database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from vocable.api.auth.passwords import hash_password, verify_password
from vocable.api.auth.tokens import TokenSigner
from vocable.config import Settings
from vocable.errors import AuthError, ForbiddenError
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.storage.models import User
from vocable.storage.repo.users import KEY_PREFIX

SCOPES = ("audio", "conversations", "keys", "memory", "metrics", "realtime", "turns", "voices")
"""Scopes an API key may be limited to; a key without scopes has them all."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for.

    Attributes:
        user_id: The account.
        name: Its name.
        is_admin: Whether admin-only routes are open to it.
        scopes: The API key's scopes; None for a login token (every scope).
        via: ``token``, ``api_key``, or ``local`` when authentication is disabled.
    """

    user_id: int
    name: str
    is_admin: bool
    scopes: frozenset[str] | None = None
    via: Literal["token", "api_key", "local"] = "token"

    def has_scope(self, scope: str) -> bool:
        """Whether this principal may use routes of `scope`."""
        return self.scopes is None or not self.scopes or scope in self.scopes


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh returns."""

    access_token: str
    refresh_token: str
    expires_in: int

    def as_dict(self) -> dict[str, Any]:
        """The OAuth2 token response body."""
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
        }


def _principal(user: User, **kw: Any) -> Principal:
    return Principal(int(user.id), user.name, bool(user.is_admin), **kw)


class Authenticator:
    """Authentication for one app: its signer, settings and (once open) database.

    Args:
        settings: The app's settings.
        signer: Signs and checks tokens.
    """

    def __init__(self, settings: Settings, signer: TokenSigner) -> None:
        self.settings = settings
        self.signer = signer

    async def register(
        self, db: Database, *, name: str, password: str | None, invite: str | None = None
    ) -> User:
        """Create an account. The first becomes admin; later ones need an invite unless open.

        Raises:
            ForbiddenError: ``auth.invite_required`` (or a bad invite).
        """
        password_hash = hash_password(password) if password is not None else None
        async with db.uow() as tx:
            first = await repo.count_users(tx) == 0
            if not first and not self.settings.auth.open_registration:
                self._check_invite(invite, name)
            return await repo.create_account(
                tx, name=name, password_hash=password_hash, is_admin=first
            )

    def _check_invite(self, invite: str | None, name: str) -> None:
        if invite is None:
            raise ForbiddenError(
                "sign-up needs an invite from an admin", code="auth.invite_required"
            )
        try:
            claims = self.signer.decode(invite, "invite")
        except AuthError as err:
            raise ForbiddenError("the invite is not valid", code="auth.invalid_invite") from err
        if claims.get("name") != name:
            raise ForbiddenError("the invite is for another name", code="auth.invalid_invite")

    def invite(self, *, admin: Principal, name: str, ttl_s: float = 7 * 86400) -> str:
        """An invite for account `name`, signed for `ttl_s` (names are unique: single use)."""
        token, _ = self.signer.issue("invite", subject=str(admin.user_id), ttl_s=ttl_s, name=name)
        return token

    async def login(self, db: Database, *, name: str, password: str) -> TokenPair:
        """Check a password and start a new refresh-token family.

        Raises:
            AuthError: ``auth.bad_credentials`` for an unknown name or a wrong password.
        """
        async with db.uow(readonly=True) as tx:
            user = await repo.find_user(tx, name=name)
        if not verify_password(user.password_hash if user else None, password) or user is None:
            raise AuthError("wrong user name or password", code="auth.bad_credentials")
        return await self._pair(db, int(user.id), family=uuid.uuid4().hex)

    async def _pair(self, db: Database, user_id: int, *, family: str) -> TokenPair:
        auth = self.settings.auth
        access, _ = self.signer.issue("access", subject=str(user_id), ttl_s=auth.access_ttl_s)
        refresh, claims = self.signer.issue(
            "refresh", subject=str(user_id), ttl_s=auth.refresh_ttl_s, fam=family
        )
        async with db.uow() as tx:
            await repo.add_refresh_token(
                tx,
                user_id=user_id,
                jti=claims["jti"],
                family=family,
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        return TokenPair(access, refresh, auth.access_ttl_s)

    async def refresh(self, db: Database, token: str) -> TokenPair:
        """Rotate a refresh token. Reusing a rotated one revokes its whole family.

        Raises:
            AuthError: ``auth.invalid_token`` for a forged, expired, used or revoked token.
        """
        claims = self.signer.decode(token, "refresh")
        async with db.uow() as tx:
            row = await repo.find_refresh_token(tx, jti=str(claims["jti"]))
            if row is None or row.revoked_at is not None:
                raise AuthError("the refresh token was revoked", code="auth.invalid_token")
            if not await repo.mark_refresh_used(tx, token_id=int(row.id)):
                await repo.revoke_refresh_family(tx, user_id=row.user_id, family=row.family)
                reused = True
            else:
                reused = False
            user_id, family = int(row.user_id), row.family
        if reused:  # committed above: the family stays revoked
            raise AuthError("the refresh token was already used", code="auth.invalid_token")
        return await self._pair(db, user_id, family=family)

    async def logout(self, db: Database, token: str) -> None:
        """Revoke the refresh token's family (every token rotated from that login)."""
        claims = self.signer.decode(token, "refresh")
        async with db.uow() as tx:
            row = await repo.find_refresh_token(tx, jti=str(claims["jti"]))
            if row is not None:
                await repo.revoke_refresh_family(tx, user_id=row.user_id, family=row.family)

    def ws_ticket(self, principal: Principal, ttl_s: float = 30) -> str:
        """A short-lived ticket that opens one WebSocket (``?ticket=``) for `principal`."""
        token, _ = self.signer.issue("ws", subject=str(principal.user_id), ttl_s=ttl_s)
        return token

    async def principal_for(
        self,
        db: Database,
        credential: str,
        *,
        kinds: tuple[Literal["access", "ws"], ...] = ("access",),
    ) -> Principal:
        """Who `credential` (an access token, a ``ws`` ticket or an ``vk_`` API key) acts for.

        Raises:
            AuthError: the credential is invalid, expired or revoked, or its user is gone.
        """
        if credential.startswith(KEY_PREFIX):
            async with db.uow() as tx:
                key = await repo.authenticate_api_key(tx, secret=credential)
                user = await tx.get(User, key.user_id) if key is not None else None
            if key is None or user is None:
                raise AuthError("the API key is not valid", code="auth.invalid_key")
            return _principal(user, scopes=frozenset(key.scopes.split()), via="api_key")
        claims: dict[str, Any] | None = None
        for kind in kinds:
            try:
                claims = self.signer.decode(credential, kind)
                break
            except AuthError:
                if kind == kinds[-1]:
                    raise
        assert claims is not None  # noqa: S101 - the loop returns or raises
        subject = str(claims["sub"])
        if not subject.isdigit():
            raise AuthError("the token is not valid", code="auth.invalid_token")
        async with db.uow(readonly=True) as tx:
            user = await tx.get(User, int(subject))
        if user is None:
            raise AuthError("the account no longer exists", code="auth.invalid_token")
        return _principal(user)
