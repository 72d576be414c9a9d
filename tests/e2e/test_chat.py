"""``vocable chat`` on the real default engines: SmolLM2 and all-MiniLM-L6-v2, SQLite."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from typer.testing import CliRunner

from vocable.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_chat_answers_arithmetic_through_the_calculator_and_keeps_the_conversation() -> None:
    result = runner.invoke(app, ["chat", "what is 17 times 23", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert "391" in body["reply"] and body["status"] == "complete"
    (call,) = body["tool_calls"]
    assert call["name"] == "calculate" and call["result"] == "17 times 23 is 391."
    assert call["path"] in {"intent", "native"} and call["ok"] is True
    assert isinstance(call["ms"], float) and call["ms"] < 1000
    assert set(body["timings_ms"]) == {"first_token_ms", "total_ms"}
    conversation = body["conversation_id"]

    clock = runner.invoke(
        app, ["chat", "what time is it", "--conversation", str(conversation), "--json"]
    )
    assert clock.exit_code == 0, clock.output
    said = json.loads(clock.stdout.strip().splitlines()[-1])
    assert said["conversation_id"] == conversation
    assert [c["name"] for c in said["tool_calls"]] == ["get_time"]
    match = re.search(r"It's (\d{1,2}):(\d{2}) (AM|PM)", said["reply"])
    assert match, said["reply"]
    hour = int(match.group(1)) % 12 + (12 if match.group(3) == "PM" else 0)
    now = datetime.now().astimezone()  # the default timezone is the system's
    assert abs((hour * 60 + int(match.group(2))) - (now.hour * 60 + now.minute)) <= 1
    assert now.strftime("%A") in said["reply"]

    listing = runner.invoke(app, ["chat", "what time is it"])
    assert listing.exit_code == 0 and listing.stdout.startswith("It's ")


def test_chat_refuses_empty_text() -> None:
    result = runner.invoke(app, ["chat", "   "])
    assert result.exit_code == 2
    assert "text.empty" in result.output
