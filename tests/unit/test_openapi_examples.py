"""Every JSON success response in the OpenAPI document shows an example that fits its schema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.security.helpers import fake_assistant
from vocable.api.app import create_app
from vocable.api.examples import EXAMPLES
from vocable.config import Settings


def _has_example(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    if "example" in schema or "examples" in schema:
        return True
    if "$ref" in schema:
        return _has_example(components["schemas"][schema["$ref"].rsplit("/", 1)[1]], components)
    if schema.get("type") == "array":
        return _has_example(schema.get("items", {}), components)
    return any("example" in p or "examples" in p for p in schema.get("properties", {}).values())


def _json_successes(settings: Settings) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    schema = create_app(settings, assistant=fake_assistant(settings)).openapi()
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json")
                if code.startswith("2") and content is not None:
                    found.append(
                        (
                            f"{method.upper()} {path}",
                            operation["operationId"],
                            content,
                            schema["components"],
                        )
                    )
    return found


def test_every_json_success_response_has_an_example(settings: Settings) -> None:
    cases = _json_successes(settings)
    assert len(cases) >= 15
    missing = [
        name
        for name, _, content, components in cases
        if "example" not in content and not _has_example(content.get("schema", {}), components)
    ]
    assert missing == [], f"add an example (a model example, or api/examples.py): {missing}"


def test_the_examples_fit_their_schemas(settings: Settings) -> None:
    checked = 0
    for name, operation_id, content, components in _json_successes(settings):
        if operation_id not in EXAMPLES:
            continue
        schema = content.get("schema", {})
        if schema:
            jsonschema.validate(EXAMPLES[operation_id], {**schema, "components": components})
            checked += 1
        assert content["example"] == EXAMPLES[operation_id], name
    assert checked >= 5


def test_every_example_belongs_to_an_operation(settings: Settings) -> None:
    known = {operation_id for _, operation_id, _, _ in _json_successes(settings)}
    assert set(EXAMPLES) <= known


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return Settings(data_dir=tmp_path)
