"""`certreg issue|receipt|revoke|supersede|keys`, as an operator types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchor.accounts import load_keystore
from anchor.services.anvil import dev_private_key
from registry.cli import EXIT_FAILURE, EXIT_INPUT, EXIT_OK, main
from registry.cli.issue import CliProgress
from registry.documents.keys import load_signing_identity_from_pem
from tests.anchor.registry_fixtures import account
from tests.registry.conftest import MakeDccs


@pytest.fixture
def cli(issuer_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys):
    for name, value in issuer_env.items():
        monkeypatch.setenv(name, value)

    def run(*argv: str) -> tuple[int, dict | None, str]:
        code = main([*argv, "--json"])
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err

    return run


def test_cli_issue_directory_then_receipt_verify(cli, make_dccs: MakeDccs, tmp_path: Path,
                                                 issuer_env: dict[str, str]) -> None:
    make_dccs(tmp_path / "in", 5, "CLI")
    code, report, err = cli("issue", str(tmp_path / "in"), "--batch-size", "2")
    assert code == EXIT_OK, err
    assert report["summary"].items() >= {"documents": 5, "accepted": 5, "batches_sealed": 3,
                                      "batches_anchored": 3, "receipts_written": 5,
                                      "pending": 0}.items()
    assert "certreg: phase anchor" in err, "progress goes to stderr"
    first = report["documents"][0]
    assert Path(first["receipt"]).is_file()

    code, verification, _ = cli("receipt", first["sha256"], "--verify")
    assert code == EXIT_OK and verification["verdict"] == "valid"
    assert [s["name"] for s in verification["steps"]][:3] == [
        "document-hash", "merkle-proof", "chain-id"]

    out_file = tmp_path / "receipt.json"
    code, shown, _ = cli("receipt", first["sha256"], "-o", str(out_file))
    assert code == EXIT_OK and json.loads(out_file.read_text()) == shown

    code, again, _ = cli("issue", str(tmp_path / "in" / "cli-00003.xml"))
    assert code == EXIT_OK
    assert again["documents"][0]["status"] == "already-anchored"
    assert again["summary"]["batches_anchored"] == 0


def test_cli_issue_reports_rejected_documents_with_exit_code(
        cli, make_dccs: MakeDccs, shared_dcc: Path, tmp_path: Path) -> None:
    (good,) = make_dccs(tmp_path / "in", 1, "GOOD")
    code, report, _ = cli("issue", str(good), str(shared_dcc / "invalid" / "wrong_root.xml"))
    assert code == EXIT_INPUT
    assert [d["status"] for d in report["documents"]] == ["accepted", "rejected"]
    assert report["documents"][1]["error"]["code"] == "dcc-root-invalid"
    assert report["summary"]["pending"] == 0


def test_cli_issue_dry_run_stores_nothing(cli, make_dccs: MakeDccs, tmp_path: Path,
                                          issuer_env: dict[str, str]) -> None:
    make_dccs(tmp_path / "in", 2, "DRY")
    code, report, _ = cli("issue", str(tmp_path / "in" / "*.xml"), "--dry-run")
    assert code == EXIT_OK
    assert [d["status"] for d in report["documents"]] == ["dry-run", "dry-run"]
    assert all(d["signed_here"] for d in report["documents"])
    assert not Path(issuer_env["CERTREG_DATA_DIR"]).exists()


def test_cli_issue_encrypted_prints_each_key_once(cli, make_dccs: MakeDccs,
                                                  tmp_path: Path) -> None:
    make_dccs(tmp_path / "in", 2, "ENC")
    code, report, _ = cli("issue", str(tmp_path / "in"), "--encrypt")
    assert code == EXIT_OK
    keys = [d["key"] for d in report["documents"]]
    assert len(set(keys)) == 2
    _, again, _ = cli("issue", str(tmp_path / "in"), "--encrypt")
    assert all("key" not in d for d in again["documents"]), "never shown a second time"


def test_cli_revoke_and_supersede(cli, make_dccs: MakeDccs, tmp_path: Path) -> None:
    old, other = make_dccs(tmp_path / "in", 2, "OLD")
    (corrected,) = make_dccs(tmp_path / "fix", 1, "OLD-CORRECTED")
    _, report, _ = cli("issue", str(old), str(other))
    old_hash, other_hash = (d["sha256"] for d in report["documents"])

    code, superseded, err = cli("supersede", old_hash, str(corrected))
    assert code == EXIT_OK, err
    new_hash = superseded["new"]["sha256"]
    code, verification, _ = cli("receipt", old_hash, "--verify")
    assert code == EXIT_FAILURE and verification["verdict"] == "revoked"
    assert verification["revocation"]["reason"] == "superseded"
    assert verification["revocation"]["replacement"] == new_hash
    assert cli("receipt", new_hash, "--verify")[1]["verdict"] == "valid"
    # Re-running the same supersession (e.g. after a crash) completes without a new revocation.
    code, rerun, _ = cli("supersede", old_hash, str(corrected))
    assert code == EXIT_OK and rerun["revocation"]["transaction_hash"] is None

    code, revoked, _ = cli("revoke", other_hash, "--reason", "out-of-tolerance",
                           "--effective-from", "2024-01-01")
    assert code == EXIT_OK and revoked["reason"] == "out_of_tolerance"
    _, verification, _ = cli("receipt", other_hash, "--verify")
    assert verification["revocation"]["effective_from"] == 1704067200
    code, _, err = cli("revoke", other_hash, "--reason", "withdrawn")
    assert code == EXIT_INPUT and json.loads(err)["error"]["code"] == "document-already-revoked"
    code, _, err = cli("revoke", "0x" + "ab" * 32, "--reason", "withdrawn")
    assert code == EXIT_INPUT and json.loads(err)["error"]["code"] == "document-not-found"


def test_cli_revoke_from_file_batches_per_anchoring_batch(cli, make_dccs: MakeDccs,
                                                          tmp_path: Path) -> None:
    make_dccs(tmp_path / "in", 7, "BULK")  # batches of 3, 3 and 1
    _, report, _ = cli("issue", str(tmp_path / "in"), "--batch-size", "3")
    hashes = [d["sha256"] for d in report["documents"]]
    listing = tmp_path / "hashes.txt"
    chosen = hashes[:2] + hashes[3:6]  # two batches of three, one of one: 5 in 2 batches
    listing.write_text("# withdrawn after the audit\n" + "\n".join(chosen) + "\n\n")
    code, revoked, err = cli("revoke", "--from-file", str(listing), "--reason", "withdrawn")
    assert code == EXIT_OK, err
    assert sorted(r["sha256"] for r in revoked["revoked"]) == sorted(chosen)
    batches = {r["batch_id"] for r in revoked["revoked"]}
    assert len(batches) >= 2 and len(revoked["transactions"]) == len(batches)
    for sha256 in hashes:
        _, verification, _ = cli("receipt", sha256, "--verify")
        assert verification["verdict"] == ("revoked" if sha256 in chosen else "valid")
    # The indexer projected every hash of the batched revocations: a re-run sends nothing,
    # and a different reason is refused (irreversible).
    code, again, _ = cli("revoke", "--from-file", str(listing), "--reason", "withdrawn")
    assert code == EXIT_OK and again["transactions"] == []
    code, _, err = cli("revoke", "--from-file", str(listing), "--reason", "error")
    assert code == EXIT_INPUT and json.loads(err)["error"]["code"] == "document-already-revoked"
    listing.write_text(hashes[6] + "\n" + "0x" + "cd" * 32 + "\n")
    code, _, err = cli("revoke", "--from-file", str(listing), "--reason", "withdrawn")
    assert code == EXIT_INPUT and json.loads(err)["error"]["code"] == "document-not-found"
    _, verification, _ = cli("receipt", hashes[6], "--verify")
    assert verification["verdict"] == "valid", "an unknown hash stops the whole request"
    code, _, err = cli("revoke", hashes[6], "--from-file", str(listing), "--reason", "withdrawn")
    assert code != EXIT_OK


def test_cli_keys_eth_new_import_show(cli, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTREG_KEYSTORE_PASSWORD", "operator passphrase")
    code, created, _ = cli("keys", "eth", "new", str(tmp_path / "op.json"))
    assert code == EXIT_OK
    assert cli("keys", "eth", "show", str(tmp_path / "op.json"))[1]["address"] == \
        created["address"]
    assert load_keystore(tmp_path / "op.json", "operator passphrase").address == \
        created["address"]

    key = dev_private_key(9)
    monkeypatch.setenv("CERTREG_IMPORT_PRIVATE_KEY", key)
    code, imported, err = cli("keys", "eth", "import", str(tmp_path / "spare.json"))
    assert code == EXIT_OK and imported["address"] == account(9).address
    assert key.removeprefix("0x") not in (tmp_path / "spare.json").read_text() + err
    before = (tmp_path / "op.json").read_bytes()
    code, _, err = cli("keys", "eth", "new", str(tmp_path / "op.json"))
    assert code != EXIT_OK and json.loads(err)["error"]["code"] == "keystore-invalid"
    assert (tmp_path / "op.json").read_bytes() == before, "never overwrites a key"


def test_cli_keys_signing_new_makes_a_usable_identity(cli, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTREG_SIGNING_PASSWORD", "institute passphrase")
    code, files, _ = cli("keys", "signing", "new", "--out-dir", str(tmp_path / "id"),
                         "--common-name", "Lab Signer", "--organization", "Lab",
                         "--country", "BY")
    assert code == EXIT_OK and files["test_only"]
    identity = load_signing_identity_from_pem(files["private_key"], files["certificate"],
                                              password="institute passphrase")
    assert "Lab Signer" in identity.certificate_info.subject


def test_plain_progress_prints_phase_lines_then_rate_and_eta(
        capsys: pytest.CaptureFixture[str]) -> None:
    now = [100.0]
    progress = CliProgress(interactive=False, interval=10.0, clock=lambda: now[0])
    progress.phase("submit", 1000)
    for _ in range(400):
        now[0] += 0.025  # 40 documents/s
        progress.advance()
    progress.phase("seal", 1000)
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "certreg: phase submit (1000)"
    # One status line per 10 s: at 400 of 1000 documents, 40 docs/s, 15 s to go.
    assert lines[1] == "certreg: submit 400/1000, 40 docs/s, 10 s elapsed, ETA 15 s"
    assert lines[2] == ("certreg: submit 400/1000, 40 docs/s, 10 s elapsed, ETA 15 s "
                        "(phase done)")
    assert lines[3:] == ["certreg: phase seal (1000)"]
