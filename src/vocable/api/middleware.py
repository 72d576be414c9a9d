"""ASGI middleware: request ids, access logs, security headers, body size and JSON depth."""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vocable.api.problems import problem
from vocable.config import Settings

request_id_var: ContextVar[str | None] = ContextVar("vocable_request_id", default=None)
"""The id of the request being served (also in every log record, see `api.logs`)."""

access_log = logging.getLogger("vocable.api.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BODY_TYPES = ("application/json", "application/x-www-form-urlencoded", "application/merge-patch")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"microphone=(self), camera=(), geolocation=()"),
)
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


def json_depth(text: str | bytes) -> int:
    """Deepest nesting of arrays and objects in a JSON text (brackets in strings ignored)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text.decode("utf-8", "replace") if isinstance(text, bytes) else text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


class RequestGuard:
    """Request id, access log, security headers, and limits on JSON and form bodies.

    JSON and form bodies are read up to ``api.max_json_bytes`` (413 beyond) and JSON nested deeper
    than ``api.max_json_depth`` is refused (422) before any route sees it. Other bodies (audio
    uploads) pass through; their routes apply the upload limits.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        rid = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500
        path: str = scope.get("path", "")

        async def send_wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-request-id", rid.encode()), *SECURITY_HEADERS]
                if not path.startswith(("/docs", "/redoc", "/ui")):  # pages that run scripts
                    extra.append(API_CSP)
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            rejected = await self._check_body(scope, headers, receive)
            if isinstance(rejected, tuple):
                response = problem(*rejected)
                await response(scope, receive, send_wrapped)
            else:
                await self.app(scope, rejected or receive, send_wrapped)
        finally:
            state = scope.get("state") or {}
            access_log.info(
                "%s %s %s",
                scope.get("method"),
                path,
                status,
                extra={
                    "request_id": rid,
                    "method": scope.get("method"),
                    "path": path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user_id": state.get("user_id"),
                },
            )
            request_id_var.reset(token)

    async def _check_body(
        self, scope: Scope, headers: dict[str, str], receive: Receive
    ) -> Receive | tuple[int, str, str] | None:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if scope.get("method") in ("GET", "HEAD", "OPTIONS") or not content_type.startswith(
            _BODY_TYPES
        ):
            return None
        limit = self.settings.api.max_json_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _too_large(limit)
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                return _too_large(limit)
        if content_type == "application/json" and json_depth(bytes(body)) > (
            self.settings.api.max_json_depth
        ):
            return (
                422,
                "request.too_deep",
                f"JSON nested deeper than {self.settings.api.max_json_depth} levels",
            )
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return dict(await receive())

        return replay


def _too_large(limit: int) -> tuple[int, str, str]:
    return 413, "request.too_large", f"body larger than {limit} bytes (VOCABLE_API__MAX_JSON_BYTES)"
