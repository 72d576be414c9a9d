"""Authentication: argon2 passwords, JWTs, API keys, and the HTTP and WebSocket checks."""

from vocable.api.auth.deps import (
    AdminDep,
    PrincipalDep,
    current_principal,
    require_admin,
    require_scope,
)
from vocable.api.auth.service import SCOPES, Authenticator, Principal, TokenPair
from vocable.api.auth.tokens import ALGORITHM, TokenSigner, signing_secret
from vocable.api.auth.websocket import POLICY_VIOLATION, authenticate_websocket

__all__ = [
    "ALGORITHM",
    "POLICY_VIOLATION",
    "SCOPES",
    "AdminDep",
    "Authenticator",
    "Principal",
    "PrincipalDep",
    "TokenPair",
    "TokenSigner",
    "authenticate_websocket",
    "current_principal",
    "require_admin",
    "require_scope",
    "signing_secret",
]
