"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from vocable.errors import (
    AudioInputError,
    ConfigError,
    ConflictError,
    NotFoundError,
    StorageInputError,
    VocableError,
)

PROBLEM_JSON = "application/problem+json"

_STATUS_BY_CODE = {
    "audio.too_long": 413,
    "audio.too_large": 413,
    "audio.not_audio": 415,
    "audio.unsupported_type": 415,
}


def status_for(err: VocableError) -> int:
    """HTTP status for an error: bad input is 4xx, a transient failure 503, the rest 500."""
    if err.code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[err.code]
    if isinstance(err, NotFoundError):
        return 404
    if isinstance(err, ConflictError):
        return 409
    if isinstance(err, AudioInputError | StorageInputError):
        return 422
    if isinstance(err, ConfigError):
        return 500
    return 503 if err.transient else 500


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem-details response."""
    body = {"type": f"urn:vocable:error:{code}", "title": code, "status": status, "detail": detail}
    return JSONResponse({**body, **extra}, status_code=status, media_type=PROBLEM_JSON)


def install(app: FastAPI) -> None:
    """Map every `VocableError` raised by a route to a problem-details response."""

    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, VocableError)  # noqa: S101 - registered for VocableError only
        return problem(status_for(exc), exc.code, exc.message, transient=exc.transient)

    app.add_exception_handler(VocableError, handle)
