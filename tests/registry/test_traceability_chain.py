"""Traceability and the revocation cascade, end to end: a four-level chain issued by
three issuers through the real pipeline on anvil, read through the API."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from anchor.chain import RevocationReason
from anchor.services.anvil import AnvilNode
from registry.cli import main
from registry.index.indexer import Indexer
from registry.settings import Settings
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld
from tests.registry.api_support import api_client
from tests.registry.trust_fixtures import WSL, Cite, TrustChain

DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """A private anvil: these tests move its clock forward, which must not leak into the
    session's chain."""
    node = AnvilNode.start(workdir=tmp_path_factory.mktemp("trust-anvil"))
    yield node
    node.stop()


def advance(anvil: AnvilNode, days: int) -> None:
    anvil.rpc("evm_increaseTime", [days * 86_400])
    anvil.mine()


@pytest.fixture
def chain(world: RegistryWorld, settings: Settings, shared_dcc: Path,
          tmp_path: Path) -> TrustChain:
    return TrustChain(world, settings, shared_dcc, tmp_path)


@pytest.fixture
def client(settings: Settings) -> TestClient:
    return api_client(settings)


def traceability(client: TestClient, sha256: str) -> dict:
    response = client.get(f"/v1/certificates/0x{sha256}/traceability")
    assert response.status_code == 200, response.text
    return response.json()


def verify(client: TestClient, sha256: str) -> dict:
    response = client.get(f"/v1/verify/{sha256}")
    assert response.status_code == 200, response.text
    return response.json()


def revoke(chain: TrustChain, issuer_id: bytes, sha256: str, reason: RevocationReason,
           effective: dt.date) -> None:
    issuer = chain.issuer(issuer_id)
    issuer.revoke(sha256, reason, effective_from=int(dt.datetime.combine(
        effective, dt.time(), dt.UTC).timestamp()))
    issuer.index()


def test_traceability_four_level_chain_is_complete(chain: TrustChain,
                                                    client: TestClient) -> None:
    hashes = chain.four_levels("OK")
    tree = traceability(client, hashes["customer"])
    assert tree["status"] == "complete" and tree["first_problem"] is None
    assert [n["certificate_number"] for n in tree["nodes"]] == [
        "OK-CUSTOMER", "OK-WORK", "OK-REF", "OK-NMI"]
    assert [n["issuer"] for n in tree["nodes"]] == ["WSL", "WSL", "DAkkS-D-K-15070", "PTB"]
    assert tree["nodes"][-1]["national_standard"] is True
    assert {link["verdict"] for link in tree["links"]} == {"sound"}
    assert {link["resolved_by"] for link in tree["links"]} == {"hash"}
    result = verify(client, hashes["customer"])
    assert result["verdict"] == "valid"
    assert result["traceability"]["status"] == "complete"
    assert result["traceability"]["certificates"] == 4
    step = next(c for c in result["checks"] if c["name"] == "traceability")
    assert step["status"] == "passed"


def test_traceability_by_number_and_unknown_references(chain: TrustChain,
                                                        client: TestClient) -> None:
    day = chain.today
    nmi = chain.issue(PTB, "NUM-NMI", day)
    by_number = chain.issue(LAB, "NUM-REF", day, Cite("NUM-NMI"))
    tree = traceability(client, by_number)
    assert tree["status"] == "complete"
    assert tree["links"][0]["resolved_by"] == "number"
    assert tree["links"][0]["cited"] == "0x" + nmi
    unknown_hash = hashlib.sha256(b"a certificate no registry anchored").hexdigest()
    external = chain.issue(LAB, "EXT-REF", day, Cite("EXT-NMI", unknown_hash))
    tree = traceability(client, external)
    assert tree["status"] == "incomplete"
    assert tree["first_problem"]["link"]["verdict"] == "external"
    unknown = chain.issue(LAB, "UNK-REF", day, Cite("NO-SUCH-CERTIFICATE"))
    tree = traceability(client, unknown)
    assert tree["status"] == "incomplete"
    assert tree["first_problem"]["link"]["verdict"] == "unknown"
    assert "NO-SUCH-CERTIFICATE" in tree["first_problem"]["detail"]
    # The verification verdict carries it, naming the unresolved link.
    result = verify(client, unknown)
    assert result["verdict"] == "valid"
    assert result["traceability"]["status"] == "incomplete"
    assert result["traceability"]["first_problem"]["link"]["citation"]["referral_id"] \
        == "NO-SUCH-CERTIFICATE"


