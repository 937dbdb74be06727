"""The verification page, end to end in headless Chromium (Debian's, no download).

A person drops a certificate file and sees the verdict with its evidence. A
screenshot of each outcome is kept in test-artifacts/ for review.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from registry.issuance import Issuer
from registry.settings import Settings
from tests.registry.api_fixtures import IssuedRegistry, ServedApp, issue_certificates, serve
from tests.registry.api_support import api_client
from tests.registry.browser_fixtures import save_screenshot
from tests.registry.conftest import MakeDccs


@pytest.fixture
def registry(issuer: Issuer, settings: Settings, make_dccs: MakeDccs,
             tmp_path: Path) -> IssuedRegistry:
    return issue_certificates(issuer, settings, make_dccs(tmp_path / "in", 3, "PAGE"))


@pytest.fixture
def app(registry: IssuedRegistry) -> Iterator[ServedApp]:
    served = serve(registry.settings)
    yield served
    served.stop()


def screenshot(page: Page, name: str) -> None:
    save_screenshot(page, f"verification-page-{name}")


def test_api_page_shows_valid_verdict_with_evidence(page, app: ServedApp,
                                                    registry: IssuedRegistry,
                                                    tmp_path: Path) -> None:
    certificate = tmp_path / "certificate.xml"
    certificate.write_bytes(registry.documents["valid"])
    page.goto(app.url + "/")
    page.set_input_files("#file", str(certificate))
    verdict = page.locator("#verdict")
    verdict.wait_for(timeout=15_000)
    assert verdict.get_attribute("data-verdict") == "valid"
    assert "Valid" in verdict.inner_text()
    issuer = page.locator("#issuer").inner_text()
    assert "PTB" in issuer and "active" in issuer
    anchoring = page.locator("#anchoring").inner_text()
    assert "Transaction" in anchoring and "0x" in anchoring
    assert "Proof checked against chain root\nyes" in anchoring
    assert registry.hashes["valid"] in page.locator("#document").inner_text()
    screenshot(page, "valid")


def test_api_page_shows_revocation_and_unknown(page, app: ServedApp,
                                               registry: IssuedRegistry, tmp_path: Path) -> None:
    revoked = tmp_path / "revoked.xml"
    revoked.write_bytes(registry.documents["revoked"])
    page.goto(app.url + "/")
    page.set_input_files("#file", str(revoked))
    page.locator("#verdict").wait_for(timeout=15_000)
    assert page.locator("#verdict").get_attribute("data-verdict") == "revoked"
    revocation = page.locator("#revocation").inner_text()
    assert "superseded" in revocation and registry.replacement in revocation
    screenshot(page, "revoked")

    page.fill("#hash", "ab" * 32)
    page.click("button[type=submit]")
    # A locator, not wait_for_function: the page's CSP forbids the eval that polling uses.
    page.locator('#verdict[data-verdict="unknown"]').wait_for(timeout=15_000)
    screenshot(page, "unknown")


def test_api_page_allows_only_its_own_inline_script_and_style(settings: Settings) -> None:
    response = api_client(settings).get("/")
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    script = response.text.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}'" in policy
