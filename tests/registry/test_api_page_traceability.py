"""The verification page's metrological checks, end to end in headless Chromium.

A four-level traceability chain (NMI -> reference lab -> working standard -> customer)
is issued by three issuers through the real pipeline on anvil and served by the real
app. The page shows the traceability and accreditation-scope status next to the
verdict and draws the chain as a graph; screenshots go to test-artifacts/.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from anchor.chain import RevocationReason
from registry.api.routes.page import verification_page
from registry.settings import Settings
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld
from tests.registry.api_fixtures import ServedApp, serve
from tests.registry.browser_fixtures import save_screenshot
from tests.registry.trust_fixtures import Cite, TrustChain

TIMEOUT = 15_000
GREEN, RED, GREY = "#17693a", "#a1261b", "#8a939d"


@pytest.fixture
def chain(world: RegistryWorld, settings: Settings, shared_dcc: Path,
          tmp_path: Path) -> TrustChain:
    return TrustChain(world, settings, shared_dcc, tmp_path)


@pytest.fixture
def app(settings: Settings) -> Iterator[ServedApp]:
    served = serve(settings)
    yield served
    served.stop()


def screenshot(page: Page, name: str) -> None:
    save_screenshot(page, f"page-traceability-{name}")


def verify_by_hash(page: Page, sha256: str, verdict: str) -> None:
    """Submit the hash form and wait for this document's verdict and its drawn chain."""
    page.fill("#hash", sha256)
    page.click("button[type=submit]")
    wait_for_result(page, sha256, verdict)


def wait_for_result(page: Page, sha256: str, verdict: str) -> None:
    # Locators, not wait_for_function: the page's CSP forbids the eval that polling uses.
    page.locator(f'#verdict[data-sha256="0x{sha256}"]').wait_for(timeout=TIMEOUT)
    assert page.locator("#verdict").get_attribute("data-verdict") == verdict
    page.locator(f'#trace[data-for="0x{sha256}"][data-status]').wait_for(timeout=TIMEOUT)


def node_numbers(page: Page) -> list[str]:
    return [n.get_attribute("data-number") or ""
            for n in page.locator("#trace-graph g.node").all()]


def link_pairs(page: Page) -> list[tuple[str, str, str]]:
    """(citing number, cited number, verdict) of each arrow, in drawing order."""
    numbers = {n.get_attribute("data-sha256"): n.get_attribute("data-number")
               for n in page.locator("#trace-graph g.node[data-sha256]").all()}
    return [(numbers[link.get_attribute("data-from")],
             numbers.get(link.get_attribute("data-to") or "", ""),
             link.get_attribute("data-verdict") or "")
            for link in page.locator("#trace-graph g.link").all()]


def yesterday_midnight(chain: TrustChain) -> int:
    return int(dt.datetime.combine(chain.today - dt.timedelta(days=1), dt.time(),
                                   dt.UTC).timestamp())