def test_traceability_cited_before_it_was_anchored_is_broken(chain: TrustChain,
                                                              client: TestClient) -> None:
    # The reference lab's calibration is dated yesterday; the NMI certificate it cites
    # was anchored today: it cannot have been the certificate used.
    hashes = chain.four_levels("EARLY", ref_calibrated=chain.today - DAY)
    tree = traceability(client, hashes["customer"])
    assert tree["status"] == "broken"
    problem = tree["first_problem"]["link"]
    assert problem["verdict"] == "anchored-after-use"
    assert problem["citing"] == "0x" + hashes["ref"] and problem["cited"] == "0x" + hashes["nmi"]
    assert tree["first_problem"]["at_certificate_number"] == "EARLY-REF"
    assert verify(client, hashes["customer"])["traceability"]["status"] == "broken"


def test_traceability_cited_certificate_revoked_before_use_is_broken(
        chain: TrustChain, client: TestClient) -> None:
    day = chain.today
    nmi = chain.issue(PTB, "LATE-NMI", day)
    revoke(chain, PTB, nmi, RevocationReason.SUPERSEDED, day)
    # Used tomorrow: the lab used a certificate revoked the day before.
    ref = chain.issue(LAB, "LATE-REF", day + DAY, Cite("LATE-NMI", nmi))
    tree = traceability(client, ref)
    assert tree["status"] == "broken"
    assert tree["first_problem"]["link"]["verdict"] == "revoked-before-use"
    result = verify(client, ref)
    assert result["verdict"] == "valid"  # authentic; its traceability is what is broken
    assert next(c for c in result["checks"] if c["name"] == "traceability")["status"] == \
        "failed"


def test_cascade_compromised_standard_marks_every_dependent_certificate(
        chain: TrustChain, client: TestClient, settings: Settings) -> None:
    hashes = chain.four_levels("CASCADE")
    other = chain.four_levels("SAFE")
    # The NMI certificate turns out wrong from yesterday on: everything calibrated with
    # it since then is compromised, with no transaction from LAB or WSL.
    revoke(chain, PTB, hashes["nmi"], RevocationReason.COMPROMISED, chain.today - DAY)
    for name in ("ref", "work", "customer"):
        result = verify(client, hashes[name])
        assert result["verdict"] == "traceability-compromised", name
        assert result["traceability"]["compromised"] is True
        assert result["traceability"]["first_problem"]["link"]["verdict"] == \
            "compromised-at-use"
    assert verify(client, hashes["nmi"])["verdict"] == "revoked"
    assert verify(client, other["customer"])["verdict"] == "valid"

    # The regulator's feed lists all three; WSL's recall list its two.
    feed = client.get("/v1/alerts")
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/x-ndjson")
    alerts = [json.loads(line) for line in feed.text.splitlines()]
    assert {a["certificate"]["sha256"] for a in alerts} == {
        "0x" + hashes[n] for n in ("ref", "work", "customer")}
    assert {a["cause"]["sha256"] for a in alerts} == {"0x" + hashes["nmi"]}
    assert sorted(a["certificate"]["depth"] for a in alerts) == [1, 2, 3]
    wsl = [json.loads(line) for line in
           client.get("/v1/alerts", params={"issuer": "WSL"}).text.splitlines()]
    assert {a["certificate"]["certificate_number"] for a in wsl} == {
        "CASCADE-WORK", "CASCADE-CUSTOMER"}
    # Polling after the last cursor returns nothing new.
    after = client.get("/v1/alerts", params={"cursor": alerts[-1]["cursor"]})
    assert after.status_code == 200 and after.text == ""

    # Derived from chain state: a rebuilt projection gives the same answers.
    issuer = chain.issuer(PTB)
    Indexer(issuer.client, issuer.sessions, issuer.store).rebuild()
    rebuilt = [json.loads(line) for line in client.get("/v1/alerts").text.splitlines()]
    assert rebuilt == alerts
    assert verify(client, hashes["customer"])["verdict"] == "traceability-compromised"


def test_cascade_stops_at_certificates_calibrated_before_the_effective_date(
        chain: TrustChain, client: TestClient) -> None:
    calibrated = chain.today
    hashes = chain.four_levels("BEFORE")
    # Two days later the NMI standard is found out of tolerance since the day after the
    # chain's calibrations: they stand.
    advance(chain.world.anvil, 2)
    revoke(chain, PTB, hashes["nmi"], RevocationReason.OUT_OF_TOLERANCE, calibrated + DAY)
    assert verify(client, hashes["customer"])["verdict"] == "valid"
    assert client.get("/v1/alerts").text == ""
    # A harmless reason (superseded) never cascades, whatever its date.
    hashes = chain.four_levels("HARMLESS")
    revoke(chain, PTB, hashes["nmi"], RevocationReason.SUPERSEDED, chain.today - DAY)
    result = verify(client, hashes["customer"])
    assert result["verdict"] == "valid" and result["traceability"]["status"] == "complete"
    assert client.get("/v1/alerts").text == ""


