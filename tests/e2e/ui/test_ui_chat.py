"""Sign in, chat with a streamed, spoken reply, and see the turn's waterfall on the dashboard."""

from __future__ import annotations

import re
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
RECORD_BOT_TEXT = """() => {
  window.__botTexts = [];
  const seen = () => {
    const bots = document.querySelectorAll('#vc-chatbot .bot');
    const last = bots.length ? bots[bots.length - 1].innerText.trim() : '';
    const all = window.__botTexts;
    if (last && all[all.length - 1] !== last) all.push(last);
  };
  new MutationObserver(seen).observe(document.body, {subtree: true, childList: true,
                                                      characterData: true});
}"""


@pytest.mark.slow
async def test_chat_reply_streams_and_the_turn_shows_on_the_dashboard(tmp_path: Path) -> None:
    async with ui_server(ui_settings(tmp_path)) as base, browser() as page:
        await sign_in(page, base)
        await screenshot(page, "talk")
        await open_tab(page, "Chat")
        await page.locator("#vc-speak").get_by_role("checkbox").check()
        await page.evaluate(RECORD_BOT_TEXT)
        box = page.locator("#vc-message").get_by_role("textbox")
        await box.fill("What is the capital of France?")
        await box.press("Enter")
        user = page.locator("#vc-chatbot .user").last
        await user.wait_for()
        assert "capital of France" in await user.inner_text()
        await page.locator("#vc-spoken audio[src]").first.wait_for(state="attached", timeout=60_000)
        reply = (await page.locator("#vc-chatbot .bot").last.inner_text()).strip()
        assert len(reply) > 5
        texts: list[str] = await page.evaluate("window.__botTexts")
        assert len(texts) >= 2, texts  # partial replies were shown before the whole one
        assert all(reply.startswith(t[:10]) for t in texts[1:]), texts
        await screenshot(page, "chat")
        # the conversation is stored and offered to continue
        picker = page.locator("#vc-conversation").get_by_role("combobox")
        await expect(picker).to_have_value(re.compile(r"#\d+ What is the capital"))

        await open_tab(page, "Dashboard")
        segments = page.locator("#vc-waterfall svg .vc-seg")
        await segments.first.wait_for(timeout=15_000)
        stages = {await s.get_attribute("data-stage") for s in await segments.all()}
        assert {"first token", "first sentence", "first audio"} <= stages, stages
        first_audio = page.locator('#vc-waterfall .vc-seg[data-stage="first audio"]').first
        assert float(await first_audio.get_attribute("data-ms") or "nan") > 0
        tokens = page.locator('#vc-summary .vc-card[data-key="tokens/s"] .vc-value')
        assert (await tokens.inner_text()).replace(".", "").isdigit()
        cpu = page.locator('#vc-quality .vc-card[data-key="CPU"] .vc-value')
        assert "%" in await cpu.inner_text()
        await screenshot(page, "dashboard")