def test_page_draws_complete_chain_then_the_cascade(page: Page, app: ServedApp,
                                                     chain: TrustChain) -> None:
    hashes = chain.four_levels("PAGE")
    page.goto(app.url + "/")
    verify_by_hash(page, hashes["customer"], "valid")

    # Next to the verdict: the metrological checks in words.
    trace = page.locator("#traceability-status")
    assert trace.get_attribute("data-status") == "complete"
    assert "4 certificates lead to a national metrology institute" in trace.inner_text()
    scope = page.locator("#scope-status")
    assert scope.get_attribute("data-status") == "not-accredited"
    assert "no accreditation of WSL" in scope.inner_text()

    # The graph: four boxes by depth, three sound arrows, the NMI at the end.
    assert page.locator("#trace").get_attribute("data-status") == "complete"
    assert node_numbers(page) == ["PAGE-CUSTOMER", "PAGE-WORK", "PAGE-REF", "PAGE-NMI"]
    depths = [n.get_attribute("data-depth") for n in page.locator("#trace-graph g.node").all()]
    assert depths == ["0", "1", "2", "3"]
    assert link_pairs(page) == [("PAGE-CUSTOMER", "PAGE-WORK", "sound"),
                                ("PAGE-WORK", "PAGE-REF", "sound"),
                                ("PAGE-REF", "PAGE-NMI", "sound")]
    assert page.locator(f"#trace-graph g.link path[stroke='{GREEN}']").count() == 3
    assert page.locator("#trace-graph g.link .link-label").all_text_contents() == ["sound"] * 3
    national = page.locator('#trace-graph g.node[data-national-standard="true"]')
    assert national.count() == 1
    assert national.get_attribute("data-number") == "PAGE-NMI"
    assert "NMI · national standard" in national.inner_html()
    assert page.locator("#trace-graph .nmi-badge").count() == 1
    nmi_box = national.locator("text").all_text_contents()
    assert "PTB · national metrology institute" in nmi_box
    # Boxes go down the page, one row per depth.
    ys = [n.locator("rect.box").get_attribute("y")
          for n in page.locator("#trace-graph g.node").all()]
    assert [float(y) for y in ys] == sorted(float(y) for y in ys) and len(set(ys)) == 4

    # The text version for screen readers names the same certificates, each a link.
    items = page.locator("#trace-list > li")
    assert items.count() == 4
    assert "PAGE-NMI" in items.nth(3).inner_text() and "national standard" in \
        items.nth(3).inner_text()
    assert page.locator("#trace-list > li > a").count() == 4
    assert page.locator("#trace-list > li > a").first.get_attribute("href") == \
        "#sha256=" + hashes["customer"]
    assert page.locator('#trace-list li[data-verdict="sound"]').count() == 3
    screenshot(page, "complete")

    # Each box links to its own verification: the reference lab's certificate.
    page.locator('#trace-graph g.node[data-number="PAGE-REF"]').click()
    wait_for_result(page, hashes["ref"], "valid")
    assert page.url.endswith("#sha256=" + hashes["ref"])
    assert node_numbers(page) == ["PAGE-REF", "PAGE-NMI"]
    assert "2 certificates" in page.locator("#traceability-status").inner_text()

    # The NMI's certificate turns out wrong since yesterday: the customer's calibration
    # (today) relied on it, three links down.
    ptb = chain.issuer(PTB)
    ptb.revoke(hashes["nmi"], RevocationReason.COMPROMISED,
               effective_from=yesterday_midnight(chain))
    ptb.index()
    verify_by_hash(page, hashes["customer"], "traceability-compromised")
    verdict = page.locator("#verdict").inner_text()
    assert "Traceability compromised" in verdict
    assert page.locator("#verdict").evaluate("(v) => getComputedStyle(v).backgroundColor") \
        == "rgb(122, 31, 92)"  # its own colour, not revoked's red
    trace = page.locator("#traceability-status")
    assert trace.get_attribute("data-status") == "broken"
    assert "broken at PAGE-NMI" in trace.inner_text()
    assert "revoked (compromised)" in trace.inner_text()
    assert page.locator("#trace").get_attribute("data-status") == "broken"
    assert link_pairs(page) == [("PAGE-CUSTOMER", "PAGE-WORK", "sound"),
                                ("PAGE-WORK", "PAGE-REF", "sound"),
                                ("PAGE-REF", "PAGE-NMI", "compromised-at-use")]
    problem = page.locator("#trace-graph g.link.problem")
    assert problem.count() == 1
    assert problem.get_attribute("data-verdict") == "compromised-at-use"
    assert problem.locator("path").get_attribute("stroke") == RED
    assert problem.locator("path").get_attribute("stroke-width") == "4"
    assert problem.locator(".link-label").text_content() == "compromised at use"
    assert page.locator(f"#trace-graph g.link path[stroke='{GREEN}']").count() == 2
    revoked = page.locator('#trace-graph g.node[data-revoked="true"]')
    assert revoked.count() == 1 and revoked.get_attribute("data-number") == "PAGE-NMI"
    assert "revoked (compromised), effective " in revoked.inner_html()
    screenshot(page, "compromised")

    # The revoked NMI certificate itself is revoked, not compromised.
    verify_by_hash(page, hashes["nmi"], "revoked")
    assert node_numbers(page) == ["PAGE-NMI"]
    assert page.locator("#trace-graph g.link").count() == 0


