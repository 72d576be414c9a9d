"""The OpenAPI document: every error response is a problem detail, with its schema."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from vocable.api.examples import EXAMPLES
from vocable.api.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "code": {"type": "string", "description": "Stable machine-readable error code."},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "hint": {"type": "string"},
        "transient": {"type": "boolean"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
LINKS: dict[tuple[str, str], dict[str, tuple[str, str]]] = {
    ("post", "/v1/keys"): {"RevokeKey": ("revokeKey", "key_id")},
    ("post", "/v1/memories"): {"DeleteMemory": ("deleteMemory", "memory_id")},
}
"""OpenAPI links from a created resource's ``id`` to the operations that take it."""
_COMMON = {
    "401": "No valid credentials.",
    "403": "Not allowed: not an admin, or the API key lacks the scope.",
    "413": "Body too large.",
    "422": "Invalid request.",
    "503": "Not ready yet (engines or database).",
}


def install_openapi(app: FastAPI) -> None:
    """Replace the app's OpenAPI builder with one that documents problem details everywhere."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = PROBLEM_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                secured = bool(operation.get("security"))
                for code, text in _COMMON.items():
                    if code in ("401", "403") and not secured:
                        continue
                    responses.setdefault(code, {"description": text})
                if path.startswith("/v1/auth/"):
                    responses.setdefault("429", {"description": "Too many attempts."})
                for name, (target, param) in LINKS.get((method, path), {}).items():
                    created = responses.get("201", {})
                    created.setdefault("links", {})[name] = {
                        "operationId": target,
                        "parameters": {param: "$response.body#/id"},
                    }
                _add_example(operation)
                for code, response in responses.items():
                    if code.isdigit() and int(code) >= 400:
                        response["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]  # FastAPI's documented override


def _add_example(operation: dict[str, Any]) -> None:
    example = EXAMPLES.get(operation.get("operationId", ""))
    if example is None:
        return
    for code, response in operation.get("responses", {}).items():
        content = response.get("content", {}).get("application/json")
        if code.startswith("2") and content is not None:
            content.setdefault("example", example)
