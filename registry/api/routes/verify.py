"""Verification: upload a document or give its SHA-256, get a verdict with its evidence.

A failed verification is a 200 with a verdict; 4xx is for malformed requests only.
By default the verdict comes from cached chain facts and the inputs the indexer keeps
current (registry.verdicts), stating the block it reflects; `fresh=true` reads every
fact from the chain and the store for this request. A verdict can change when a
revocation arrives, so it carries an ETag and `Cache-Control: no-cache`: caches may keep
it but must revalidate (If-None-Match answers 304 while the verdict is unchanged).
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import TypeAdapter

from registry.api.deps import FastVerifierDep
from registry.api.metrics import count_verdict
from registry.api.routes._shared import SHA256_PATTERN, Sha256Path
from registry.documents.signing import (
    SignatureStatus,
    SignatureVerification,
    verify_signature,
)
from registry.errors import DocumentTypeUnsupportedError, RequestInvalidError
from registry.verify import CertificateVerification

router = APIRouter(prefix="/v1", tags=["verify"])
MetrologyQuery = Annotated[bool, Query(
    description="also check traceability and accreditation scope (steps 9 and 10)")]
FreshQuery = Annotated[bool, Query(
    description="read every fact from the chain and the content store for this request "
                "instead of the cached chain facts and the indexer's precomputed inputs")]
_VERDICT_JSON = TypeAdapter(CertificateVerification)
# Excluded from the ETag: it moves with every new block while the verdict stays the same.
_VOLATILE = {"blocks_behind_head"}


def verdict_response(request: Request, result: CertificateVerification) -> Response:
    """The verdict as JSON with a weak ETag over everything but `blocks_behind_head`;
    304 when the client's If-None-Match already names it."""
    tag = 'W/"' + hashlib.sha256(_VERDICT_JSON.dump_json(
        result, exclude=_VOLATILE)).hexdigest()[:32] + '"'
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    wanted = request.headers.get("if-none-match", "")
    if tag in {t.strip() for t in wanted.split(",")} or wanted.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(_VERDICT_JSON.dump_json(result), media_type="application/json",
                    headers=headers)


@router.get("/verify/{sha256}", response_model=CertificateVerification,
            responses={304: {"description": "the verdict named by If-None-Match is current"}})
def verify_by_hash(sha256: Sha256Path, verifier: FastVerifierDep, request: Request,
                   metrology: MetrologyQuery = True, fresh: FreshQuery = False) -> Response:
    """Verify a certificate by the SHA-256 of its exact bytes."""
    verify = verifier.verify_fresh if fresh else verifier.verify
    result = verify(sha256, None, metrology=metrology)
    count_verdict(request, "hash", result.verdict.value)
    return verdict_response(request, result)


@router.post("/verify", response_model=CertificateVerification, openapi_extra={
    "requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "application/xml": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}}}}}}},
    responses={304: {"description": "the verdict named by If-None-Match is current"}})
async def verify_upload(request: Request, verifier: FastVerifierDep,
                        sha256: Annotated[str | None, Query(pattern=SHA256_PATTERN)] = None,
                        metrology: MetrologyQuery = True,
                        fresh: FreshQuery = False) -> Response:
    """Verify an uploaded certificate (raw body or multipart field `file`). With `sha256`,
    the upload must also hash to it."""
    document = await read_document(request)
    verify = verifier.verify_fresh if fresh else verifier.verify
    # Off the event loop: the signature check (and any chain call) blocks.
    result = await run_in_threadpool(verify, sha256, document,
                                     verify_signature=_signature_of, metrology=metrology)
    count_verdict(request, "upload", result.verdict.value)
    return verdict_response(request, result)


def _signature_of(document: bytes) -> SignatureVerification:
    if document.startswith(PDF_MAGIC):
        # PDF certificates are accepted by hash; their signatures are not XAdES.
        return SignatureVerification(SignatureStatus.UNSIGNED, "PDF: no XML signature", ())
    return verify_signature(document)


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
    if not (data.startswith(PDF_MAGIC) or _looks_like_xml(data)):
        raise DocumentTypeUnsupportedError(
            "the upload is neither XML nor PDF; verify other files by their SHA-256")
    return data


def _looks_like_xml(data: bytes) -> bool:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<") or head[:4] in (b"\xff\xfe<\x00", b"\xfe\xff\x00<")
