"""The embedded dev registry declares its signing identity for DEV-NMI, so what it signs
and anchors verifies `valid` (step 8 passes, not merely skipped)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from anchor.chain import RegistryClient, connect, issuer_id_from_name
from anchor.cid import Cid
from anchor.services._process import free_port
from registry.db.queries import DatabaseIndexView
from registry.devnet import (
    DEV_ISSUER_CODE,
    ensure_dev_registry,
    ensure_dev_signer_declared,
    start_dev_chain,
)
from registry.documents.keys import SigningIdentityFiles
from registry.documents.signing import verify_signature
from registry.issuance import Issuer
from registry.settings import load_settings
from registry.verify import CheckStatus, Verdict, verify_certificate
from tests.registry.conftest import SIGNING_PASSWORD, MakeDccs
from tests.registry.test_api_up import get_json


def test_dev_registry_declares_its_signer_and_its_documents_are_valid(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signing_files: SigningIdentityFiles,
        make_dccs: MakeDccs) -> None:
    for name in [k for k in os.environ if k.startswith("CERTREG_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CERTREG_SIGNING_KEY", str(signing_files.private_key_pem))
    monkeypatch.setenv("CERTREG_SIGNING_CERTIFICATE", str(signing_files.certificate_pem))
    monkeypatch.setenv("CERTREG_SIGNING_PASSWORD", SIGNING_PASSWORD)
    settings = load_settings(data_dir=tmp_path / "data", chain_port=free_port())
    chain = start_dev_chain(settings)
    try:
        ensure_dev_registry(settings)
        certificate = x509.load_pem_x509_certificate(signing_files.certificate_pem.read_bytes())
        assert ensure_dev_signer_declared(settings, certificate) is True
        assert ensure_dev_signer_declared(settings, certificate) is False  # idempotent
        issuer = Issuer.from_settings(settings)
        assert issuer.issuer_id == issuer_id_from_name(DEV_ISSUER_CODE)
        (submission,) = issuer.run(make_dccs(tmp_path / "in", 1, "DEV")).submissions
        issuer.index()
        document = issuer.store.get(Cid.parse(submission.cid))
        result = verify_certificate(None, document, index=DatabaseIndexView(issuer.sessions),
                                    chain=issuer.client, verify_signature=verify_signature)
        assert result.verdict is Verdict.VALID
        assert result.check("signer-is-issuer").status is CheckStatus.PASSED
    finally:
        chain.stop()


def test_certreg_up_declares_the_configured_signing_identity(
        tmp_path: Path, signing_files: SigningIdentityFiles) -> None:
    api_port, chain_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTREG_")} | {
        "CERTREG_SIGNING_KEY": str(signing_files.private_key_pem),
        "CERTREG_SIGNING_CERTIFICATE": str(signing_files.certificate_pem),
        "CERTREG_SIGNING_PASSWORD": SIGNING_PASSWORD}
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "up", "--data-dir", str(tmp_path),
         "--api-port", str(api_port), "--chain-port", str(chain_port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        info = get_json(f"http://127.0.0.1:{api_port}/v1/registry")
        reader = RegistryClient(connect(f"http://127.0.0.1:{chain_port}"),
                                info["contract_address"])
        certificate = x509.load_pem_x509_certificate(signing_files.certificate_pem.read_bytes())
        record = reader.get_signing_certificate(issuer_id_from_name(DEV_ISSUER_CODE),
                                                certificate.fingerprint(hashes.SHA256()))
        assert record is not None and record.withdrawn_at == 0
        assert record.valid_until == int(certificate.not_valid_after_utc.timestamp())
    finally:
        proc.terminate()
        proc.wait(20)
