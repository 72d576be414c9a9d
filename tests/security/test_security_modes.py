"""Authentication switched off (loopback, one user), and the structured log formats."""

from __future__ import annotations

import json
import logging

from tests.security.helpers import AppClient, with_overrides
from vocable.api.logs import DevFormatter, JsonFormatter
from vocable.api.middleware import request_id_var
from vocable.cli_accounts import is_loopback
from vocable.config import Settings


async def test_without_auth_every_request_is_the_local_admin(
    app_client: AppClient, settings: Settings
) -> None:
    async with app_client(with_overrides(settings, auth={"enabled": False})) as c:
        me = (await c.get("/v1/auth/me")).json()
        assert me["via"] == "local" and me["username"] == "local" and me["is_admin"] is True
        assert (await c.get("/v1/conversations")).status_code == 200


def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.1.2.3"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.2", "::", "example.com"))  # noqa: S104


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "vocable.api.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_logs_carry_the_request_fields() -> None:
    line = JsonFormatter().format(_record(request_id="r1", status=200, path="/x", user_id=3))
    body = json.loads(line)
    assert body["message"] == "GET /x" and body["level"] == "info"
    assert body["request_id"] == "r1" and body["status"] == 200 and body["user_id"] == 3


def test_log_lines_pick_up_the_current_request_id() -> None:
    token = request_id_var.set("ctx-id")
    try:
        assert json.loads(JsonFormatter().format(_record()))["request_id"] == "ctx-id"
        assert "[ctx-id] GET /x" in DevFormatter().format(_record())
    finally:
        request_id_var.reset(token)


def test_configure_logging_picks_the_format() -> None:
    from vocable.api.logs import configure_logging

    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    access = logging.getLogger("uvicorn.access")
    try:
        configure_logging(json_lines=True)
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        assert access.disabled  # our access log replaces uvicorn's
        configure_logging(json_lines=False)
        assert isinstance(root.handlers[0].formatter, DevFormatter)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
        access.disabled = False
