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

from anchor.evidence import EVIDENCE_FORMAT, EvidenceRecord, verify_evidence_record
from registry.api.deps import RegistryClientDep, SessionFactoryDep
from registry.api.routes._shared import Sha256Path, error_responses, sha256_hex
from registry.db.lookup import RenewalRow
from registry.errors import EvidenceNotFoundError
from registry.evidence_records import indexed_contract, projected_record

router = APIRouter(prefix="/v1", tags=["evidence"])


class RenewalInfo(BaseModel):
    kind: str  # hash-tree | migration
    algorithm: str
    batch_ids: list[int]  # one per 32-byte word of the renewal tree's root
    block_number: int
    renewed_at: dt.datetime


class EvidenceStatus(BaseModel):
    """How the certificate's evidence has been renewed; the record itself is at
    GET /v1/certificates/{sha256}/evidence."""

    format: str = EVIDENCE_FORMAT
    renewals: list[RenewalInfo]
    # What the latest evidence binds the document with: sha256 (the receipt) or the
    # algorithm of the latest hash-tree renewal.
    document_algorithm: str


def evidence_status(rows: list[RenewalRow]) -> EvidenceStatus:
    renewals = [RenewalInfo(kind=r.kind, algorithm=r.algorithm, batch_ids=r.batch_ids,
                            block_number=r.block_number, renewed_at=r.renewed_at)
                for r in rows]
    return EvidenceStatus(renewals=renewals, document_algorithm=next(
        (r.algorithm for r in reversed(renewals) if r.kind == "hash-tree"), "sha256"))


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
        contract = indexed_contract(session)
        record = None if contract is None else projected_record(session, contract, digest)
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
