"""Issuance over HTTP, for institutes that prefer it to `certreg issue`.

POST /v1/issuance/documents runs the CLI's pipeline (registry.issuance.Issuer.run:
validate, sign, store, seal, anchor, index, receipt) for one document, synchronously:
the response carries the receipt (201) — or, when the anchoring is not confirmed yet
(CERTREG_CONFIRMATIONS > 1 on a slow chain), state `pending` (202), and the client polls
GET /v1/issuance/documents/{sha256}. We chose synchronous over accept-then-poll because
anchoring takes one block on a permissioned chain, and because a retried POST is safe:
the pipeline keys documents by the hash of the submitted bytes, so sending the same
bytes again (after a timeout or a 503) finishes that document instead of issuing it
twice.

Who may act: the bearer credential names exactly one issuer; this registry acts through
one operator key, which serves one issuer on chain. A request is served only if the two
are the same issuer (checked against the chain on every request), so a laboratory's
credential can never issue or revoke as an NMI, whatever it sends.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from anchor.chain import RevocationReason, issuer_name
from registry.api.auth import CredentialDep
from registry.api.deps import SettingsDep
from registry.api.metrics import metrics_of
from registry.api.routes._shared import SHA256_PATTERN, Sha256Path
from registry.db.credentials import Credential
from registry.documents.model import DocumentType
from registry.errors import (
    ConfigurationError,
    DocumentNotAnchoredError,
    DocumentNotFoundError,
    DocumentRejectedError,
    IssuanceBusyError,
    IssuerNotServedError,
    OperatorNotAuthorisedError,
    RequestInvalidError,
)
from registry.issuance import (
    DocumentSource,
    Issuer,
    SubmissionResult,
    SubmissionStatus,
    find_receipt,
)

router = APIRouter(prefix="/v1/issuance", tags=["issuance"])
RETRY_AFTER_BUSY_SECONDS = 5
# Responses may carry a document key: never cache them anywhere.
NO_STORE = {"Cache-Control": "no-store"}
REASONS: dict[str, RevocationReason] = {
    reason.name.lower().replace("_", "-"): reason for reason in RevocationReason}
ReasonName = Literal["unspecified", "superseded", "withdrawn", "error", "compromised",
                     "out-of-tolerance"]
assert set(ReasonName.__args__) == set(REASONS)  # type: ignore[attr-defined]


# --------------------------------------------------------------------- models


class IssuedDocumentResponse(BaseModel):
    status: Literal["accepted", "already-anchored", "already-pending"] = Field(
        description="accepted: issued by this request; already-*: these bytes (as submitted "
                    "or as signed) were issued before")
    state: Literal["anchored", "pending"]
    sha256: str = Field(description="0x SHA-256 of the signed document: what is anchored")
    cid: str
    encrypted: bool
    key: str | None = Field(default=None, description=(
        "AES-256-GCM key (base64url) of an encrypted document. Only in the response that "
        "stored it: the registry keeps it nowhere."))
    receipt: dict[str, Any] | None = Field(
        default=None, description="the anchoring receipt (anchor.receipt format)")
    warnings: list[str] = Field(default_factory=list)


class IssuedDocumentStatus(BaseModel):
    sha256: str
    state: str = Field(description="stored | batched (pending) | anchored")
    receipt: dict[str, Any] | None = None


class RevocationRequest(BaseModel):
    sha256: str = Field(pattern=SHA256_PATTERN, description="the document to revoke")
    reason: ReasonName
    replacement: str | None = Field(default=None, pattern=SHA256_PATTERN,
                                    description="SHA-256 of the document that replaces it")
    effective_from: int | None = Field(
        default=None, ge=0, lt=2**64,
        description="unix time from which its measurements are affected (not in the "
                    "future); default: now")


class RevocationResponse(BaseModel):
    sha256: str
    batch_id: int
    reason: str
    replacement: str | None
    transaction_hash: str | None = Field(description="None if it was revoked like this "
                                                     "already (an idempotent retry)")
    block_number: int | None


# ----------------------------------------------------------------------- gate


class IssuanceGate:
    """This registry's one Issuer and the rules for using it over HTTP: the credential's
    issuer must be the one its operator serves on chain, and writes are serialised (one
    at a time in this process; the Issuer's file lock keeps the CLI out meanwhile)."""

    def __init__(self, issuer: Issuer, lock_timeout_seconds: float) -> None:
        self.issuer = issuer
        self.lock_timeout_seconds = lock_timeout_seconds
        self._lock = threading.Lock()

    def check_served(self, credential: Credential) -> None:
        issuer = self.issuer
        if credential.issuer_id != issuer.issuer_hex:
            raise IssuerNotServedError(
                f"this registry issues for {issuer_name(issuer.issuer_id)}; the credential "
                f"belongs to {credential.issuer_code}")
        operator = issuer.client.account.address if issuer.client.account else ""
        if issuer.client.issuer_of_operator(operator) != issuer.issuer_id:
            # Removed (or moved) on chain since the API started: nothing would anchor.
            raise OperatorNotAuthorisedError(
                f"operator {operator} no longer serves {issuer_name(issuer.issuer_id)} "
                "on chain", operator=operator)

    @contextlib.contextmanager
    def acting_for(self, credential: Credential) -> Iterator[Issuer]:
        self.check_served(credential)
        if not self._lock.acquire(timeout=self.lock_timeout_seconds):
            raise IssuanceBusyError("issuance is busy; try again",
                                    retry_after=RETRY_AFTER_BUSY_SECONDS)
        try:
            with contextlib.ExitStack() as stack:
                try:
                    stack.enter_context(self.issuer.exclusive())
                except ConfigurationError:
                    raise IssuanceBusyError(
                        "another issuance (e.g. `certreg issue`) is running; try again",
                        retry_after=RETRY_AFTER_BUSY_SECONDS) from None
                yield self.issuer
        finally:
            self._lock.release()

    def issue(self, credential: Credential, source: DocumentSource,
              document_type: DocumentType, encrypt: bool,
              metadata: Mapping[str, object] | None) -> SubmissionResult:
        with self.acting_for(credential) as issuer:
            # A batch of one: the caller waits for its own receipt, not for others'.
            report = issuer.run([source], document_type, batch_size=1, encrypt=encrypt,
                                issuer_metadata=metadata)
        (result,) = report.submissions
        return result

    def status(self, credential: Credential, sha256: str) -> IssuedDocumentStatus:
        self.check_served(credential)
        receipt = self._own_receipt(sha256)
        if receipt is None and self._lock.acquire(blocking=False):
            # Not anchored as far as the projection knows: bring it up to the chain (only
            # if no write is running, which would do that itself) and look again.
            try:
                self.issuer.index()
            finally:
                self._lock.release()
            receipt = self._own_receipt(sha256)
        if receipt is not None:
            return IssuedDocumentStatus(sha256="0x" + sha256, state="anchored",
                                        receipt=receipt.to_dict())
        try:
            self.issuer.receipt_for(sha256)
        except DocumentNotAnchoredError as exc:
            return IssuedDocumentStatus(sha256="0x" + sha256,
                                        state=str(exc.details.get("state", "pending")))
        # Anchored, but only by another issuer: not this credential's business.
        raise DocumentNotFoundError(f"this issuer has no document 0x{sha256}", sha256=sha256)

    def _own_receipt(self, sha256: str) -> Any:
        with self.issuer.sessions() as session:
            return find_receipt(session, self.issuer.client, sha256,
                                issuer_hex=self.issuer.issuer_hex)

    def revoke(self, credential: Credential, request: RevocationRequest) -> RevocationResponse:
        with self.acting_for(credential) as issuer:
            outcome = issuer.revoke(request.sha256, REASONS[request.reason],
                                    request.replacement, request.effective_from)
        return RevocationResponse(
            sha256="0x" + outcome.document_sha256, batch_id=outcome.batch_id,
            reason=outcome.reason.name.lower().replace("_", "-"),
            replacement=None if outcome.replacement is None else "0x" + outcome.replacement,
            transaction_hash=outcome.transaction_hash, block_number=outcome.block_number)


_gate_lock = threading.Lock()


def get_issuance_gate(request: Request, settings: SettingsDep) -> IssuanceGate:
    """Built on first use: an API that only verifies needs no operator key."""
    state = request.app.state
    with _gate_lock:
        if getattr(state, "issuance_gate", None) is None:
            state.issuance_gate = IssuanceGate(Issuer.from_settings(settings),
                                               settings.issuance_lock_timeout_seconds)
    return state.issuance_gate


IssuanceGateDep = Annotated[IssuanceGate, Depends(get_issuance_gate)]


# --------------------------------------------------------------------- routes


@router.post("/documents", response_model=IssuedDocumentResponse, status_code=201,
             responses={200: {"description": "issued before (same bytes)"},
                        202: {"description": "stored and sent, anchoring not confirmed yet"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/xml": {"schema": {"type": "string"}},
                 # Typed documents: {"type": "certreg.<kind>/1", ...} (docs/data-models.md).
                 "application/json": {"schema": {"type": "object"}},
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                 "multipart/form-data": {"schema": {
                     "type": "object", "required": ["file"], "properties": {
                         "file": {"type": "string", "format": "binary"},
                         "metadata": {"type": "string", "description": (
                             "issuer metadata, a JSON object (required for types other "
                             "than dcc)")}}}}}}})
