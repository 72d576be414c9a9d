"""JWT signing with a pinned algorithm, audience and issuer, and the persisted secret."""

from __future__ import annotations

import os
import secrets
import stat
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import jwt

from vocable.config import AuthSettings
from vocable.errors import AuthError, ConfigError

ALGORITHM = "HS256"
"""The only algorithm tokens are signed with or accepted in."""
SECRET_FILE = Path("secrets") / "jwt_secret"
MIN_SECRET_CHARS = 32
_PLACEHOLDERS = ("change", "secret", "placeholder", "example", "default", "xxx", "todo")

TokenKind = Literal["access", "refresh", "invite", "ws"]


def _is_placeholder(secret: str) -> bool:
    lowered = secret.lower()
    return len(secret) < MIN_SECRET_CHARS or any(word in lowered for word in _PLACEHOLDERS)


def load_or_create_secret(data_dir: Path) -> bytes:
    """The persisted signing secret, generated once with mode 0600 and never regenerated.

    Raises:
        ConfigError: the file is readable by others, or empty.
    """
    path = data_dir / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(64))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} is readable by other users (mode {mode:o}); run chmod 600 on it",
            code="config.secret_permissions",
        )
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(f"{path} holds no usable secret", code="config.secret_invalid")
    return secret.encode()


def signing_secret(settings: AuthSettings, data_dir: Path) -> bytes:
    """The secret from settings, or the persisted one.

    Raises:
        ConfigError: a placeholder or short secret outside ``auth.dev_mode``.
    """
    if settings.secret is None:
        return load_or_create_secret(data_dir)
    value = settings.secret.get_secret_value()
    if _is_placeholder(value) and not settings.dev_mode:
        raise ConfigError(
            f"VOCABLE_AUTH__SECRET looks like a placeholder or has under {MIN_SECRET_CHARS} "
            "characters; set a random one (or unset it to generate one) or turn on dev mode",
            code="config.placeholder_secret",
        )
    return value.encode()


class TokenSigner:
    """Issues and checks JWTs: HS256 only, ``iss`` and ``aud`` required, a ``typ`` per use.

    Args:
        secret: The signing key.
        settings: Issuer, audience and lifetimes.
    """

    def __init__(self, secret: bytes, settings: AuthSettings) -> None:
        self._secret = secret
        self.settings = settings

    def issue(
        self, kind: TokenKind, *, subject: str, ttl_s: float, **claims: Any
    ) -> tuple[str, dict[str, Any]]:
        """A signed token and its claims (``jti`` is fresh unless given in `claims`)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "sub": subject,
            "iat": now,
            "exp": now + int(ttl_s),
            "jti": uuid.uuid4().hex,
            "typ": kind,
            **claims,
        }
        return jwt.encode(body, self._secret, algorithm=ALGORITHM), body

    def decode(self, token: str, kind: TokenKind) -> dict[str, Any]:
        """The claims of a valid token of this kind.

        Raises:
            AuthError: ``auth.invalid_token`` for a bad signature, algorithm, audience, issuer,
                kind, or missing claims; ``auth.token_expired`` once expired.
        """
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "typ"]},
            )
        except jwt.ExpiredSignatureError as err:
            raise AuthError("the token has expired", code="auth.token_expired") from err
        except jwt.PyJWTError as err:
            raise AuthError("the token is not valid", code="auth.invalid_token") from err
        if claims.get("typ") != kind:
            raise AuthError("the token is not valid here", code="auth.invalid_token")
        return claims
