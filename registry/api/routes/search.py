"""Search (FAIR findability) over the public metadata of anchored certificates.

Identifiers match whole values, ignoring case and repeated whitespace; date ranges are
inclusive; calibration periods match when they overlap the range. Encrypted certificates
have no public metadata and are never returned.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from registry.api.deps import ProjectionResponsesDep, SessionFactoryDep
from registry.api.routes._shared import (
    ISSUER_DESCRIPTION,
    TEXT_PATTERN,
    IssuerRef,
    check_range,
    error_responses,
    issuer_hex,
    issuer_ref,
    projection_json,
)
from registry.db.search import SearchCriteria, SearchHit, search

router = APIRouter(prefix="/v1", tags=["search"])
MAX_PAGE_SIZE = 100
Identifier = Annotated[str | None, Query(pattern=TEXT_PATTERN, min_length=1, max_length=255)]


class SearchResult(BaseModel):
    sha256: str
    cid: str
    document_type: str
    unique_identifier: str | None
    issuer: IssuerRef
    batch_id: int
    block_number: int
    transaction_hash: str
    anchored_at: dt.datetime
    issued_on: dt.date | None
    calibrated_from: dt.date | None
    calibrated_to: dt.date | None
    revoked: bool


class SearchResults(BaseModel):
    total: int  # matches over all pages
    page: int
    page_size: int
    items: list[SearchResult]


def _result(hit: SearchHit) -> SearchResult:
    document, batch = hit.document, hit.batch
    return SearchResult(
        sha256="0x" + document.sha256, cid=document.cid, document_type=document.document_type,
        unique_identifier=document.unique_identifier, issuer=issuer_ref(document.issuer_id),
        batch_id=batch.batch_id, block_number=batch.block_number,
        transaction_hash=batch.tx_hash, anchored_at=batch.anchored_at,
        issued_on=document.issued_on, calibrated_from=document.calibrated_from,
        calibrated_to=document.calibrated_to, revoked=hit.revoked)


@router.get("/search", response_model=SearchResults, responses=error_responses(400, 422))
async def search_certificates(
        sessions: SessionFactoryDep, responses: ProjectionResponsesDep,
        serial: Annotated[Identifier, Query(description="serial number of a calibrated item")]
        = None,
        identification: Annotated[Identifier, Query(
            description="any identification of the certificate or an item")] = None,
        manufacturer: Identifier = None,
        model: Identifier = None,
        issuer: Annotated[str | None, Query(pattern=TEXT_PATTERN, min_length=1, max_length=80,
                                            description=ISSUER_DESCRIPTION)] = None,
        number: Annotated[Identifier, Query(description="certificate number")] = None,
        approval_number: Annotated[Identifier, Query(
            description="type-approval number (verification certificates, type approvals "
                        "and descriptions)")] = None,
        classifier_code: Annotated[Identifier, Query(
            description="MI classifier code (verifications, types, group cards)")] = None,
        document_type: Annotated[str | None, Query(
            alias="type", pattern=TEXT_PATTERN, min_length=1, max_length=40,
            description="document type, e.g. dcc, verification-certificate")] = None,
        issued_from: dt.date | None = None,
        issued_to: dt.date | None = None,
        calibrated_from: dt.date | None = None,
        calibrated_to: dt.date | None = None,
        unit: Annotated[str | None, Query(
            pattern=TEXT_PATTERN, min_length=1, max_length=255,
            description="a unit the certificate's quantities use, in D-SI "
                        "(\\kilo\\pascal) or UCUM (kPa): either finds both")] = None,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> Response:
    """Find certificates by what their public metadata says; newest anchoring first."""
    check_range(issued_from, issued_to, "issued_from/issued_to")
    check_range(calibrated_from, calibrated_to, "calibrated_from/calibrated_to")
    criteria = SearchCriteria(
        serial=serial, identification=identification, manufacturer=manufacturer, model=model,
        number=number, approval_number=approval_number, classifier_code=classifier_code,
        issuer_id=None if issuer is None else issuer_hex(issuer),
        document_type=document_type, issued_from=issued_from, issued_to=issued_to,
        calibrated_from=calibrated_from, calibrated_to=calibrated_to, unit=unit)

    def results() -> SearchResults:
        found = search(sessions, criteria, page=page, page_size=page_size)
        return SearchResults(total=found.total, page=page, page_size=page_size,
                             items=[_result(hit) for hit in found.hits])

    return await projection_json(responses, ("search", criteria, page, page_size), results)