def test_page_names_the_reference_it_cannot_follow(page: Page, app: ServedApp,
                                                   chain: TrustChain) -> None:
    day = chain.today
    unknown = chain.issue(LAB, "LOST-REF", day, Cite("NO-SUCH-CERTIFICATE"))
    # Opened from a link that names the certificate: the page verifies it on load.
    page.goto(f"{app.url}/#sha256={unknown}")
    wait_for_result(page, unknown, "valid")
    trace = page.locator("#traceability-status")
    assert trace.get_attribute("data-status") == "incomplete"
    text = trace.inner_text()
    assert "incomplete" in text and "NO-SUCH-CERTIFICATE" in text
    assert page.locator("#trace").get_attribute("data-status") == "incomplete"
    # The certificate, and a dashed placeholder for the reference nobody anchored.
    assert node_numbers(page) == ["LOST-REF", "NO-SUCH-CERTIFICATE"]
    missing = page.locator("#trace-graph g.node.missing")
    assert missing.count() == 1
    assert "not found in this registry" in missing.inner_html()
    link = page.locator("#trace-graph g.link")
    assert link.count() == 1
    assert link.get_attribute("data-verdict") == "unknown"
    assert link.get_attribute("data-problem") == "true"
    assert link.locator("path").get_attribute("stroke") == GREY
    assert link.locator(".link-label").text_content() == "not found"
    assert "NO-SUCH-CERTIFICATE" in page.locator("#trace-list").inner_text()
    screenshot(page, "incomplete")


# --- the layout of a branching chain, from recorded answers -------------------------------

def _sha(c: str) -> str:
    return "0x" + c * 64


def _node(sha: str, number: str, issuer: str, depth: int, status: str = "complete",
          nmi: bool = False) -> dict:
    return {"sha256": sha, "issuer_id": _sha("e"), "issuer": issuer,
            "issuer_kind": "national_metrology_institute" if nmi else "accredited_laboratory",
            "national_standard": nmi, "certificate_number": number,
            "calibration_date": "2025-03-01", "anchored_at": "2025-03-02T09:30:00+00:00",
            "anchored_block": 100 + depth, "revocation": None, "status": status,
            "detail": "issued by national metrology institute" if nmi else "see its links",
            "depth": depth}


def _link(citing: str, cited: str | None, number: str, verdict: str, position: int = 0) -> dict:
    return {"citing": citing, "cited": cited, "verdict": verdict, "resolved_by": "hash",
            "detail": f"{number}: {verdict}", "carries_traceability": True,
            "citation": {"position": position, "role": "measuring-equipment",
                         "referral": "Calibration certificate", "referral_id": number,
                         "procedure": "", "value": "", "cited_sha256": None}}


HOSTILE = '<img src=x onerror="document.title=1">'
ROOT, LEFT, RIGHT, NMI = _sha("1"), _sha("2"), _sha("3"), _sha("4")
BRANCHING_TREE = {
    "sha256": ROOT, "status": "incomplete", "compromised": False, "truncated": False,
    "nodes": [_node(ROOT, "BR-ROOT", "WSL", 0, "incomplete"),
              _node(LEFT, HOSTILE, "LAB", 1),
              _node(RIGHT, "BR-RIGHT", "LAB", 1, "incomplete"),
              _node(NMI, "BR-NMI", "PTB", 2, nmi=True)],
    "links": [_link(ROOT, LEFT, "left", "sound"),
              _link(ROOT, RIGHT, "BR-RIGHT", "sound", 1),
              _link(LEFT, NMI, "BR-NMI", "sound"),
              _link(LEFT, RIGHT, "BR-RIGHT", "sound", 1),  # across its own row
              _link(RIGHT, NMI, "BR-NMI", "sound"),
              _link(RIGHT, None, "BR-LOST", "unknown", 1)],
}
BRANCHING_TREE["first_problem"] = {"at": RIGHT, "detail": "no certificate BR-LOST",
                                   "link": BRANCHING_TREE["links"][5]}
