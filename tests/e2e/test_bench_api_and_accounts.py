"""`vocable bench api`, `vocable users`/`keys` and the bind check, as a user runs them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vocable.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_bench_api_prints_rates_and_p95_per_level() -> None:
    result = runner.invoke(app, ["bench", "api", "-n", "2", "-c", "1", "-c", "2", "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    body = json.loads(lines[0])
    assert body["bench"] == "api" and body["n"] == 2 and body["concurrency"] == [1, 2]
    for clients in (1, 2):
        for name in ("speech_first_byte", "transcription"):
            key = f"{name}_c{clients}"
            assert 0 < body[f"{key}_p50_ms"] <= body[f"{key}_p95_ms"]
            assert body[f"{key}_requests_per_s"] > 0
    assert body["machine"]["engines"]["tts"]["name"]


def test_users_and_keys_cli() -> None:
    made = runner.invoke(app, ["users", "create", "ann", "--password-stdin"], input="secret pass\n")
    assert made.exit_code == 0, made.output
    assert "admin ann" in made.stdout  # the first account is an admin
    bot = runner.invoke(app, ["users", "create", "bot"])
    assert bot.exit_code == 0 and "user bot" in bot.stdout
    key = runner.invoke(app, ["keys", "create", "--user", "bot", "--scopes", "audio,turns"])
    assert key.exit_code == 0, key.output
    secret = key.stdout.strip().splitlines()[-1]
    assert secret.startswith("vk_") and len(secret) == 3 + 43
    listed = runner.invoke(app, ["keys", "list", "--user", "bot"])
    assert "audio turns" in listed.stdout and secret not in listed.stdout
    assert runner.invoke(app, ["keys", "revoke", "1", "--user", "bot"]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list", "--user", "bot"]).stdout
    assert runner.invoke(app, ["users", "create", "bot"]).exit_code == 2  # taken
    assert runner.invoke(app, ["keys", "create", "--user", "nobody"]).exit_code == 2
    bad = runner.invoke(app, ["keys", "create", "--user", "bot", "--scopes", "root"])
    assert bad.exit_code == 2


@pytest.mark.parametrize(
    ("env", "args", "code"),
    [
        ({"VOCABLE_AUTH__ENABLED": "false"}, ["--host", "0.0.0.0"], "config.unsafe_bind"),  # noqa: S104
        ({"VOCABLE_AUTH__SECRET": "changeme"}, [], "config.placeholder_secret"),
    ],
)
def test_serve_refuses_unsafe_settings(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], args: list[str], code: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = runner.invoke(app, ["serve", *args])
    assert result.exit_code == 2 and code in result.output
