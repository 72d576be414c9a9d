"""Problem details everywhere, body and JSON limits, CORS, security headers, request ids."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.authhelp import bearer, sign_up
from tests.security.helpers import AppClient, with_overrides
from vocable.api.middleware import json_depth
from vocable.config import Settings


def _is_problem(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["code"] == code and body["detail"]
    assert "Traceback" not in r.text


async def test_unknown_routes_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    _is_problem(await client.get("/v1/nowhere"), 404, "not_found")
    _is_problem(await client.put("/health"), 405, "method_not_allowed")


async def test_validation_errors_are_problems(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/auth/register", json={"username": "", "password": 3})
    _is_problem(r, 422, "request.invalid")
    assert {tuple(e["loc"]) for e in r.json()["errors"]} >= {("body", "username")}
    _is_problem(await client.post("/v1/auth/login", content=b"{not json"), 422, "request.invalid")
    tokens = await sign_up(client, "ann")
    r = await client.get("/v1/conversations/abc", headers=bearer(tokens))
    _is_problem(r, 422, "request.invalid")


async def test_json_depth_and_size_limits(app_client: AppClient, settings: Settings) -> None:
    small = with_overrides(settings, api={"max_json_bytes": 2000, "max_json_depth": 8})
    async with app_client(small) as c:
        deep = '{"username": "a", "password": "b", "x": ' + "[" * 9 + "]" * 9 + "}"
        r = await c.post(
            "/v1/auth/login", content=deep, headers={"content-type": "application/json"}
        )
        _is_problem(r, 422, "request.too_deep")
        big = {"username": "a", "password": "b" * 3000}
        _is_problem(await c.post("/v1/auth/login", json=big), 413, "request.too_large")

        async def chunked():  # type: ignore[no-untyped-def]
            for _ in range(5):
                yield b'{"a": "' + b"x" * 500 + b'"}'

        r = await c.post(
            "/v1/auth/login", content=chunked(), headers={"content-type": "application/json"}
        )
        _is_problem(r, 413, "request.too_large")
        ok = '{"username": "a", "password": "b", "x": ' + "[" * 7 + "]" * 7 + "}"
        r = await c.post("/v1/auth/login", content=ok, headers={"content-type": "application/json"})
        assert r.status_code == 401  # got past the limits to the credentials check


@pytest.mark.parametrize(
    ("text", "depth"),
    [("{}", 1), ('{"a": [1, {"b": []}]}', 4), ('"[[[["', 0), ('["\\"[", [[]]]', 3)],
)
def test_json_depth_ignores_brackets_in_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


async def test_security_headers_and_request_ids(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="vocable.api.access"):
        r = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    (record,) = [rec for rec in caplog.records if getattr(rec, "path", None) == "/health"]
    assert record.request_id == "abc-123" and record.status == r.status_code  # type: ignore[attr-defined]
    fresh = await client.get("/health", headers={"X-Request-ID": "bad id\nwith newline"})
    assert fresh.headers["x-request-id"] != "bad id\nwith newline"
    assert len(fresh.headers["x-request-id"]) == 32


async def test_cors_comes_from_settings(app_client: AppClient, settings: Settings) -> None:
    preflight = {"Origin": "http://ui.local", "Access-Control-Request-Method": "POST"}
    async with app_client() as c:
        r = await c.options("/v1/auth/login", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
    allowed = with_overrides(settings, api={"cors_origins": ["http://ui.local"]})
    async with app_client(allowed) as c:
        r = await c.options("/v1/auth/login", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "http://ui.local"
        r = await c.options("/v1/auth/login", headers={**preflight, "Origin": "http://evil"})
        assert r.headers.get("access-control-allow-origin") != "http://evil"


@pytest.mark.parametrize(
    "voice", ["../../etc/passwd", "/etc/passwd", "a\x00b", "..", "voices/../x", "C:\\x"]
)
async def test_path_traversal_in_voice_names_is_rejected(
    client: httpx.AsyncClient, settings: Settings, voice: str
) -> None:
    tokens = await sign_up(client, "ann")
    before = {p for p in settings.data_dir.parent.rglob("*")}
    r = await client.post(
        "/v1/audio/speech",
        json={"model": "tts-1", "input": "hi", "voice": voice, "response_format": "wav"},
        headers=bearer(tokens),
    )
    _is_problem(r, 422, r.json().get("code", "?"))
    assert r.json()["code"] in ("voice.bad_name", "request.invalid")
    new = {p for p in settings.data_dir.parent.rglob("*")} - before
    assert all(settings.data_dir in p.parents for p in new)


TRAVERSAL = ["../../etc/passwd", "/etc/passwd", "a\x00b", "..", "voices/../x", "C:\\x", ".hidden"]


@pytest.mark.parametrize("name", TRAVERSAL)
async def test_path_traversal_in_new_voice_names_is_rejected_and_nothing_is_written(
    client: httpx.AsyncClient, settings: Settings, name: str
) -> None:
    tokens = await sign_up(client, "ann")
    before = {p for p in settings.data_dir.parent.rglob("*")}
    r = await client.post(
        "/v1/voices",
        data={"name": name},
        files={"sample": ("s.wav", b"RIFF" + b"\0" * 4000, "audio/wav")},
        headers=bearer(tokens),
    )
    _is_problem(r, 422, "voice.bad_name")
    assert r.json()["hint"] and r.json()["check"] == "bad_name"
    r = await client.patch("/v1/voices/someone", json={"name": name}, headers=bearer(tokens))
    assert r.status_code in (404, 422), r.text  # no voice 'someone'; a bad name may come first
    new = {p for p in settings.data_dir.parent.rglob("*")} - before
    assert all(settings.data_dir in p.parents for p in new)
    assert not (settings.data_dir / "voices").exists()


@pytest.mark.parametrize("name", ["..", "%2e%2e", "..%2Fx", "a%00b", "%2Fetc%2Fpasswd"])
async def test_path_traversal_in_voice_paths_finds_nothing(
    client: httpx.AsyncClient, name: str
) -> None:
    tokens = await sign_up(client, "ann")
    for method in ("GET", "DELETE"):
        r = await client.request(method, f"/v1/voices/{name}", headers=bearer(tokens))
        assert r.status_code in (404, 405, 422), (method, name, r.text)
        assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("name", ["../../evil.wav", "/tmp/evil.wav", "a\x00.wav"])
async def test_path_traversal_in_upload_file_names_writes_nothing_outside(
    client: httpx.AsyncClient,
    settings: Settings,
    name: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from tests.unit.test_api import question_wav

    tokens = await sign_up(client, "ann")
    outside = settings.data_dir.parent
    before = {p for p in outside.rglob("*")}
    for url in ("/v1/turns", "/v1/audio/transcriptions"):
        r = await client.post(
            url, files={"file": (name, question_wav(), "audio/wav")}, headers=bearer(tokens)
        )
        assert r.status_code in (200, 422), r.text
    new = {p for p in outside.rglob("*")} - before
    assert new and all(settings.data_dir in p.parents for p in new)
    assert not (outside / "evil.wav").exists()


async def test_ready_is_a_problem_until_the_database_is_open(settings: Settings) -> None:
    from tests.security.helpers import fake_assistant
    from vocable.api.app import create_app

    app = create_app(settings, assistant=fake_assistant(settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        _is_problem(await c.get("/ready"), 503, "not_ready")  # lifespan not run: no database
        async with app.router.lifespan_context(app):
            r = await c.get("/ready")
            assert r.status_code == 200 and r.json() == {"status": "ready"}


async def test_a_crash_is_a_500_problem_without_a_trace(settings: Settings) -> None:
    from tests.security.helpers import fake_assistant
    from vocable.api.app import create_app

    app = create_app(settings, assistant=fake_assistant(settings))

    async def boom() -> None:
        raise RuntimeError("secret internals at /srv/vocable/db.py line 42")

    app.add_api_route("/test/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/test/boom")
    _is_problem(r, 500, "internal")
    assert "secret internals" not in r.text and "db.py" not in r.text
