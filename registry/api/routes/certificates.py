"""Certificate lookup: by SHA-256, CID or issuer + certificate number; the document itself,
its receipt and its history. Everything comes from the chain projection; the document
bytes from the content store, which checks them against their CID.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from anchor.cid import Cid
from anchor.encryption import DocumentKey, decrypt_document
from anchor.errors import ContentIntegrityError
from registry.api.deps import (
    ContentStoreDep,
    ProjectionResponsesDep,
    RegistryClientDep,
    SessionFactoryDep,
)
from registry.api.routes._shared import (
    ISSUER_DESCRIPTION,
    TEXT_PATTERN,
    IssuerRef,
    Sha256Path,
    error_responses,
    hex32,
    issuer_hex,
    issuer_ref,
    json_response,
    projection_json,
    sha256_hex,
    utc_seconds,
)
from registry.api.routes.evidence import EvidenceStatus, evidence_status
from registry.db.lookup import Anchoring, CertificateRecord, ProjectionReader
from registry.db.models import ChainRevocation
from registry.documents.ucum import dsi_to_ucum, metadata_units
from registry.errors import DocumentKeyRequiredError, NotFoundError
from registry.evidence_records import indexed_record
from registry.receipts import build_receipt

router = APIRouter(prefix="/v1", tags=["certificates"])
DOCUMENT_MEDIA_TYPES = ("application/xml", "application/pdf", "application/octet-stream")


class AnchoringInfo(BaseModel):
    batch_id: int
    issuer: IssuerRef
    merkle_root: str
    manifest_cid: str
    transaction_hash: str
    block_number: int
    block_hash: str
    log_index: int
    anchored_at: dt.datetime
    operator: str


class RevocationInfo(BaseModel):
    document_sha256: str
    issuer: IssuerRef
    batch_id: int
    reason: str
    replacement: str | None
    effective_from: dt.datetime | None
    operator: str
    transaction_hash: str
    block_number: int
    block_hash: str
    log_index: int
    revoked_at: dt.datetime


class IssuerSummary(IssuerRef):
    country: str | None
    kind: str | None
    status: str | None


class UnitNotations(BaseModel):
    dsi: str
    ucum: str | None
    no_ucum_reason: str | None


class Certificate(BaseModel):
    sha256: str
    cid: str
    document_type: str
    encrypted: bool
    unique_identifier: str | None
    # Public metadata as issued (None for encrypted documents: theirs is confidential).
    metadata: dict[str, Any] | None
    # The distinct units of the metadata's quantities, in D-SI and in UCUM (null with
    # the reason when UCUM has no equivalent).
    units: list[UnitNotations] = []
    issuer: IssuerSummary
    anchoring: AnchoringInfo  # the earliest; the one receipts and verification use
    anchorings: list[AnchoringInfo]
    revoked: bool
    revocation: RevocationInfo | None
    superseded_by: list[str]
    supersedes: list[str]
    # Renewals of its evidence record (GET /v1/certificates/{sha256}/evidence); None when
    # it was never renewed (the receipt is its whole evidence).
    evidence: EvidenceStatus | None = None


class CertificateList(BaseModel):
    items: list[Certificate]


class ReceiptBody(BaseModel):
    """certreg-receipt/1: verifiable with only an Ethereum RPC endpoint."""

    format: str
    document_sha256: str
    cid: str
    encrypted: bool
    issuer_id: str
    batch_id: int
    merkle_root: str
    leaf_encoding: str
    proof: list[str]
    manifest_cid: str
    chain_id: int
    contract_address: str
    transaction_hash: str
    block_number: int
    block_hash: str
    anchored_at: int
    anchored_at_iso: str


class HistoryEvent(BaseModel):
    event: Literal["anchored", "revoked", "supersedes"]
    block_number: int
    log_index: int
    transaction_hash: str
    time: dt.datetime
    issuer: IssuerRef
    batch_id: int
    reason: str | None = None
    # revoked: the replacement (if any); supersedes: the document this one replaced.
    related_sha256: str | None = None


class CertificateHistory(BaseModel):
    sha256: str
    events: list[HistoryEvent]
    superseded_by: list[str]
    supersedes: list[str]


def anchoring_info(anchoring: Anchoring) -> AnchoringInfo:
    batch = anchoring.batch
    return AnchoringInfo(
        batch_id=batch.batch_id, issuer=issuer_ref(batch.issuer_id),
        merkle_root="0x" + batch.root, manifest_cid=batch.manifest_cid,
        transaction_hash=batch.tx_hash, block_number=batch.block_number,
        block_hash=batch.block_hash, log_index=batch.log_index, anchored_at=batch.anchored_at,
        operator=batch.operator)


def revocation_info(row: ChainRevocation) -> RevocationInfo:
    return RevocationInfo(
        document_sha256="0x" + row.document_sha256, issuer=issuer_ref(row.issuer_id),
        batch_id=row.batch_id, reason=row.reason.replace("_", "-"),
        replacement=hex32(row.replacement), effective_from=utc_seconds(row.effective_from),
        operator=row.operator, transaction_hash=row.tx_hash, block_number=row.block_number,
        block_hash=row.block_hash, log_index=row.log_index, revoked_at=row.revoked_at)


def _certificate(reader: ProjectionReader, record: CertificateRecord) -> Certificate:
    first = record.anchorings[0]
    document = first.document
    issuer = record.issuer
    # Only a revocation by an issuer that anchored the document counts against it.
    anchoring_issuers = {a.batch.issuer_id for a in record.anchorings}
    revocations = [r for r in record.revocations if r.issuer_id in anchoring_issuers]
    return Certificate(
        sha256="0x" + record.sha256, cid=document.cid, document_type=document.document_type,
        encrypted=document.encrypted, unique_identifier=document.unique_identifier,
        metadata=document.public_metadata,
        units=[UnitNotations(**dsi_to_ucum(unit).to_dict())
               for unit in metadata_units(document.public_metadata)],
        issuer=IssuerSummary(**issuer_ref(document.issuer_id).model_dump(),
                             country=issuer.country if issuer else None,
                             kind=issuer.kind if issuer else None,
                             status=issuer.status if issuer else None),
        anchoring=anchoring_info(first),
        anchorings=[anchoring_info(a) for a in record.anchorings],
        revoked=bool(revocations),
        revocation=revocation_info(revocations[0]) if revocations else None,
        superseded_by=[f"0x{r.replacement}" for r in record.superseded_by],
        supersedes=[f"0x{r.document_sha256}" for r in record.supersedes],
        evidence=evidence_status(reader.sessions, record.sha256))


def _record(reader: ProjectionReader, sha256: str) -> CertificateRecord:
    record = reader.certificate(sha256)
    if record is None:
        raise NotFoundError(f"no anchored certificate 0x{sha256} is known to this registry",
                            sha256=sha256)
    return record


@router.get("/certificates", response_model=CertificateList,
            responses=error_responses(400, 404, 422))
def certificates_by_number(
        sessions: SessionFactoryDep,
        issuer: Annotated[str, Query(pattern=TEXT_PATTERN, min_length=1, max_length=80,
                                     description=ISSUER_DESCRIPTION)],
        number: Annotated[str, Query(pattern=TEXT_PATTERN, min_length=1, max_length=255,
                                     description="certificate number (DCC uniqueIdentifier)")],
) -> Response:
    """Certificates an issuer anchored under a certificate number (case-insensitive). A
    corrected certificate often keeps its number: all of them, earliest first."""
    reader = ProjectionReader(sessions)
    sha256s = reader.sha256s_by_number(issuer_hex(issuer), number)
    if not sha256s:
        raise NotFoundError(f"issuer {issuer} has no public certificate numbered {number!r}")
    return json_response(CertificateList(
        items=[_certificate(reader, _record(reader, s)) for s in sha256s]))


@router.get("/certificates/by-cid/{cid}", response_model=Certificate,
            responses=error_responses(404, 422))
def certificate_by_cid(
        cid: Annotated[str, Path(pattern=TEXT_PATTERN, min_length=1, max_length=128)],
        sessions: SessionFactoryDep) -> Response:
    """A certificate by the CID of its stored bytes (of the envelope, if encrypted)."""
    reader = ProjectionReader(sessions)
    sha256 = reader.sha256_of_cid(cid)
    if sha256 is None:
        raise NotFoundError(f"no anchored certificate is stored as {cid}")
    return json_response(_certificate(reader, _record(reader, sha256)))


@router.get("/certificates/{sha256}", response_model=Certificate,
            responses=error_responses(404, 422))
async def certificate(sha256: Sha256Path, sessions: SessionFactoryDep,
                      responses: ProjectionResponsesDep) -> Response:
    """Public metadata, issuer, batch, anchoring transaction and revocation of a certificate."""
    digest = sha256_hex(sha256)
    reader = ProjectionReader(sessions)
    return await projection_json(responses, ("certificate", digest),
                                 lambda: _certificate(reader, _record(reader, digest)))


@router.get("/certificates/{sha256}/document", response_class=Response,
            responses={200: {"description": "the certificate's exact anchored bytes",
                             "content": {media: {"schema": {"type": "string",
                                                            "format": "binary"}}
                                         for media in DOCUMENT_MEDIA_TYPES}},
                       **error_responses(403, 404, 422, 502, 503)})
def certificate_document(
        sha256: Sha256Path, sessions: SessionFactoryDep, store: ContentStoreDep,
        document_key: Annotated[str | None, Header(
            alias="X-Document-Key", max_length=256,
            description="the document key (base64url) of an encrypted certificate")] = None,
) -> Response:
    """The certificate's bytes from the content store. Encrypted certificates need their
    key in `X-Document-Key`; the server keeps no keys."""
    digest = sha256_hex(sha256)
    anchoring = ProjectionReader(sessions).anchoring(digest)
    if anchoring is None:
        raise NotFoundError(f"no anchored certificate 0x{digest} is known to this registry")
    document = anchoring.document
    if document.encrypted and document_key is None:
        raise DocumentKeyRequiredError("this certificate is stored encrypted: send its key "
                                       "in the X-Document-Key header")
    data = store.get(Cid.parse(document.cid))  # the store re-derives the CID from the bytes
    if document.encrypted:
        assert document_key is not None
        data = decrypt_document(data, DocumentKey.from_text(document_key))
    if hashlib.sha256(data).hexdigest() != digest:
        # The CID matched, but the bytes are not the anchored document: never serve them.
        raise ContentIntegrityError("the stored document does not hash to the anchored "
                                    "SHA-256", sha256=digest)
    return Response(data, media_type=_media_type(data), headers={
        "Content-Disposition": f'attachment; filename="{digest}{_suffix(data)}"',
        "X-Document-SHA256": "0x" + digest})


def _media_type(data: bytes) -> str:
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "application/xml" if head.startswith(b"<") else "application/octet-stream"


def _suffix(data: bytes) -> str:
    return {"application/pdf": ".pdf", "application/xml": ".xml"}.get(_media_type(data), "")


@router.get("/certificates/{sha256}/receipt", response_model=ReceiptBody,
            responses=error_responses(404, 422))
def certificate_receipt(sha256: Sha256Path, sessions: SessionFactoryDep,
                        client: RegistryClientDep) -> dict[str, Any]:
    """The anchoring receipt (certreg-receipt/1) of the certificate's earliest anchoring."""
    digest = sha256_hex(sha256)
    anchoring = ProjectionReader(sessions).anchoring(digest)
    if anchoring is None:
        raise NotFoundError(f"no anchored certificate 0x{digest} is known to this registry")
    if anchoring.document.anchored_hash is not None:
        # Migrated here: its receipt is the original one, which its evidence record
        # (GET .../evidence) carries on to this contract.
        with sessions() as session:
            record = indexed_record(session, digest)
        if record is not None:
            return record.receipt.to_dict()
    return build_receipt(client, anchoring.document, anchoring.batch).to_dict()