async def issue_document(
        request: Request, response: Response, credential: CredentialDep,
        gate: IssuanceGateDep,
        document_type: Annotated[DocumentType, Query()] = DocumentType.DCC,
        encrypt: Annotated[bool, Query(description="store AES-256-GCM encrypted; the key "
                                                   "is in this response only")] = False,
) -> IssuedDocumentResponse:
    """Issue one document for the credential's issuer (raw body or multipart `file`).

    Synchronous: validate, sign, store, anchor (a batch of one), index, then answer with
    the receipt (201). If the anchoring is not confirmed yet the answer is 202 with state
    `pending`: poll GET /v1/issuance/documents/{sha256}. Sending the same bytes again is
    safe (200, `already-*`): after a timeout or a 503, retry."""
    data, filename, metadata = await _read_submission(request)
    source = DocumentSource(f"api/credential-{credential.id}/{filename}", data)
    counter = metrics_of(request).issuance
    result = await run_in_threadpool(gate.issue, credential, source, document_type, encrypt,
                                     metadata)
    counter.labels(credential.issuer_code, result.status.value).inc()
    if result.status is SubmissionStatus.REJECTED:
        raise DocumentRejectedError(result.error_code or "document-invalid",
                                    result.error or "the document was rejected")
    assert result.sha256 is not None and result.cid is not None
    anchored = result.receipt is not None
    if result.status is not SubmissionStatus.ACCEPTED:
        response.status_code = 200
    elif not anchored:
        response.status_code = 202
    response.headers.update(NO_STORE)
    return IssuedDocumentResponse(
        status=result.status.value, state="anchored" if anchored else "pending",
        sha256="0x" + result.sha256, cid=result.cid, encrypted=result.encrypted,
        key=None if result.key is None else result.key.to_text(),
        receipt=None if result.receipt is None else result.receipt.to_dict(),
        warnings=list(result.warnings))


