"""FastAPI dependencies: the request's principal, admin-only and scoped routes."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from vocable.api.auth.service import Authenticator, Principal
from vocable.errors import AuthError, ForbiddenError, TransientStorageError
from vocable.storage.db import Database

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/login",
    auto_error=False,
    description="An access token from /v1/auth/login, or an API key (vk_…) as a bearer token.",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key from /v1/keys."
)


def open_database(request: Request) -> Database:
    """The app's database (503 until startup has opened it)."""
    db: Database | None = request.app.state.db
    if db is None:
        raise TransientStorageError("the database is not open yet; see GET /health")
    return db


def get_authenticator(request: Request) -> Authenticator:
    """The app's authenticator."""
    auth: Authenticator = request.app.state.auth
    return auth


async def current_principal(
    request: Request,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """The principal of a request: a bearer token or API key, or the local user without auth.

    Raises:
        AuthError: 401 without valid credentials.
    """
    db = open_database(request)
    auth = get_authenticator(request)
    if not auth.settings.auth.enabled:
        principal = Principal(request.app.state.user_id, "local", True, via="local")
    else:
        credential = bearer or api_key
        if not credential:
            raise AuthError(
                "sign in: send 'Authorization: Bearer <token or API key>'", code="auth.missing"
            )
        principal = await auth.principal_for(db, credential)
    request.state.user_id = principal.user_id
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def require_admin(principal: PrincipalDep) -> Principal:
    """The principal, if it is an admin (the one place admin-only routes are checked)."""
    if not principal.is_admin:
        raise ForbiddenError("only an admin may do this", code="auth.admin_only")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def require_scope(scope: str) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency that lets through principals whose API key has `scope` (tokens have all)."""

    async def check(principal: PrincipalDep) -> Principal:
        if not principal.has_scope(scope):
            raise ForbiddenError(
                f"this API key lacks the '{scope}' scope", code="auth.missing_scope"
            )
        return principal

    return check
