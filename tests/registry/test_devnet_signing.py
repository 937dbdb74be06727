"""A newcomer's first run: `certreg up`, then `certreg issue` signs with the TEST
identity `up` made, and that identity is refused on any chain but the development one."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from anchor.accounts import create_keystore
from anchor.services._process import free_port
from anchor.services.anvil import AnvilNode, dev_private_key
from registry.context import DEV_OPERATOR_INDEX
from registry.devnet import (
    ensure_dev_registry,
    ensure_dev_signing_identity,
    load_dev_signing_identity,
)
from registry.errors import DevSigningIdentityRefusedError
from registry.settings import Settings, load_settings
from tests.registry.test_api_up import get_json, start_up

DCC = Path("examples") / "ptb_example_v3.0.0.xml"


def certreg(*argv: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CERTREG_")}
    return subprocess.run([sys.executable, "-m", "registry.cli", *argv, "--json"],
                          cwd=cwd, env={**clean, **env}, capture_output=True, text=True,
                          timeout=300)


def test_first_issue_after_up_signs_with_the_test_identity_and_verifies(
        tmp_path: Path, shared_dcc: Path) -> None:
    api_port, chain_port = free_port(), free_port()
    data_dir = tmp_path / "var"  # the default data directory, seen from tmp_path
    proc = start_up(data_dir, api_port, chain_port)
    try:
        assert get_json(f"http://127.0.0.1:{api_port}/healthz") == {"status": "ok"}
        # Only the chain's port, which the test had to move off 8545: nothing about signing.
        env = {"CERTREG_CHAIN_PORT": str(chain_port)}
        issued = certreg("issue", str(shared_dcc / DCC), cwd=tmp_path, env=env)
        assert issued.returncode == 0, issued.stderr
        report = json.loads(issued.stdout)
        assert report["signer"]["test_only"] is True
        assert "TEST — not for real certificates" in report["signer"]["subject"]
        (document,) = report["documents"]
        assert document["status"] == "accepted"
        assert "signed-by-test-identity" in document["warnings"]
        assert report["summary"]["batches_anchored"] == 1

        sha256 = document["sha256"]
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/v1/certificates/"
                                    f"{sha256}/document", timeout=30) as response:
            signed = response.read()
        signed_file = tmp_path / "signed.xml"
        signed_file.write_bytes(signed)
        verified = certreg("verify", str(signed_file), "--no-metrology", cwd=tmp_path, env=env)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        verification = json.loads(verified.stdout)
        assert verification["verdict"] == "valid"
        assert verification["signature"]["status"] == "valid"
        assert verification["signature"]["signer_test_only"] is True
        checks = {c["name"]: c for c in verification["checks"]}
        assert "TEST signer" in checks["signature"]["detail"]
        # `up` declared its TEST identity for DEV-NMI: the signer check passes, not skips.
        assert checks["signer-is-issuer"]["status"] == "passed"
    finally:
        proc.terminate()
        proc.wait(20)
        proc.stdout.close()

    # The key's password is random and private; settings would accept it as a secret.
    identity_dir = data_dir / "dev-signing"
    password_file = identity_dir / "password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((identity_dir / "dev-signing.key.pem").stat().st_mode) == 0o600
    password = password_file.read_text()
    assert len(password) >= 32
    Settings(signing_password=password)  # not refused as a default or weak secret
    record = json.loads((identity_dir / "identity.json").read_text())
    assert record["test_only"] is True and record["chain_ids"] == [31337]


def test_test_identity_is_refused_on_a_chain_that_is_not_the_development_one(
        tmp_path: Path, shared_dcc: Path) -> None:
    node = AnvilNode.start(chain_id=1337, workdir=tmp_path / "chain")
    try:
        settings = load_settings(data_dir=tmp_path / "var", rpc_url=node.rpc_url, chain_id=1337)
        ensure_dev_registry(settings)  # a registry and an issuer on chain 1337
        ensure_dev_signing_identity(settings)  # as if a dev data directory was reused
        keystore = tmp_path / "operator.json"
        create_keystore(keystore, "operator-keystore-pw",
                        dev_private_key(DEV_OPERATOR_INDEX))
        env = {"CERTREG_DATA_DIR": str(tmp_path / "var"), "CERTREG_RPC_URL": node.rpc_url,
               "CERTREG_CHAIN_ID": "1337", "CERTREG_OPERATOR_KEYSTORE": str(keystore),
               "CERTREG_OPERATOR_PASSWORD": "operator-keystore-pw"}
        issued = certreg("issue", str(shared_dcc / DCC), cwd=tmp_path, env=env)
        assert issued.returncode == 3, issued.stdout + issued.stderr
        error = json.loads(issued.stderr)["error"]
        assert error["code"] == "signing-identity-test-only"
        assert "chain id 1337" in error["message"]
        dry = certreg("issue", str(shared_dcc / DCC), "--dry-run", cwd=tmp_path, env=env)
        assert json.loads(dry.stderr)["error"]["code"] == "signing-identity-test-only"
    finally:
        node.stop()


def test_test_identity_is_made_once_and_marked_test(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var")
    first = ensure_dev_signing_identity(settings)
    assert ensure_dev_signing_identity(settings) == first  # `up` again keeps it
    identity = load_dev_signing_identity(settings, 31337)
    assert identity is not None
    info = identity.certificate_info
    assert info.test_only and info.sha256_fingerprint == first.sha256_fingerprint
    assert "TEST — not for real certificates" in info.subject
    assert "(TEST)" in info.subject
    assert not list(settings.data_dir.glob(".dev-signing-*")), "no staging directory left"
    with pytest.raises(DevSigningIdentityRefusedError):
        load_dev_signing_identity(settings, 1)
    assert load_dev_signing_identity(load_settings(data_dir=tmp_path / "other"), 31337) is None
