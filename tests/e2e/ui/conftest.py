"""The web UI in headless Chromium (Debian's, driven by Playwright) against a real loopback server.

The tests need `/usr/bin/chromium` (``make sysdeps`` installs it) and the ``ui`` extra. Each tab
gets a screenshot in ``tests/e2e/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.authhelp import PASSWORD, sign_up
from tests.security.helpers import serving
from vocable.api.app import create_app
from vocable.config import Settings, load_settings

GRADIO_WARNINGS = pytest.mark.filterwarnings(
    # gradio (dataframes, queue analytics) still uses pandas options that pandas 3 deprecates
    "ignore::pandas.errors.Pandas4Warning"
)
"""Put in every UI test module's ``pytestmark``."""
CHROMIUM = Path(os.environ.get("VOCABLE_TEST_CHROMIUM", "/usr/bin/chromium"))
HAVE_CHROMIUM = CHROMIUM.exists()
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def ui_settings(tmp_path: Path) -> Settings:
    """Real engines, the UI on, a private data directory."""
    return load_settings(data_dir=tmp_path / "data", ui={"enabled": True})


@contextlib.asynccontextmanager
async def ui_server(settings: Settings) -> AsyncIterator[str]:
    """A real server with the UI on loopback; yields its base URL once the engines are ready."""
    pytest.importorskip("gradio", reason="the web UI needs the `ui` extra")
    async with serving(create_app(settings)) as base:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            for _ in range(600):
                status = (await client.get("/health")).json()["status"]
                if status != "loading":
                    break
                await asyncio.sleep(0.1)
            assert status == "ready", status
            await sign_up(client, "ann")
        yield base


@contextlib.asynccontextmanager
async def browser(args: Sequence[str] = ()) -> AsyncIterator[Any]:
    """A headless Debian Chromium page (1280x900)."""
    playwright_api = pytest.importorskip("playwright.async_api", reason="needs playwright")
    if not HAVE_CHROMIUM:  # pragma: no cover - `make sysdeps` installs it
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--autoplay-policy=no-user-gesture-required", *args],
        )
        try:
            context = await chromium.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            await chromium.close()


async def sign_in(page: Any, base: str, name: str = "ann") -> None:
    """Open the UI and sign in through its login box."""
    await page.goto(f"{base}/")
    await page.locator("#vc-username").get_by_role("textbox").fill(name)
    await page.locator("#vc-password").locator("input").fill(PASSWORD)
    await page.locator("#vc-signin").click()
    await page.get_by_text(f"signed in as {name}").wait_for()


async def open_tab(page: Any, label: str) -> None:
    """Click a tab button by its label."""
    await page.get_by_role("tab", name=label).click()


async def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot to tests/e2e/artifacts/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