@router.get("/documents/{sha256}", response_model=IssuedDocumentStatus)
def issued_document(sha256: Sha256Path, credential: CredentialDep,
                    gate: IssuanceGateDep) -> IssuedDocumentStatus:
    """State and receipt of one of the credential's issuer's documents."""
    return gate.status(credential, sha256.lower().removeprefix("0x"))


@router.post("/revocations", response_model=RevocationResponse)
def revoke_document(revocation: RevocationRequest, request: Request,
                    credential: CredentialDep, gate: IssuanceGateDep) -> RevocationResponse:
    """Revoke one of the credential's issuer's anchored documents (irreversible)."""
    outcome = gate.revoke(credential, revocation)
    metrics_of(request).revocations.labels(credential.issuer_code).inc()
    return outcome


async def _read_submission(request: Request
                           ) -> tuple[bytes, str, Mapping[str, object] | None]:
    """Document bytes, a name for reports, and issuer metadata (multipart only)."""
    content_type = request.headers.get("content-type", "").lower()
    metadata = None
    filename = "upload"
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise RequestInvalidError("multipart upload needs a file in the field `file`")
        data = await upload.read()
        filename = (upload.filename or filename)[-200:]
        raw_metadata = form.get("metadata")
        if raw_metadata is not None:
            metadata = _metadata_object(raw_metadata)
    else:
        data = await request.body()
    if not data:
        raise RequestInvalidError("the request carries no document")
    return data, filename, metadata


def _metadata_object(raw: object) -> Mapping[str, object]:
    text = raw if isinstance(raw, str) else ""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise RequestInvalidError("`metadata` is a JSON object")
    return value
