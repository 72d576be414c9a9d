"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vocable.errors import (
    AudioInputError,
    AuthError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    StorageInputError,
    VocableError,
)

PROBLEM_JSON = "application/problem+json"

_STATUS_BY_CODE = {
    "audio.too_long": 413,
    "audio.too_large": 413,
    "audio.not_audio": 415,
    "audio.unsupported_type": 415,
    "auth.weak_password": 422,
    "auth.name_taken": 409,
    "request.invalid": 422,
    "voice.invalid_name": 422,
}
_HINTS = {
    401: "sign in at POST /v1/auth/login, or send an API key as a bearer token",
    429: "wait for Retry-After seconds before trying again",
}


def status_for(err: VocableError) -> int:
    """HTTP status for an error: bad input is 4xx, a transient failure 503, the rest 500."""
    if err.code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[err.code]
    if isinstance(err, NotFoundError):
        return 404
    if isinstance(err, AuthError):
        return 401
    if isinstance(err, ForbiddenError):
        return 403
    if isinstance(err, RateLimitedError):
        return 429
    if isinstance(err, ConflictError):
        return 409
    if isinstance(err, AudioInputError | StorageInputError):
        return 422
    if isinstance(err, ConfigError):
        return 500
    return 503 if err.transient else 500


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem-details response; `code` is both ``title`` and ``code``, plus a hint if known."""
    body = {
        "type": f"urn:vocable:error:{code}",
        "title": code,
        "code": code,
        "status": status,
        "detail": detail,
    }
    if status in _HINTS:
        body["hint"] = _HINTS[status]
    return JSONResponse(
        {**body, **extra}, status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e["type"]}
        for e in exc.errors()
    ]


def install(app: FastAPI) -> None:
    """Map every `VocableError` raised by a route to a problem-details response."""

    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, VocableError)  # noqa: S101 - registered for VocableError only
        status = status_for(exc)
        headers: dict[str, str] = {}
        if isinstance(exc, RateLimitedError):
            headers["Retry-After"] = str(exc.retry_after_s)
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return problem(status, exc.code, exc.message, headers=headers, transient=exc.transient)

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"])
        detail = f"{where}: {first['msg']}" if where else str(first["msg"])
        return problem(422, "request.invalid", detail, errors=errors)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, f"http.{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else code
        return problem(exc.status_code, code, detail, headers=dict(exc.headers or {}))

    async def crashed(_: Request, exc: Exception) -> JSONResponse:
        return problem(500, "internal", "something went wrong on the server; it was logged")

    app.add_exception_handler(VocableError, handle)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, crashed)
