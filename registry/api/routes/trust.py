"""Metrological trust: a certificate's traceability tree, the alerts feed of certificates
a revocation compromised (the cascade), and issuers' accreditation history.

Everything is derived from the chain projection (and the accreditation documents on
IPFS it holds), so any registry indexing the same chain answers the same.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from registry.api.deps import SessionFactoryDep, TrustChecksDep
from registry.api.routes._shared import (
    CURSOR_PATTERN,
    ISSUER_DESCRIPTION,
    TEXT_PATTERN,
    Sha256Path,
    as_utc,
    error_responses,
    issuer_hex,
    parse_cursor,
    sha256_hex,
)
from registry.api.streaming import ClosingStreamingResponse
from registry.db.alerts import alert_ndjson, traceability_alerts
from registry.db.lookup import ProjectionReader
from registry.db.traceability import accreditation_history
from registry.errors import NotFoundError

router = APIRouter(prefix="/v1", tags=["trust"])
MAX_REVOCATIONS = 1000


@router.get("/certificates/{sha256}/traceability", responses=error_responses(404, 422))
def certificate_traceability(sha256: Sha256Path, trust: TrustChecksDep) -> dict[str, Any]:
    """The traceability tree: every certificate the document relies on, up to national
    metrology institutes, each link with its verdict (sound, revoked-before-use,
    anchored-after-use, compromised-at-use, unknown, external), the overall status
    (complete, broken, incomplete) and the first link that breaks or leaves it open."""
    result = trust.traceability(sha256_hex(sha256))
    if result is None:
        raise NotFoundError("no anchored certificate has this SHA-256", sha256=sha256)
    return result.to_dict()


@router.get("/alerts", response_class=StreamingResponse, responses={
    200: {"description": "one JSON object per line: an affected certificate and its cause",
          "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
    **error_responses(400, 422)})
def traceability_alerts_feed(
        sessions: SessionFactoryDep,
        issuer: Annotated[str | None, Query(
            pattern=TEXT_PATTERN, min_length=1, max_length=80,
            description=f"only certificates of this issuer; {ISSUER_DESCRIPTION}")] = None,
        since_block: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
        since_time: Annotated[dt.datetime | None, Query(
            description="ISO 8601; without an offset, UTC")] = None,
        cursor: Annotated[str | None, Query(
            pattern=CURSOR_PATTERN,
            description="`cursor` of the last line received: continue after that revocation"),
        ] = None,
        revocations: Annotated[int, Query(ge=1, le=MAX_REVOCATIONS)] = 100,
) -> StreamingResponse:
    """Certificates whose traceability was compromised by a revocation for a reason that
    affects measurements (compromised, error, out-of-tolerance), because they rely on the
    revoked certificate, directly or transitively, with a calibration on or after its
    effective date. With `issuer`, a laboratory's recall list; without, the regulator's
    feed across all issuers. NDJSON, revocations in chain order."""
    issuer_id = None if issuer is None else issuer_hex(issuer)
    alerts = traceability_alerts(sessions, issuer_id=issuer_id, since_block=since_block,
                                 since_time=as_utc(since_time), after=parse_cursor(cursor),
                                 revocations=revocations)
    # Streamed as the cascade finds them (first lines before the rest is walked), the
    # database connection closed when the response ends, the client gone or not.
    return ClosingStreamingResponse(alert_ndjson(alerts),
                                    media_type="application/x-ndjson")


@router.get("/issuers/{issuer}/accreditations", responses=error_responses(400, 404, 422))
def issuer_accreditations(
        issuer: Annotated[str, Path(pattern=TEXT_PATTERN, min_length=1, max_length=80,
                                    description=ISSUER_DESCRIPTION)],
        sessions: SessionFactoryDep) -> dict[str, Any]:
    """Every accreditation version governance recorded for the issuer, oldest first,
    with its document (body, number, validity, scope entries) as read from IPFS."""
    issuer_id = issuer_hex(issuer)
    if ProjectionReader(sessions).issuer(issuer_id) is None:
        raise NotFoundError("no issuer with this code or id is registered", issuer=issuer[:80])
    return {"issuer_id": "0x" + issuer_id, "accreditations": [
        {"version": row.version, "effective_from": row.effective_from.isoformat(),
         "document_sha256": None if row.document_sha256 is None else "0x" + row.document_sha256,
         "document_cid": row.document_cid or None, "document_status": row.document_status,
         "document": row.document, "block_number": row.block_number,
         "transaction_hash": row.tx_hash, "recorded_at": row.recorded_at.isoformat()}
        for row in accreditation_history(sessions, issuer_id)]}
