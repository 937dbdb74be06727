"""The registry page (/registry) in headless Chromium: instrument search and history, the
issuer directory with accreditations, and the alerts feeds, used with the keyboard only;
nothing loaded from outside the registry. Screenshots go to test-artifacts/."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from anchor.chain import RevocationReason, issuer_name
from registry.settings import Settings
from tests.anchor.registry_fixtures import LAB, PTB
from tests.registry.api_fixtures import ServedApp, serve
from tests.registry.api_support import api_client
from tests.registry.browser_fixtures import save_screenshot
from tests.registry.test_accreditation_chain import record, scope_document
from tests.registry.test_instruments_chain import (  # noqa: F401 (the fixture)
    INSTRUMENT,
    SERIAL,
    documented,
)
from tests.registry.test_traceability_chain import revoke
from tests.registry.trust_fixtures import WSL, TrustChain


@pytest.fixture
def app(documented: tuple[TrustChain, dict[str, str]], settings: Settings  # noqa: F811
        ) -> Iterator[ServedApp]:
    served = serve(settings)
    yield served
    served.stop()


def _focused(page: Page) -> str:
    focused = page.locator(":focus")
    return focused.get_attribute("id") or focused.get_attribute("href") or ""


def test_registry_page_keyboard_only_search_history_issuers_and_alerts(
        page: Page, app: ServedApp, documented: tuple[TrustChain, dict[str, str]]  # noqa: F811
) -> None:
    chain, sha = documented
    # LAB's accreditation, recorded by governance (2 of 3), shows in the directory.
    record(chain, scope_document(), chain.today - dt.timedelta(days=30))
    chain.issuer(LAB).index()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(app.url + "/registry")
    page.locator("#issuer-table").wait_for(timeout=15_000)
    page.locator('#alert-list[data-loaded="true"]').wait_for(timeout=15_000)

    # Tab order: skip link, the four navigation links, then the search fields in order.
    order = []
    for _ in range(7):
        page.keyboard.press("Tab")
        order.append(_focused(page))
    assert order == ["#content", "/", "nav-instruments", "nav-issuers", "nav-alerts", "q-serial",
                     "q-manufacturer"]
    # Back to the serial field, type it as printed on the plate, Enter searches.
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("qt510 2019 088213")
    page.keyboard.press("Enter")
    link = page.locator(f'a.instrument-link[data-id="{INSTRUMENT}"]')
    link.wait_for(timeout=15_000)
    row = page.locator("#instrument-table tbody tr").inner_text()
    assert SERIAL in row and "DE-21-MI005-PTB014" in row
    # Tab reaches the result; Enter opens its history, and focus moves to the status.
    for _ in range(8):
        page.keyboard.press("Tab")
        if _focused(page) == f"#instrument={INSTRUMENT.replace(':', '%3A')}":
            break
    else:
        pytest.fail(f"the result link is not reachable with Tab (at {_focused(page)!r})")
    page.keyboard.press("Enter")
    status = page.locator('#instrument-status[data-state="verified"]:focus')
    status.wait_for(timeout=15_000)
    assert "Verified until" in status.inner_text()
    history = page.locator("#history-table tbody tr")
    assert history.count() == 3
    assert [history.nth(i).locator("td").nth(3).inner_text() for i in range(3)] == [
        issuer_name(PTB), issuer_name(LAB), issuer_name(WSL)]
    save_screenshot(page, "registry-page-instrument-verified")

    # The issuer directory lists every registered issuer with status and accreditation.
    issuers = page.locator("#issuer-table").inner_text()
    for issuer in (PTB, LAB, WSL):
        assert issuer_name(issuer) in issuers
    lab = page.locator(f'#issuer-table tr[data-issuer="{issuer_name(LAB)}"]').inner_text()
    assert "active" in lab and "accredited laboratory" in lab
    assert "DAkkS · D-K-15070-01-00 · valid 2020-01-01 to 2030-12-31 · 2 scope entries" in lab
    ptb = page.locator(f'#issuer-table tr[data-issuer="{issuer_name(PTB)}"]').inner_text()
    assert "national metrology institute" in ptb and "none on record" in ptb

    # PTB revokes the reference standard: history and alerts show the consequence.
    revoke(chain, PTB, sha["standard"], RevocationReason.COMPROMISED, chain.today)
    page.locator("#alerts-refresh").focus()
    page.keyboard.press("Enter")
    alert = page.locator('#instrument-alerts li[data-status="reference-standard-revoked"]')
    alert.wait_for(timeout=15_000)
    assert SERIAL in alert.inner_text()
    assert page.locator("#certificate-alerts li").count() == 1
    page.locator("#alerts").scroll_into_view_if_needed()
    save_screenshot(page, "registry-page-alerts")
    # From the alert, Enter on its link opens the instrument, now compromised.
    alert.locator("a").first.focus()
    page.keyboard.press("Enter")
    page.locator('#instrument-status[data-state="reference-standard-revoked"]').wait_for(
        timeout=15_000)
    save_screenshot(page, "registry-page-instrument-compromised")

    # Nothing was requested from outside the registry.
    assert requests and all(url.startswith(app.url) or url.startswith("data:")
                            for url in requests), requests


def test_registry_page_allows_only_its_own_inline_script_and_style(settings: Settings) -> None:
    response = api_client(settings).get("/registry")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "default-src 'self'" in policy
    for kind in ("script", "style"):
        body = response.text.split(f"<{kind}>", 1)[1].split(f"</{kind}>", 1)[0]
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "http://" not in response.text and "https://" not in response.text