def test_traceability_api_errors(client: TestClient, world: RegistryWorld) -> None:
    unknown = client.get(f"/v1/certificates/{'ab' * 32}/traceability")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not-found"
    bad = client.get("/v1/certificates/xyz/traceability")
    assert bad.status_code == 422
    assert client.get("/v1/alerts", params={"cursor": "nonsense"}).status_code == 422
    assert WSL and LAB  # the issuer ids the fixtures register


def run_cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_trace_cli_and_offline_bundle(chain: TrustChain, settings: Settings, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    hashes = chain.four_levels("CLI")
    code, tree = run_cli("trace", hashes["customer"], capsys=capsys)
    assert code == 0 and tree["status"] == "complete" and len(tree["nodes"]) == 4

    bundle_path = tmp_path / "bundle.json"
    code, written = run_cli("receipt", hashes["customer"], "--with-chain", "-o",
                            str(bundle_path), capsys=capsys)
    assert code == 0 and written["certificates"] == 4
    bundle = json.loads(bundle_path.read_text())
    assert bundle["format"] == "certreg-trace-bundle/1"

    # Offline: only the RPC endpoint; every receipt replayed, documents re-read.
    code, checked = run_cli("trace", "--bundle", str(bundle_path), capsys=capsys)
    assert code == 0, checked
    assert {v["verdict"] for v in checked["receipts"].values()} == {"valid"}
    assert checked["traceability"]["status"] == "complete"
    assert [n["certificate_number"] for n in checked["traceability"]["nodes"]] == [
        "CLI-CUSTOMER", "CLI-WORK", "CLI-REF", "CLI-NMI"]

    # The chain changes after the bundle was written: the same file now shows it.
    revoke(chain, PTB, hashes["nmi"], RevocationReason.COMPROMISED, chain.today - DAY)
    code, checked = run_cli("trace", "--bundle", str(bundle_path), capsys=capsys)
    assert code == 1 and checked["traceability"]["compromised"] is True
    assert checked["receipts"]["0x" + hashes["nmi"]]["verdict"] == "revoked"
    # `certreg verify` gives the API's verdict, by hash or with the file itself.
    code, result = run_cli("verify", hashes["customer"], capsys=capsys)
    assert code == 1 and result["verdict"] == "traceability-compromised"
    document = tmp_path / "customer.xml"
    document.write_bytes(base64.b64decode(bundle["certificates"][0]["document"]))
    code, result = run_cli("verify", str(document), capsys=capsys)
    assert code == 1 and result["verdict"] == "traceability-compromised"
    assert result["signature"]["status"] == "valid"
    assert main(["verify", hashes["customer"]]) == 1
    text = capsys.readouterr().out
    assert "verdict: traceability-compromised" in text and "10. traceability" in text

    # A bundle missing the NMI's receipt cannot show the chain complete...
    partial = dict(bundle, certificates=bundle["certificates"][:3])
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    code, checked = run_cli("trace", "--bundle", str(tmp_path / "partial.json"), capsys=capsys)
    assert code == 1 and checked["traceability"]["status"] == "incomplete"
    # ...and a document altered in the bundle fails its receipt.
    forged = json.loads(bundle_path.read_text())
    document = base64.b64decode(forged["certificates"][1]["document"])
    forged["certificates"][1]["document"] = base64.b64encode(
        document.replace(b"CLI-WORK", b"CLI-WORX")).decode()
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    code, checked = run_cli("trace", "--bundle", str(tmp_path / "forged.json"), capsys=capsys)
    assert code == 1
    assert checked["receipts"]["0x" + hashes["work"]]["verdict"] == "invalid"
    assert checked["traceability"]["status"] != "complete"

    (tmp_path / "junk.json").write_text("{}")
    assert main(["trace", "--bundle", str(tmp_path / "junk.json")]) == 3
    assert "trace-bundle-invalid" in capsys.readouterr().err


def test_cascade_follows_citations_by_number(chain: TrustChain, client: TestClient) -> None:
    day = chain.today
    nmi = chain.issue(PTB, "BYNUM-NMI", day)
    ref = chain.issue(LAB, "BYNUM-REF", day, Cite("BYNUM-NMI"))  # no hash: by number only
    work = chain.issue(WSL, "BYNUM-WORK", day, Cite("BYNUM-REF", ref))
    revoke(chain, PTB, nmi, RevocationReason.ERROR, day - DAY)
    alerts = [json.loads(line) for line in client.get("/v1/alerts").text.splitlines()]
    assert {(a["certificate"]["sha256"], a["certificate"]["via"]) for a in alerts} == {
        ("0x" + ref, "0x" + nmi), ("0x" + work, "0x" + ref)}
    assert verify(client, work)["verdict"] == "traceability-compromised"