BRANCHING_VERIFICATION = {
    "verdict": "valid", "document_sha256": ROOT,
    "checks": [{"number": 10, "name": "traceability", "status": "skipped",
                "detail": "incomplete: no certificate BR-LOST"}],
    "traceability": {"status": "incomplete", "compromised": False, "certificates": 4,
                     "links": 6, "truncated": False,
                     "first_problem": BRANCHING_TREE["first_problem"]},
    "accreditation_scope": {
        "status": "outside-scope", "detail": "1 of 2 results lies outside the scope",
        "accreditation": {"issuer": "WSL", "version": 2, "body": "DAkkS",
                          "number": "D-K-99999-01-00",
                          "effective_from": "2024-01-01T00:00:00+00:00"},
        "results": [
            {"verdict": "outside-scope", "reason": "above the scope's maximum of 300 °C",
             "result": {"quantity": "temperature", "value": "400", "unit": "°C"}},
            {"verdict": "within-scope", "reason": "within entry 0",
             "result": {"quantity": "temperature", "value": "20", "unit": "°C"}}]},
}


def test_page_lays_out_a_branching_chain(page: Page) -> None:
    """Several standards per certificate, a link across a row and an unresolved one, from
    recorded answers: no box overlaps another, every box lies inside the drawing, and text
    from documents is shown as text."""
    served = verification_page()

    def answer(route) -> None:
        url = route.request.url
        if url.endswith("/"):
            route.fulfill(status=200, body=served.body, headers=dict(served.headers))
        elif "/traceability" in url:
            route.fulfill(status=200, json=BRANCHING_TREE)
        elif "/v1/verify/" in url:
            route.fulfill(status=200, json=BRANCHING_VERIFICATION)
        else:
            route.fulfill(status=404, body=json.dumps({}))

    page.route("http://registry.test/**", answer)
    page.goto(f"http://registry.test/#sha256={ROOT[2:]}")
    wait_for_result(page, ROOT[2:], "valid")
    assert "But its traceability is incomplete" in page.locator("#verdict").inner_text()
    scope = page.locator("#scope-status")
    assert scope.get_attribute("data-status") == "outside-scope"
    assert "outside scope" in scope.inner_text()
    assert "DAkkS D-K-99999-01-00" in scope.inner_text()
    assert "temperature 400 °C: above the scope's maximum" in scope.inner_text()

    nodes = page.locator("#trace-graph g.node")
    assert nodes.count() == 5  # four certificates and the placeholder for BR-LOST
    assert page.locator("#trace-graph g.link").count() == 6
    assert page.locator("#trace-graph g.node.missing").get_attribute("data-number") == "BR-LOST"
    # A link within a row is drawn as an arc over it.
    across = page.locator(f'#trace-graph g.link[data-from="{LEFT}"][data-to="{RIGHT}"]')
    assert across.get_attribute("data-kind") == "across"
    assert " C " in (across.locator("path").get_attribute("d") or "")
    # The certificate number is text, not markup.
    assert page.locator(f'#trace-graph g.node[data-sha256="{LEFT}"]').get_attribute(
        "data-number") == HOSTILE
    assert page.locator("img").count() == 0 and page.title() != "1"

    svg = page.locator("#trace-svg")
    width, height = float(svg.get_attribute("width")), float(svg.get_attribute("height"))
    boxes = []
    for rect in page.locator("#trace-graph rect.box").all():
        x, y = float(rect.get_attribute("x")), float(rect.get_attribute("y"))
        w, h = float(rect.get_attribute("width")), float(rect.get_attribute("height"))
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
        boxes.append((x, y, w, h))

    def apart(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] \
            or b[1] + b[3] <= a[1]

    labels = [tuple(float(rect.get_attribute(k) or 0) for k in ("x", "y", "width", "height"))
              for rect in page.locator("#trace-graph g.link rect").all()]
    for i, box in enumerate(boxes):
        assert all(apart(box, other) for other in boxes[i + 1:])
        assert all(apart(box, label) for label in labels)
    for i, label in enumerate(labels):
        assert all(apart(label, other) for other in labels[i + 1:])
    # It fits the page: no sideways scrolling at this width.
    assert page.locator("#trace-graph").evaluate("(d) => d.scrollWidth <= d.clientWidth")
    # Rows by depth: the two laboratories side by side, the NMI and the placeholder below.
    ys = {n.get_attribute("data-number"): float(n.locator("rect.box").get_attribute("y"))
          for n in nodes.all()}
    assert ys[HOSTILE] == ys["BR-RIGHT"] > ys["BR-ROOT"]
    assert ys["BR-NMI"] == ys["BR-LOST"] > ys["BR-RIGHT"]
    screenshot(page, "branching")
