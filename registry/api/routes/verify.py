"""Verification: upload a document or give its SHA-256, get a verdict with its evidence.

A failed verification is a 200 with a verdict; 4xx is for malformed requests only.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from registry.api.deps import ChainViewDep, IndexViewDep, TrustAnchorsDep, TrustChecksDep
from registry.api.metrics import count_verdict
from registry.api.routes._shared import SHA256_PATTERN, Sha256Path
from registry.documents.json_documents import looks_like_json
from registry.documents.signer_trust import TrustAnchors
from registry.documents.signing import (
    SignatureStatus,
    SignatureVerification,
    verify_signature,
)
from registry.documents.validate import dcc_document_warnings
from registry.errors import DocumentTypeUnsupportedError, RequestInvalidError
from registry.verify import CertificateVerification, verify_certificate

router = APIRouter(prefix="/v1", tags=["verify"])
MetrologyQuery = Annotated[bool, Query(
    description="also check traceability and accreditation scope (steps 10 and 11)")]


@router.get("/verify/{sha256}", response_model=CertificateVerification)
def verify_by_hash(sha256: Sha256Path, index: IndexViewDep, chain: ChainViewDep,
                   trust: TrustChecksDep, request: Request,
                   metrology: MetrologyQuery = True) -> CertificateVerification:
    """Verify a certificate by the SHA-256 of its exact bytes."""
    result = verify_certificate(sha256, None, index=index, chain=chain,
                                trust=trust if metrology else None)
    count_verdict(request, "hash", result.verdict.value)
    return result


@router.post("/verify", response_model=CertificateVerification, openapi_extra={
    "requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "application/xml": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "object"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}}}}}}})
async def verify_upload(request: Request, index: IndexViewDep, chain: ChainViewDep,
                        trust: TrustChecksDep, anchors: TrustAnchorsDep,
                        sha256: Annotated[str | None, Query(pattern=SHA256_PATTERN)] = None,
                        metrology: MetrologyQuery = True) -> CertificateVerification:
    """Verify an uploaded certificate (raw body or multipart field `file`). With `sha256`,
    the upload must also hash to it."""
    document = await read_document(request)
    # Off the event loop: the chain calls and the signature check block.
    result = await run_in_threadpool(verify_certificate, sha256, document, index=index,
                                     chain=chain,
                                     verify_signature=partial(_signature_of, anchors=anchors),
                                     trust=trust if metrology else None,
                                     document_warnings=dcc_document_warnings)
    count_verdict(request, "upload", result.verdict.value)
    return result


def _signature_of(document: bytes, anchors: TrustAnchors | None) -> SignatureVerification:
    if document.startswith(PDF_MAGIC):
        # PDF certificates are accepted by hash; their signatures are not XAdES.
        return SignatureVerification(SignatureStatus.UNSIGNED, "PDF: no XML signature", ())
    if looks_like_json(document):
        # Typed JSON documents (certreg.<kind>/1) rest on their anchored hash alone.
        return SignatureVerification(SignatureStatus.UNSIGNED, "JSON: no XML signature", ())
    return verify_signature(document, anchors=anchors)


PDF_MAGIC = b"%PDF-"
_MULTIPART = re.compile(r"^multipart/form-data\b", re.IGNORECASE)


async def read_document(request: Request) -> bytes:
    """The uploaded document's bytes, from a raw body or a multipart `file` field."""
    content_type = request.headers.get("content-type", "")
    if _MULTIPART.match(content_type):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise RequestInvalidError("multipart upload needs a file in the field `file`")
        data = await upload.read()
    else:
        data = await request.body()
    if not data:
        raise RequestInvalidError("the request carries no document")
    if not (data.startswith(PDF_MAGIC) or _looks_like_xml(data) or looks_like_json(data)):
        raise DocumentTypeUnsupportedError(
            "the upload is neither XML, JSON nor PDF; verify other files by their SHA-256")
    return data


def _looks_like_xml(data: bytes) -> bool:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<") or head[:4] in (b"\xff\xfe<\x00", b"\xfe\xff\x00<")
