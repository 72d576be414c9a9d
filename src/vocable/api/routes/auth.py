"""Sign-up, login (JSON or OAuth2 form), token refresh and logout, invites, WebSocket tickets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field, ValidationError

from vocable.api.auth.deps import AdminDep, PrincipalDep, get_authenticator, open_database
from vocable.api.auth.service import Authenticator
from vocable.api.ratelimit import LimiterDep, client_ip
from vocable.errors import StorageInputError, VocableError
from vocable.storage.db import Database
from vocable.storage.models import NAME_MAX

router = APIRouter(prefix="/v1/auth", tags=["auth"])
AuthDep = Annotated[Authenticator, Depends(get_authenticator)]
DbDep = Annotated[Database, Depends(open_database)]
USERNAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"


class Credentials(BaseModel):
    """A user name and password."""

    username: str = Field(min_length=1, max_length=NAME_MAX, pattern=USERNAME, examples=["ann"])
    password: str = Field(min_length=1, max_length=1024, examples=["correct horse battery"])


class Registration(Credentials):
    """A new account; `invite` is needed unless it is the first or sign-up is open."""

    invite: str | None = Field(None, max_length=4096, description="Invite from an admin.")


class RefreshRequest(BaseModel):
    """A refresh token from a login or an earlier refresh."""

    refresh_token: str = Field(min_length=1, max_length=4096)


class InviteRequest(BaseModel):
    """The name the invited person will register with."""

    username: str = Field(min_length=1, max_length=NAME_MAX, pattern=USERNAME)


class TokenResponse(BaseModel):
    """OAuth2 token response."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    refresh_token: str


class UserOut(BaseModel):
    """An account."""

    id: int
    username: str
    is_admin: bool


TOKEN_EXAMPLE = {
    "access_token": "eyJhbGciOiJIUzI1NiIs…",
    "token_type": "bearer",
    "expires_in": 900,
    "refresh_token": "eyJhbGciOiJIUzI1NiIs…",
}


@router.post(
    "/register",
    status_code=201,
    summary="Create an account (the first one is admin)",
    operation_id="register",
    responses={
        403: {"description": "An invite is needed."},
        409: {"description": "Name taken."},
        429: {"description": "Too many sign-ups."},
    },
)
async def register(
    request: Request, body: Registration, auth: AuthDep, db: DbDep, limiter: LimiterDep
) -> UserOut:
    """Register; later sign-ups need an admin's invite unless ``auth.open_registration``."""
    rate = request.app.state.settings.api.login_rate
    await limiter.hit(rate, "register-ip", client_ip(request))
    await limiter.hit(rate, "register-account", body.username.lower())
    try:
        user = await auth.register(
            db, name=body.username, password=body.password, invite=body.invite
        )
    except StorageInputError as err:
        if err.code != "storage.duplicate":
            raise
        raise VocableError("that user name is taken", code="auth.name_taken") from err
    return UserOut(id=user.id, username=user.name, is_admin=user.is_admin)


async def _credentials(request: Request) -> Credentials:
    """JSON ``{"username", "password"}`` or the OAuth2 password form."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = await request.form()
            data: Any = {k: form.get(k) for k in ("username", "password")}
        else:
            data = await request.json()
        return Credentials.model_validate(data)
    except (ValueError, ValidationError) as err:
        raise VocableError(
            "send JSON {'username', 'password'} or an OAuth2 password form",
            code="request.invalid",
        ) from err


@router.post(
    "/login",
    summary="Log in with a password",
    operation_id="login",
    responses={
        200: {"content": {"application/json": {"example": TOKEN_EXAMPLE}}},
        401: {"description": "Wrong name or password."},
        429: {"description": "Too many attempts."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": Credentials.model_json_schema()},
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["username", "password"],
                        "properties": {
                            "username": {"type": "string", "minLength": 1, "pattern": USERNAME},
                            "password": {"type": "string", "minLength": 1},
                            "grant_type": {"type": "string"},
                        },
                    }
                },
            },
        }
    },
)
async def login(request: Request, auth: AuthDep, db: DbDep, limiter: LimiterDep) -> TokenResponse:
    """Exchange a password for a short-lived access token and a rotating refresh token."""
    rate = request.app.state.settings.api.login_rate
    await limiter.hit(rate, "login-ip", client_ip(request))
    creds = await _credentials(request)
    await limiter.hit(rate, "login-account", creds.username.lower())
    pair = await auth.login(db, name=creds.username, password=creds.password)
    return TokenResponse(**pair.as_dict())


@router.post(
    "/refresh",
    summary="Rotate a refresh token",
    operation_id="refreshToken",
    responses={401: {"description": "Invalid, used or revoked refresh token."}},
)
async def refresh(body: RefreshRequest, auth: AuthDep, db: DbDep) -> TokenResponse:
    """A new token pair; the refresh token sent is spent (reusing it revokes the login)."""
    return TokenResponse(**(await auth.refresh(db, body.refresh_token)).as_dict())


@router.post(
    "/logout",
    status_code=204,
    summary="Revoke a login",
    operation_id="logout",
    responses={401: {"description": "Invalid refresh token."}},
)
async def logout(body: RefreshRequest, auth: AuthDep, db: DbDep) -> Response:
    """Revoke the refresh token and every token rotated from the same login."""
    await auth.logout(db, body.refresh_token)
    return Response(status_code=204)


@router.get("/me", summary="The signed-in account", operation_id="getMe")
async def me(principal: PrincipalDep) -> dict[str, Any]:
    """Who the credentials belong to, and the API key's scopes (null: all)."""
    scopes = sorted(principal.scopes) if principal.scopes is not None else None
    return {
        "id": principal.user_id,
        "username": principal.name,
        "is_admin": principal.is_admin,
        "via": principal.via,
        "scopes": scopes,
    }


@router.post(
    "/invites",
    status_code=201,
    summary="Invite someone (admin)",
    operation_id="createInvite",
    responses={403: {"description": "Not an admin."}},
)
async def invite(body: InviteRequest, admin: AdminDep, auth: AuthDep) -> dict[str, str]:
    """An invite token for one user name, valid for 7 days."""
    return {"username": body.username, "invite": auth.invite(admin=admin, name=body.username)}


@router.post("/ws-ticket", summary="A 30-second WebSocket ticket", operation_id="createWsTicket")
async def ws_ticket(principal: PrincipalDep, auth: AuthDep) -> dict[str, str]:
    """A 30 s ticket for ``?ticket=`` on the realtime WebSocket (browsers send no headers)."""
    return {"ticket": auth.ws_ticket(principal)}
