"""Memory tab (a bad import names its lines and imports nothing; add, search) and Settings tab
(a bad endpoint is an error and nothing changes), with the dark theme."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.ui.conftest import (
    GRADIO_WARNINGS,
    browser,
    open_tab,
    screenshot,
    sign_in,
    ui_server,
    ui_settings,
)

pytestmark = GRADIO_WARNINGS


@pytest.mark.slow
async def test_bad_memory_import_names_its_lines_and_imports_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    good_line = json.dumps({"id": 1, "text": "Ann's sister is called Bea."})
    bad.write_text(f'{good_line}\n{{"text": "unfinished\n{json.dumps({"kind": "fact"})}\n')
    async with ui_server(ui_settings(tmp_path)) as base, browser() as page:
        await sign_in(page, base)
        await open_tab(page, "Memory")
        table = page.locator("#vm-table")
        await expect(table).to_contain_text("No memories yet")
        await page.locator("#vm-import input[type=file]").set_input_files(str(bad))
        refused = page.locator('#vm-status [data-import="refused"]')
        await expect(refused).to_contain_text("nothing was imported", timeout=60_000)
        lines = await refused.locator("li").evaluate_all("els => els.map(e => e.dataset.line)")
        assert lines == ["2", "3"], lines
        await expect(table).to_contain_text("No memories yet")  # the good line 1 was not kept

        await page.locator("#vm-text").get_by_role("textbox").fill("Ann's sister is called Bea.")
        await page.locator("#vm-add").click()
        await expect(page.locator("#vm-status")).to_contain_text("Remembered.")
        await expect(table.locator("tbody tr")).to_have_count(1)
        query = page.locator("#vm-query").get_by_role("textbox")
        await query.fill("who is the sister?")
        await query.press("Enter")
        await expect(table.locator("tbody tr").first).to_contain_text("Bea")
        await screenshot(page, "memory")


@pytest.mark.slow
async def test_settings_refuse_an_unreachable_endpoint(tmp_path: Path) -> None:
    async with ui_server(ui_settings(tmp_path)) as base, browser() as page:
        await sign_in(page, base)
        await open_tab(page, "Settings")
        await page.locator("#vs-llm-chain").get_by_role("textbox").fill("ollama, llama_cpp")
        await page.locator("#vs-ollama").get_by_role("textbox").fill("http://127.0.0.1:9")
        await page.locator("#vs-save").click()
        status = page.locator("#vs-status")
        await expect(status).to_contain_text("Not saved: ollama: cannot reach", timeout=15_000)
        assert not (tmp_path / "data" / "vocable.toml").exists()
        await page.locator("#vs-llm-chain").get_by_role("textbox").fill("llama_cpp, gpt5")
        await page.locator("#vs-save").click()
        await expect(status).to_contain_text("Not saved: engines.1")
        await page.locator("#vs-eagerness").get_by_label("high").check()
        await page.locator("#vs-apply").click()
        await expect(status).to_contain_text("Applied: eagerness high")
        await page.locator("#vc-theme").click()
        assert await page.evaluate("document.body.classList.contains('dark')")
        await page.wait_for_timeout(800)  # let the theme transition finish
        await screenshot(page, "settings-dark")
