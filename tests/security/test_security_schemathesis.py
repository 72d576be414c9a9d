"""Schemathesis against the live OpenAPI schema of a real server: no 5xx, responses match."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.authhelp import PASSWORD
from tests.security.helpers import fake_assistant, with_overrides
from vocable.api.app import create_app
from vocable.config import Settings

EXAMPLES_PER_OPERATION = 12


@pytest.fixture
def live(settings: Settings) -> Iterator[str]:
    # The hashing embedder: fuzzing checks the API's contract, not MiniLM's load time.
    roomy = with_overrides(
        settings,
        api={"login_rate": "100000/minute", "expensive_rate": "100000/minute"},
        memory={"embed_engine": "hashing"},
    )
    app = create_app(roomy, assistant=fake_assistant(roomy))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="uvicorn")
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server failed to start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_every_operation_survives_fuzzing(live: str) -> None:
    with httpx.Client(base_url=live) as c:
        c.post("/v1/auth/register", json={"username": "ann", "password": PASSWORD})
        token = c.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    schema = schemathesis.openapi.from_url(f"{live}/openapi.json")
    checks = [not_a_server_error, response_schema_conformance]
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @hsettings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            response = case.call(base_url=live, headers=headers, timeout=10)
            case.validate_response(response, checks=checks)

        try:
            fuzz()
        except Exception as err:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.method.upper()} {operation.path}: {err}")
    assert operations >= 12
    assert not failures, "\n\n".join(failures)


def test_stateful_create_then_delete_links(live: str) -> None:
    with httpx.Client(base_url=live) as c:
        c.post("/v1/auth/register", json={"username": "ann", "password": PASSWORD})
        token = c.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    schema = schemathesis.openapi.from_url(f"{live}/openapi.json")
    links = schema.raw_schema["paths"]["/v1/keys"]["post"]["responses"]["201"]["links"]
    assert links["RevokeKey"]["operationId"] == "revokeKey"
    machine = schema.as_state_machine()
    calls: list[tuple[str, int]] = []

    class Workflow(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": live, "headers": headers, "timeout": 10}

        def validate_response(self, response: Any, case: Any, **kw: Any) -> None:
            calls.append((f"{case.method} {case.path}", response.status_code))
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

    Workflow.run(
        settings=hsettings(
            max_examples=25,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    counts = Counter(calls)
    # the links were followed: created keys and memories were deleted through their ids
    assert counts[("DELETE /v1/keys/{key_id}", 204)] > 0
    assert counts[("DELETE /v1/memories/{memory_id}", 204)] > 0
    assert not [c for c in calls if c[1] >= 500]
