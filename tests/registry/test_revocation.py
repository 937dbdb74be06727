"""registry.revocation: many revocations, grouped per batch, chunked per transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from anchor.chain import RevocationReason
from registry.db import ChainRevocation
from registry.errors import DocumentNotFoundError
from registry.issuance import Issuer
from registry.revocation import revoke_documents
from tests.registry.conftest import MakeDccs


def test_revocation_chunks_one_batch_into_transactions(issuer: Issuer, make_dccs: MakeDccs,
                                                       tmp_path: Path) -> None:
    report = issuer.run(make_dccs(tmp_path / "in", 6, "CHUNK"), batch_size=6)
    hashes = [s.sha256 for s in report.submissions]
    outcomes = revoke_documents(issuer, ["0x" + h.upper() for h in hashes[:5]],
                                RevocationReason.ERROR, per_transaction=2)
    assert sorted(o.document_sha256 for o in outcomes) == sorted(hashes[:5])
    assert len({o.transaction_hash for o in outcomes}) == 3  # 2 + 2 + 1
    assert len({o.batch_id for o in outcomes}) == 1
    with issuer.sessions() as session:
        rows = session.query(ChainRevocation).all()
    assert sorted(r.document_sha256 for r in rows) == sorted(hashes[:5])
    assert {r.reason for r in rows} == {"error"}
    assert revoke_documents(issuer, [], RevocationReason.ERROR) == []
    with pytest.raises(DocumentNotFoundError):
        revoke_documents(issuer, [hashes[5], "ab" * 32], RevocationReason.ERROR)
    with pytest.raises(ValueError):
        revoke_documents(issuer, [hashes[5]], RevocationReason.ERROR, per_transaction=401)