@router.get("/certificates/{sha256}/history", response_model=CertificateHistory,
            responses=error_responses(404, 422))
def certificate_history(sha256: Sha256Path, sessions: SessionFactoryDep) -> CertificateHistory:
    """What happened to a certificate, in chain order: anchorings, revocations, and the
    replacement links both ways (superseded by / supersedes)."""
    record = _record(ProjectionReader(sessions), sha256_hex(sha256))
    events = [HistoryEvent(event="anchored", block_number=a.batch.block_number,
                           log_index=a.batch.log_index, transaction_hash=a.batch.tx_hash,
                           time=a.batch.anchored_at, issuer=issuer_ref(a.batch.issuer_id),
                           batch_id=a.batch.batch_id) for a in record.anchorings]
    events += [HistoryEvent(event="revoked", block_number=r.block_number,
                            log_index=r.log_index, transaction_hash=r.tx_hash,
                            time=r.revoked_at, issuer=issuer_ref(r.issuer_id),
                            batch_id=r.batch_id, reason=r.reason.replace("_", "-"),
                            related_sha256=hex32(r.replacement)) for r in record.revocations]
    events += [HistoryEvent(event="supersedes", block_number=r.block_number,
                            log_index=r.log_index, transaction_hash=r.tx_hash,
                            time=r.revoked_at, issuer=issuer_ref(r.issuer_id),
                            batch_id=r.batch_id, reason=r.reason.replace("_", "-"),
                            related_sha256="0x" + r.document_sha256)
               for r in record.supersedes]
    events.sort(key=lambda e: (e.block_number, e.log_index, e.event))
    return CertificateHistory(
        sha256="0x" + record.sha256, events=events,
        superseded_by=[f"0x{r.replacement}" for r in record.superseded_by],
        supersedes=[f"0x{r.document_sha256}" for r in record.supersedes])
