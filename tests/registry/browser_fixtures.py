"""Debian chromium driven by Playwright, for the verification page tests.

`playwright install` cannot download browsers here, so the system chromium is launched
directly. The page fails its test on any script error or CSP violation (both reach the
console), so a page that silently stopped working cannot pass.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.conftest import REPO_ROOT, require

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture
def page() -> Iterator[Page]:
    require(Path(CHROMIUM).exists() or shutil.which("chromium") is not None,
            "Debian chromium (scripts/setup.sh installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: errors.append(message.text)
                    if message.type == "error" else None)
            yield page
            assert errors == []
        finally:
            browser.close()


def save_screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
