"""`certreg contract|govern|issuer` against a real anvil: what an operator types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchor.accounts import create_keystore
from anchor.services.anvil import AnvilNode, dev_private_key
from registry.cli import EXIT_INPUT, main
from tests.anchor.registry_fixtures import account


@pytest.fixture
def cli(anvil: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("CERTREG_RPC_URL", anvil.rpc_url)
    monkeypatch.setenv("CERTREG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CERTREG_CONTRACT_ADDRESS", raising=False)

    def run(*argv: str) -> tuple[int, dict | None, str]:
        code = main([*argv, "--json"])
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err

    return run


def addr(i: int) -> str:
    return account(i).address


def test_contract_cli_deploy_govern_and_operate(cli, tmp_path: Path) -> None:
    code, deployed, _ = cli("contract", "deploy", "--dev-account", "0", "--governor", addr(1),
                            "--governor", addr(2), "--governor", addr(3), "--threshold", "2")
    assert code == 0 and deployed["threshold"] == 2
    assert json.loads((tmp_path / "deployment.json").read_text())["address"] == deployed["address"]

    code, proposal, _ = cli("govern", "propose", "register-issuer", "--issuer", "BelGIM",
                            "--country", "BY", "--kind", "nmi", "--admin", addr(4),
                            "--dev-account", "1")
    assert code == 0 and proposal["approvals"] == 1 and not proposal["executed"]

    code, _, err = cli("govern", "approve", str(proposal["proposal_id"]), "--dev-account", "1")
    assert code == EXIT_INPUT
    assert json.loads(err)["error"]["code"] == "contract-reverted"
    assert "GovernanceAlreadyApproved" in json.loads(err)["error"]["message"]

    code, _, err = cli("issuer", "show", "BelGIM")
    assert code == EXIT_INPUT, "not registered before the second approval"

    code, approved, _ = cli("govern", "approve", str(proposal["proposal_id"]),
                            "--dev-account", "2")
    assert code == 0 and approved["executed"]

    code, _, _ = cli("issuer", "add-operator", "BelGIM", addr(5), "--dev-account", "4")
    assert code == 0
    code, _, err = cli("issuer", "add-operator", "BelGIM", addr(6), "--dev-account", "5")
    assert code == EXIT_INPUT and "IssuerUnauthorizedAdmin" in err

    code, issuer, _ = cli("issuer", "show", "BelGIM")
    assert (issuer["country"], issuer["status"], issuer["admin"]) == ("BY", "active", addr(4))

    code, _, _ = cli("govern", "propose", "suspend", "--issuer", "BelGIM", "--dev-account", "2")
    code, status, _ = cli("contract", "status")
    assert status["governors"] == [addr(1), addr(2), addr(3)]
    assert status["proposal_count"] == 2


def test_contract_cli_signs_with_an_encrypted_keystore(cli, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cli("contract", "deploy", "--dev-account", "0", "--governor", addr(1), "--governor", addr(3),
        "--threshold", "2")
    keystore = create_keystore(tmp_path / "gov3.json", "correct horse battery",
                               dev_private_key(3)).path
    _, proposal, _ = cli("govern", "propose", "pause", "--dev-account", "1")
    monkeypatch.setenv("CERTREG_KEYSTORE_PASSWORD", "hunter2-not-it")
    code, _, err = cli("govern", "approve", str(proposal["proposal_id"]), "--keystore",
                       str(keystore))
    assert code == EXIT_INPUT and "keystore-password-wrong" in err and "hunter2-not-it" not in err
    monkeypatch.setenv("CERTREG_KEYSTORE_PASSWORD", "correct horse battery")
    code, approved, _ = cli("govern", "approve", str(proposal["proposal_id"]), "--keystore",
                            str(keystore))
    assert code == 0 and approved["executed"]
    assert cli("contract", "status")[1]["paused"] is True


def test_contract_cli_refuses_dev_keys_on_a_real_chain(tmp_path: Path, capsys,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    node = AnvilNode.start(workdir=tmp_path, chain_id=7777)
    try:
        monkeypatch.setenv("CERTREG_RPC_URL", node.rpc_url)
        monkeypatch.setenv("CERTREG_DATA_DIR", str(tmp_path))
        code = main(["contract", "deploy", "--dev-account", "0", "--governor", addr(1),
                     "--threshold", "1"])
        assert code == EXIT_INPUT
        assert "refused on chain 7777" in capsys.readouterr().err
        assert not (tmp_path / "deployment.json").exists()
    finally:
        node.stop()


def test_contract_cli_artifact_check_passes_on_committed_artifact(cli) -> None:
    code, result, _ = cli("contract", "compile", "--check")
    assert code == 0 and result == {"up_to_date": True}
