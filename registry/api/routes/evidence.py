"""Evidence records (certreg-evidence-record/1, docs/evidence-records.md): a certificate's
record as the chain and IPFS give it, and a record checked against this registry's chain.

The record is rebuilt from the projection (registry.evidence_records): any registry
indexing the contract serves the same one, whoever made the renewals. Checking it here
is a convenience: a verifier needs only the format and an RPC endpoint
(`certreg evidence --verify`), and should not have to trust this registry to do it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from anchor.evidence import EVIDENCE_FORMAT, EvidenceRecord, verify_evidence_record
from registry.api.deps import RegistryClientDep, SessionFactoryDep
from registry.api.routes._shared import Sha256Path, error_responses, sha256_hex
from registry.errors import EvidenceNotFoundError
from registry.evidence_records import indexed_record, renewed_record

router = APIRouter(prefix="/v1", tags=["evidence"])


class RenewalInfo(BaseModel):
    kind: str  # hash-tree | migration
    algorithm: str
    chain_id: int
    contract_address: str
    batch_ids: list[int]  # one per 32-byte word of the renewal tree's root
    block_number: int  # of its last word
    renewed_at: dt.datetime


class EvidenceStatus(BaseModel):
    """How the certificate's evidence has been renewed (earliest first), on this chain
    and before; the record itself is at GET /v1/certificates/{sha256}/evidence."""

    format: str = EVIDENCE_FORMAT
    renewals: list[RenewalInfo]
    # What the latest evidence binds the document's bytes with: sha256 (the receipt's
    # digest) or the algorithm of the latest hash-tree renewal.
    document_algorithm: str


def evidence_status(sessions: sessionmaker[Session], sha256: str) -> EvidenceStatus | None:
    with sessions() as session:
        record = renewed_record(session, sha256)
    if record is None:
        return None
    return EvidenceStatus(renewals=[RenewalInfo(
        kind=r.kind, algorithm=r.algorithm, chain_id=r.anchorings[-1].chain_id,
        contract_address=r.anchorings[-1].contract_address,
        batch_ids=[a.batch_id for a in r.anchorings],
        block_number=r.anchorings[-1].block_number,
        renewed_at=dt.datetime.fromtimestamp(r.anchored_at, dt.UTC)) for r in record.renewals],
        document_algorithm=record.document_algorithm())


class EvidenceVerificationStep(BaseModel):
    number: int
    name: str
    status: str
    detail: str


class EvidenceVerification(BaseModel):
    document_sha256: str
    verdict: str  # valid | revoked | invalid
    steps: list[EvidenceVerificationStep]
    revocation: dict[str, Any] | None


@router.get("/certificates/{sha256}/evidence", response_model=dict[str, Any],
            responses=error_responses(404, 422))
def certificate_evidence(sha256: Sha256Path, sessions: SessionFactoryDep) -> Response:
    """The certificate's evidence record: its receipt and every renewal, from chain + IPFS."""
    digest = sha256_hex(sha256)
    with sessions() as session:
        record = indexed_record(session, digest)
    if record is None:
        raise EvidenceNotFoundError(f"no anchored certificate 0x{digest} is known to this "
                                    "registry", sha256=digest)
    return Response(record.to_json(), media_type="application/json")


@router.post("/evidence/verify", response_model=EvidenceVerification,
             responses=error_responses(422))
async def verify_evidence(client: RegistryClientDep,
                          record: Annotated[dict[str, Any], Body()]) -> EvidenceVerification:
    """Check an evidence record against this registry's chain endpoint, as
    `certreg evidence --verify` does (by the record's digests: no document bytes)."""
    parsed = EvidenceRecord.from_dict(record)
    result = await run_in_threadpool(verify_evidence_record, parsed, None, client)
    return EvidenceVerification(document_sha256=parsed.document_sha256, **result.to_dict())
