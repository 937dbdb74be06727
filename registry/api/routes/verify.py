"""Verification: upload a document or give its SHA-256, get a verdict with its evidence.

A failed verification is a 200 with a verdict; 4xx is for malformed requests only.
By default the verdict comes from cached chain facts and the inputs the indexer keeps
current (registry.verdicts), stating the block it reflects; `fresh=true` reads every
fact from the chain and the store for this request. A verdict can change when a
revocation arrives, so it carries an ETag and `Cache-Control: no-cache`: caches may keep
it but must revalidate (If-None-Match answers 304 while the verdict is unchanged).
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from registry.api.deps import FastVerifierDep, TrustAnchorsDep
from registry.api.metrics import count_verdict
from registry.api.routes._shared import SHA256_PATTERN, Sha256Path
from registry.documents.json_documents import looks_like_json
from registry.documents.signer_trust import TrustAnchors
from registry.documents.signing import (
    SignatureStatus,
    SignatureVerification,
    verify_signature,
)
from registry.errors import DocumentTypeUnsupportedError, RequestInvalidError
from registry.verdicts import FastVerifier, NeedsThread, RenderedVerdict, render_verdict
from registry.verify import CertificateVerification

router = APIRouter(prefix="/v1", tags=["verify"])
MetrologyQuery = Annotated[bool, Query(
    description="also check traceability and accreditation scope (steps 10 and 11)")]
FreshQuery = Annotated[bool, Query(
    description="read every fact from the chain and the content store for this request "
                "instead of the cached chain facts and the indexer's precomputed inputs")]


def verdict_response(request: Request, rendered: RenderedVerdict, as_of_block: int | None,
                     blocks_behind_head: int | None) -> Response:
    """The verdict with its ETag (over everything but when it was taken) and no-cache;
    304 when the client's If-None-Match already names it."""
    headers = {"ETag": rendered.etag, "Cache-Control": "no-cache"}
    wanted = request.headers.get("if-none-match")
    if wanted is not None and (wanted.strip() == "*" or rendered.etag in
                               {tag.strip() for tag in wanted.split(",")}):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body(as_of_block, blocks_behind_head),
                    media_type="application/json", headers=headers)


def _response(request: Request, result: CertificateVerification) -> Response:
    return verdict_response(request, render_verdict(result), result.as_of_block,
                            result.blocks_behind_head)


async def _rendered(verifier: FastVerifier, sha256: str | None, document: bytes | None,
                    metrology: bool, anchors: TrustAnchors | None
                    ) -> tuple[RenderedVerdict, int | None, int | None]:
    """The verdict kept for the projection generation this worker was last told of, on
    the event loop (a lookup in memory); anything else (the one SELECT, chain reads, a
    signature check) in the thread pool, so the loop never waits on the database."""
    try:
        hit = verifier.render_cached(sha256, document=document, metrology=metrology)
    except NeedsThread:
        hit = None
    if hit is not None:
        return hit
    if document is None:
        assert sha256 is not None
        return await run_in_threadpool(verifier.render, sha256, metrology=metrology)
    return await run_in_threadpool(verifier.render_upload, sha256, document,
                                   verify_signature=partial(_signature_of, anchors=anchors),
                                   metrology=metrology)


async def _fresh(verifier: FastVerifier, sha256: str | None, document: bytes | None,
                 metrology: bool, anchors: TrustAnchors | None = None
                 ) -> CertificateVerification:
    signature = None if document is None else partial(_signature_of, anchors=anchors)
    return await run_in_threadpool(verifier.verify_fresh, sha256, document,
                                   verify_signature=signature, metrology=metrology)


@router.get("/verify/{sha256}", response_model=CertificateVerification,
            responses={304: {"description": "the verdict named by If-None-Match is current"}})
async def verify_by_hash(sha256: Sha256Path, verifier: FastVerifierDep, request: Request,
                         metrology: MetrologyQuery = True,
                         fresh: FreshQuery = False) -> Response:
    """Verify a certificate by the SHA-256 of its exact bytes."""
    if fresh:
        result = await _fresh(verifier, sha256, None, metrology)
        count_verdict(request, "hash", result.verdict.value)
        return _response(request, result)
    rendered, as_of, behind = await _rendered(verifier, sha256, None, metrology, None)
    count_verdict(request, "hash", rendered.verdict)
    return verdict_response(request, rendered, as_of, behind)


@router.post("/verify", response_model=CertificateVerification, openapi_extra={
    "requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "application/xml": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "object"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}}}}}}},
    responses={304: {"description": "the verdict named by If-None-Match is current"}})
async def verify_upload(request: Request, verifier: FastVerifierDep, anchors: TrustAnchorsDep,
                        sha256: Annotated[str | None, Query(pattern=SHA256_PATTERN)] = None,
                        metrology: MetrologyQuery = True,
                        fresh: FreshQuery = False) -> Response:
    """Verify an uploaded certificate (raw body or multipart field `file`). With `sha256`,
    the upload must also hash to it."""
    document = await read_document(request)
    if fresh:
        result = await _fresh(verifier, sha256, document, metrology, anchors)
        count_verdict(request, "upload", result.verdict.value)
        return _response(request, result)
    rendered, as_of, behind = await _rendered(verifier, sha256, document, metrology, anchors)
    count_verdict(request, "upload", rendered.verdict)
    return verdict_response(request, rendered, as_of, behind)


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
