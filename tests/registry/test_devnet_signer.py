"""The embedded dev registry declares its signing identity for DEV-NMI, so what it signs
and anchors verifies `valid` (step 8 passes, not merely skipped)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography import x509

from anchor.chain import issuer_id_from_name
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
