"""Instruments end to end on anvil: one fuel dispenser documented by three issuers (PTB's
type approval, LAB's verification citing PTB's reference standard, WSL's calibration
DCC) through the real pipeline; found by every identifier, its history and status across
issuers; the consequences of revoking the reference standard and withdrawing the type
approval, on the instrument and in the instrument alerts feed; the same answers from a
second registry's projection of the same chain, and after a rebuild."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from anchor.chain import RevocationReason, issuer_name
from registry.context import content_store, registry_client
from registry.db import open_database
from registry.index.indexer import Indexer
from registry.issuance import DocumentSource, SubmissionStatus
from registry.settings import Settings
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld
from tests.registry.api_support import api_client
from tests.registry.test_document_kinds_chain import EXAMPLES, _classifier, _verification
from tests.registry.test_traceability_chain import revoke
from tests.registry.trust_fixtures import WSL, TrustChain, chain_dcc

SERIAL = "QT510-2019-088213"
NAMES = {issuer: issuer_name(issuer) for issuer in (PTB, LAB, WSL)}
INSTRUMENT = "mi:tokheimdispensers:quantium510h4p:qt5102019088213"
APPROVAL = "DE-21-MI005-PTB014"


def _calibration_dcc(template: bytes, number: str, day: dt.date) -> bytes:
    """WSL's calibration of the same dispenser: the maker's serial written its own way,
    the manufacturer in capitals without its legal form."""
    text = chain_dcc(template, number, day, None).decode("utf-8")
    text = text.replace("<dcc:content>String</dcc:content>",
                        "<dcc:content>TOKHEIM DISPENSERS</dcc:content>", 1)
    text = text.replace("<dcc:model>String</dcc:model>",
                        "<dcc:model>Quantium 510-H-4P</dcc:model>", 1)
    text = text.replace("string-manufacturer-item", "qt510 2019 088213", 1)
    return text.encode("utf-8")


def _get(client: TestClient, url: str, **params: Any) -> dict[str, Any]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _lines(client: TestClient, url: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


@pytest.fixture
def documented(world: RegistryWorld, settings: Settings, shared_dcc: Path,
               tmp_path: Path) -> tuple[TrustChain, dict[str, str]]:
    chain = TrustChain(world, settings, shared_dcc, tmp_path)
    today = chain.today
    ptb = chain.issuer(PTB)
    (directory,) = ptb.run([DocumentSource("kinds.json", _classifier(
        "2026.1", today - dt.timedelta(days=30)))]).submissions
    assert directory.status is SubmissionStatus.ACCEPTED, directory.error
    # The MID example approval, granted ten days ago (the classifier's codes are checked
    # on its date), valid five years.
    approval = json.loads((EXAMPLES / "type-approval" / "fuel-dispenser-mid-mi005.json")
                          .read_text(encoding="utf-8"))
    granted = today - dt.timedelta(days=10)
    approval.update(issue_date=granted.isoformat(), valid_from=granted.isoformat(),
                    valid_until=(granted + dt.timedelta(days=5 * 365)).isoformat())
    (approved,) = ptb.run([DocumentSource("approval.json", json.dumps(approval).encode())]
                          ).submissions
    assert approved.status is SubmissionStatus.ACCEPTED, approved.error
    standard = chain.issue(PTB, "INSTR-STD-1", today)
    (verification,) = chain.issuer(LAB).run([DocumentSource("vc.json", _verification(
        "VC-INSTR-1", SERIAL, today, standard))], batch_size=1).submissions
    assert verification.status is SubmissionStatus.ACCEPTED, verification.error
    (calibration,) = chain.issuer(WSL).run([_calibration_dcc(
        chain.template, "WSL-INSTR-CAL-1", today)], batch_size=1).submissions
    assert calibration.status is SubmissionStatus.ACCEPTED, calibration.error
    return chain, {"approval": approved.sha256, "standard": standard,
                   "verification": verification.sha256, "calibration": calibration.sha256}


def test_instrument_history_status_and_consequences_across_issuers(
        documented: tuple[TrustChain, dict[str, str]], settings: Settings,
        tmp_path: Path) -> None:
    chain, sha = documented
    today = chain.today
    client = api_client(settings)

    # Found by each identifier any of its documents states, as one instrument.
    for params in ({"serial": SERIAL}, {"serial": "qt5102019088213"},
                   {"approval_number": "de 21 mi005 ptb014"},
                   {"classifier_code": "17.02.01"},
                   {"manufacturer": "Tokheim Dispensers GmbH", "type": "QUANTIUM 510 H 4P"}):
        items = _get(client, "/v1/instruments", **params)["items"]
        assert [item["id"] for item in items] == [INSTRUMENT], params
    (found,) = _get(client, "/v1/instruments", serial=SERIAL)["items"]
    assert found["documents"] == 2 and sorted(found["issuers"]) == sorted([NAMES[LAB], NAMES[WSL]])
    assert found["approval_numbers"] == [APPROVAL]
    assert _get(client, "/v1/instruments", serial="QT510-2019-000000")["items"] == []

    instrument = _get(client, f"/v1/instruments/{INSTRUMENT}")
    history = instrument["history"]
    # In time order: the approval (granted ten days ago), then the verification and the
    # calibration of today, in the order they were anchored.
    assert [(e["document_type"], e["issuer"]) for e in history] == [
        ("type-approval", NAMES[PTB]), ("verification-certificate", NAMES[LAB]),
        ("dcc", NAMES[WSL])]
    assert {e["sha256"] for e in history} == {
        "0x" + sha[k] for k in ("approval", "verification", "calibration")}
    status = instrument["status"]
    assert status["state"] == "verified", status
    assert status["valid_until"] == (today + dt.timedelta(days=730)).isoformat()
    assert [c["check"] for c in status["evidence"]] == ["type-approval", "verified"]
    # A laboratory anchors an "approval" with the same number, expired, and revokes it:
    # it is no approving body and no document of the instrument cites it, so it counts
    # for nothing (else anyone could withdraw every instrument of a type).
    forged = json.loads((EXAMPLES / "type-approval" / "fuel-dispenser-mid-mi005.json")
                        .read_text(encoding="utf-8"))
    del forged["instrument_type"]["classifier_code"]
    forged.update(issue_date=(today - dt.timedelta(days=400)).isoformat(),
                  valid_from=(today - dt.timedelta(days=400)).isoformat(),
                  valid_until=(today - dt.timedelta(days=1)).isoformat())
    (squat,) = chain.issuer(LAB).run([DocumentSource("forged.json", json.dumps(
        forged).encode())]).submissions
    assert squat.status is SubmissionStatus.ACCEPTED, squat.error
    revoke(chain, LAB, squat.sha256, RevocationReason.WITHDRAWN, today)
    assert _get(client, f"/v1/instruments/{INSTRUMENT}") == instrument
    assert _lines(client, "/v1/instruments/alerts") == []

    # The model-less id (as a DCC without a model would give) names the same instrument.
    assert len(_get(client, "/v1/instruments/mi:tokheimdispensers::qt5102019088213")[
        "history"]) == 3

    # PTB revokes the reference standard the verification used: the instrument shows it,
    # and the instrument feed says which instrument, caused by which revocation.
    certificate_alerts_before = client.get("/v1/alerts").text
    revoke(chain, PTB, sha["standard"], RevocationReason.COMPROMISED, today)
    status = _get(client, f"/v1/instruments/{INSTRUMENT}")["status"]
    assert status["state"] == "reference-standard-revoked"
    assert status["evidence"][-1]["sha256"] == "0x" + sha["verification"]
    (alert,) = _lines(client, "/v1/instruments/alerts")
    assert (alert["kind"], alert["status"], alert["instrument"]["id"]) == (
        "instrument", "reference-standard-revoked", INSTRUMENT)
    assert alert["cause"]["sha256"] == "0x" + sha["standard"]
    assert alert["document"]["sha256"] == "0x" + sha["verification"]
    # The certificate feed is unchanged in form: its lines are certificates, not instruments.
    certificate_alerts = _lines(client, "/v1/alerts")
    assert certificate_alerts_before == ""
    assert [a["certificate"]["sha256"] for a in certificate_alerts] == [
        "0x" + sha["verification"]]
    assert all("kind" not in a for a in certificate_alerts)

    # PTB withdraws the type approval: every instrument of the type shows it.
    revoke(chain, PTB, sha["approval"], RevocationReason.WITHDRAWN, today)
    status = _get(client, f"/v1/instruments/{INSTRUMENT}")["status"]
    assert status["state"] == "type-approval-withdrawn"
    assert status["evidence"][0] == {
        "check": "type-approval-withdrawn", "passed": False, "sha256": "0x" + sha["approval"],
        "detail": f"type approval {APPROVAL} was revoked (withdrawn, effective {today})"}
    alerts = _lines(client, "/v1/instruments/alerts")
    assert [a["status"] for a in alerts] == ["reference-standard-revoked",
                                             "type-approval-withdrawn"]
    assert _lines(client, "/v1/instruments/alerts", cursor=alerts[0]["cursor"]) == alerts[1:]

    # Another registry (own database) indexing the same contract knows the same instrument.
    other = settings.model_copy(update={
        "database_url": f"sqlite:///{tmp_path / 'registry-b.db'}"})
    Indexer(registry_client(other), open_database(other.effective_database_url),
            content_store(other), other.confirmations).catch_up()
    elsewhere = _get(api_client(other), f"/v1/instruments/{INSTRUMENT}")
    here = _get(client, f"/v1/instruments/{INSTRUMENT}")
    assert elsewhere == here

    # The projection rebuilt from chain + IPFS alone gives the same history and status.
    chain.issuer(LAB).indexer.rebuild()
    assert _get(client, f"/v1/instruments/{INSTRUMENT}") == here


def test_instrument_cli_and_errors(documented: tuple[TrustChain, dict[str, str]],
                                   settings: Settings,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from registry.cli import EXIT_FAILURE, EXIT_INPUT, EXIT_OK, main

    chain, sha = documented
    assert main(["instrument", "show", INSTRUMENT, "--json"]) == EXIT_OK
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"]["state"] == "verified" and shown["serial"] == SERIAL
    assert main(["instrument", "show", INSTRUMENT]) == EXIT_OK
    text = capsys.readouterr().out
    assert "status: verified" in text and "VC-INSTR-1" in text and f"({NAMES[WSL]})" in text
    assert main(["instrument", "search", "--approval-number", APPROVAL, "--json"]) == EXIT_OK
    assert [i["id"] for i in json.loads(capsys.readouterr().out)["items"]] == [INSTRUMENT]
    assert main(["instrument", "search", "--serial", "nothing-like-it"]) == EXIT_FAILURE
    capsys.readouterr()
    # A status other than verified is a failure exit, with the evidence.
    assert main(["instrument", "show", INSTRUMENT, "--on",
                 (chain.today + dt.timedelta(days=731)).isoformat(), "--json"]) == EXIT_FAILURE
    assert json.loads(capsys.readouterr().out)["status"]["state"] == "verification-expired"
    assert main(["instrument", "show", "mi:Tokheim:x:1"]) == EXIT_INPUT
    assert main(["instrument", "show", "mi:nobody:x:1"]) == EXIT_INPUT
    assert main(["instrument", "search"]) == EXIT_INPUT
    assert main(["instrument", "alerts"]) == EXIT_OK
    assert capsys.readouterr().out == ""

    client = api_client(settings)
    bad = client.get("/v1/instruments/mi:Tokheim:x:1")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "instrument-id-invalid"
    unknown = client.get("/v1/instruments/mi:nobody:x:1")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not-found"
    empty = client.get("/v1/instruments")
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "request-invalid"
    assert client.get("/v1/instruments/alerts", params={"cursor": "x"}).status_code == 422
    assert sha["verification"]


def test_instrument_status_follows_the_cascade_rules_by_hash_and_by_number(
        world: RegistryWorld, settings: Settings, shared_dcc: Path, tmp_path: Path) -> None:
    """NMI -> reference laboratory -> verification of an instrument, the verification
    citing the laboratory's certificate by number only. The NMI's certificate is revoked
    as compromised: an instrument is compromised exactly when the cascade
    (registry.db.cascade.affected_by) reaches its verification; a reference
    certificate calibrated before the effective date stops it."""
    from registry.db.cascade import affected_by
    from tests.registry.trust_fixtures import Cite

    chain = TrustChain(world, settings, shared_dcc, tmp_path)
    today = chain.today
    (directory,) = chain.issuer(PTB).run([DocumentSource("kinds.json", _classifier(
        "2026.1", today - dt.timedelta(days=30)))]).submissions
    assert directory.status is SubmissionStatus.ACCEPTED, directory.error
    client = api_client(settings)
    outcomes = {}
    for name, reference_day in (("before", today - dt.timedelta(days=5)), ("after", today)):
        nmi = chain.issue(PTB, f"NMI-{name}", today - dt.timedelta(days=10))
        chain.issue(LAB, f"REF-{name}", reference_day, Cite(f"NMI-{name}", nmi))
        document = json.loads(_verification(f"VC-{name}", f"SN-{name}", today))
        document["reference_standards"] = [{"name": "working standard",
                                            "certificate": {"number": f"REF-{name}"}}]
        (verification,) = chain.issuer(WSL).run([DocumentSource(
            f"vc-{name}.json", json.dumps(document).encode())]).submissions
        assert verification.status is SubmissionStatus.ACCEPTED, verification.error
        instrument = f"mi:tokheimdispensers:quantium510h4p:sn{name}"
        assert _get(client, f"/v1/instruments/{instrument}")["status"]["state"] == "verified"
        revoke(chain, PTB, nmi, RevocationReason.COMPROMISED, today - dt.timedelta(days=2))
        cascade = {a.sha256 for a in affected_by(chain.issuer(PTB).sessions, nmi,
                                                 today - dt.timedelta(days=2))}
        state = _get(client, f"/v1/instruments/{instrument}")["status"]["state"]
        outcomes[name] = (state, verification.sha256 in cascade)
    assert outcomes == {"before": ("verified", False),
                        "after": ("reference-standard-revoked", True)}
    alerts = _lines(client, "/v1/instruments/alerts")
    assert [(a["status"], a["instrument"]["serial"]) for a in alerts] == [
        ("reference-standard-revoked", "SN-after")]
