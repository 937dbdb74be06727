"""`certreg renew|evidence|migrate` end to end: issued DCCs renewed under SHA3-256, their
records written and verified with the RPC endpoint only, then migrated to a new contract."""

from __future__ import annotations

import json
from pathlib import Path

from anchor.services.anvil import AnvilNode
from registry.cli import EXIT_FAILURE, EXIT_INPUT, EXIT_OK
from tests.anchor.registry_fixtures import deploy_world
from tests.registry.conftest import MakeDccs
from tests.registry.test_cli_issue import cli  # noqa: F401 - the fixture

LATER = ("--trust", "sha256=2100-01-01", "--at", "2101-01-01")


def test_cli_renew_evidence_verify_and_migrate(cli, make_dccs: MakeDccs,  # noqa: F811
                                               tmp_path: Path, anvil: AnvilNode) -> None:
    make_dccs(tmp_path / "in", 3, "EVID")
    code, report, err = cli("issue", str(tmp_path / "in"), "--batch-size", "2")
    assert code == EXIT_OK, err
    hashes = [d["sha256"] for d in report["documents"]]
    plain = tmp_path / "plain.json"
    assert cli("evidence", hashes[0], "-o", str(plain))[0] == EXIT_OK
    code, result, _ = cli("evidence", "--verify", str(plain), *LATER)
    assert code == EXIT_FAILURE and result["verdict"] == "invalid"
    assert [s["name"] for s in result["steps"] if s["status"] == "failed"] == ["trust-policy"]

    (secret,) = make_dccs(tmp_path / "secret", 1, "SECRET")
    code, confidential, err = cli("issue", str(secret), "--encrypt")
    assert code == EXIT_OK, err
    code, renewed, err = cli("renew", "--all")
    assert code == EXIT_OK, err
    assert renewed["renewed"] == 3 and renewed["algorithm"] == "sha3-256"
    # The registry never holds a confidential document's plaintext: it says so, per document.
    assert renewed["skipped"] == [{"sha256": confidential["documents"][0]["sha256"],
                                   "reason": "confidential: plaintext not held"}]
    assert cli("revoke", hashes[1], "--reason", "withdrawn")[0] == EXIT_OK

    record = tmp_path / "record.json"
    assert cli("evidence", hashes[0], "-o", str(record))[0] == EXIT_OK
    assert len(json.loads(record.read_text())["renewals"]) == 1
    document = tmp_path / "signed.xml"  # the anchored bytes are the signed document's
    assert cli("store", "get", report["documents"][0]["cid"], "-o", str(document))[0] == EXIT_OK
    code, result, _ = cli("evidence", "--verify", str(record), "--document", str(document),
                          *LATER)
    assert code == EXIT_OK and result["verdict"] == "valid", result

    # Migration to a fresh contract on the same chain; revocations come along.
    new = deploy_world(anvil)
    export = tmp_path / "export.json"
    code, exported, err = cli("migrate", "export", "-o", str(export))
    assert code == EXIT_OK, err
    assert exported == {"output": str(export), "records": 4, "revocations": 1}
    code, imported, err = cli("migrate", "import", str(export), "--to", new.deployer.address)
    assert code == EXIT_OK, err
    assert imported["records"] == 4 and imported["contract_address"] == new.deployer.address
    migrated = tmp_path / "migrated.json"
    assert cli("evidence", hashes[1], "-o", str(migrated))[0] == EXIT_OK
    assert [r["kind"] for r in json.loads(migrated.read_text())["renewals"]] == [
        "hash-tree", "migration"]
    code, result, _ = cli("evidence", "--verify", str(migrated), "--rpc", anvil.rpc_url)
    assert code == EXIT_FAILURE and result["verdict"] == "revoked"
    assert result["revocation"]["reason"] == "withdrawn"
    # Importing again is harmless: the same batch, no revocation sent twice.
    code, again, _ = cli("migrate", "import", str(export), "--to", new.deployer.address)
    assert code == EXIT_OK and again["batch_id"] == imported["batch_id"]
    assert cli("evidence", "--verify", str(tmp_path / "missing.json"))[0] == EXIT_INPUT


def test_cli_evidence_at_a_registry_that_did_not_renew(cli, make_dccs: MakeDccs,  # noqa: F811
                                                       tmp_path: Path, kubo_factory,
                                                       monkeypatch) -> None:
    """An auditor's registry (its own database, data directory and Kubo node, no keys)
    indexing the same chain writes the renewed record from chain + IPFS alone."""
    node_a = kubo_factory("evidence-a")
    node_b = kubo_factory("evidence-b")
    node_b.connect_to(node_a)
    monkeypatch.setenv("CERTREG_IPFS_API", node_a.api_multiaddr)
    make_dccs(tmp_path / "in", 2, "AUDIT")
    code, report, err = cli("issue", str(tmp_path / "in"))
    assert code == EXIT_OK, err
    code, renewed, err = cli("renew", "--all", "--algorithm", "sha512")
    assert code == EXIT_OK and renewed["renewed"] == 2, err

    monkeypatch.setenv("CERTREG_DATA_DIR", str(tmp_path / "auditor"))
    monkeypatch.setenv("CERTREG_IPFS_API", node_b.api_multiaddr)
    monkeypatch.setenv("CERTREG_DATABASE_URL", f"sqlite:///{tmp_path / 'auditor.db'}")
    record = tmp_path / "audited.json"
    sha256 = report["documents"][0]["sha256"]
    code, _, err = cli("evidence", sha256, "-o", str(record))
    assert code == EXIT_OK, err
    written = json.loads(record.read_text())
    assert [(r["kind"], r["algorithm"], len(r["anchorings"])) for r in written["renewals"]] == [
        ("hash-tree", "sha512", 2)]
    assert not (tmp_path / "auditor" / "evidence").exists()  # nothing of A's files
    code, result, _ = cli("evidence", "--verify", str(record))
    assert code == EXIT_OK and result["verdict"] == "valid", result
    assert cli("evidence", "ab" * 32)[0] == EXIT_INPUT
