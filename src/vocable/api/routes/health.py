"""Liveness and engine readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from vocable.api.problems import problem

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Engine readiness",
    operation_id="getHealth",
    responses={503: {"description": "Some default engine is not ready."}},
)
async def health(request: Request) -> JSONResponse:
    """``ready`` once every engine loaded; each engine says its model, device and errors."""
    assistant = request.app.state.assistant
    error: str | None = request.app.state.load_error
    engines: dict[str, Any] = assistant.engines.health() if assistant is not None else {}
    ready = assistant is not None and all(e.get("ready") for e in engines.values())
    status = "ready" if ready else ("failed" if error else "loading")
    body: dict[str, Any] = {"status": status, "engines": engines}
    if error:
        body["error"] = error
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/ready",
    summary="Readiness for a load balancer",
    operation_id="getReady",
    responses={503: {"description": "The database or an engine is not ready."}},
)
async def ready(request: Request) -> JSONResponse:
    """200 once the database is open and every engine loaded; 503 (a problem detail) until then."""
    state = request.app.state
    assistant = state.assistant
    engines_ready = assistant is not None and all(
        e.get("ready") for e in assistant.engines.health().values()
    )
    if state.db is None or not engines_ready:
        waiting = "the database" if state.db is None else "the engines"
        return problem(503, "not_ready", f"waiting for {waiting}; see GET /health", transient=True)
    return JSONResponse({"status": "ready"})
