"""Instruments: everything the network's anchored documents say about one measuring
instrument, across issuers and kinds, its status now, search, and the instrument-level
alerts (registry.db.instruments; identity rules in docs/instrument-identity.md).

`GET /v1/instruments/alerts` is its own NDJSON feed rather than new lines in
`GET /v1/alerts`: clients of that feed read every line as an affected certificate,
and an instrument is not one. Its lines carry `"kind": "instrument"`, and the generator
behind it (`instrument_alerts`) can be chained after the certificate alerts by a
combined feed without changing the lines of either.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from registry.api.deps import SessionFactoryDep
from registry.api.routes._shared import (
    CURSOR_PATTERN,
    TEXT_PATTERN,
    error_responses,
    ndjson_lines,
    parse_cursor,
)
from registry.api.streaming import ClosingStreamingResponse
from registry.db.instruments import (
    InstrumentCriteria,
    instrument_alerts,
    instrument_history,
    search_instruments,
)
from registry.documents.instruments import InstrumentId
from registry.errors import InstrumentIdInvalidError, NotFoundError, RequestInvalidError

router = APIRouter(prefix="/v1/instruments", tags=["instruments"])
MAX_RESULTS = 100
MAX_REVOCATIONS = 1000
Identifier = Annotated[str | None, Query(pattern=TEXT_PATTERN, min_length=1, max_length=255)]


@router.get("", responses=error_responses(400, 422))
def find_instruments(
        sessions: SessionFactoryDep,
        serial: Identifier = None,
        manufacturer: Identifier = None,
        model: Annotated[Identifier, Query(
            alias="type", description="model or type designation")] = None,
        approval_number: Identifier = None,
        classifier_code: Identifier = None,
        limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 20,
) -> dict[str, Any]:
    """Instruments any anchored document states, matching every criterion given (values
    compared as identity keys: case, whitespace and punctuation ignored)."""
    criteria = InstrumentCriteria(serial=serial, manufacturer=manufacturer, model=model,
                                  approval_number=approval_number,
                                  classifier_code=classifier_code)
    if not criteria.conditions():
        raise RequestInvalidError(
            "give at least one of serial, manufacturer, type, approval_number, "
            "classifier_code", parameters=["serial", "manufacturer", "type",
                                           "approval_number", "classifier_code"])
    found = search_instruments(sessions, criteria, limit=limit)
    return {"items": [summary.to_dict() for summary in found]}


@router.get("/alerts", response_class=StreamingResponse, responses={
    200: {"description": "one JSON object per line: an affected instrument and its cause",
          "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
    **error_responses(400, 422)})
def instrument_alerts_feed(
        sessions: SessionFactoryDep,
        cursor: Annotated[str | None, Query(
            pattern=CURSOR_PATTERN,
            description="`cursor` of the last line received: continue after that revocation"),
        ] = None,
        revocations: Annotated[int, Query(ge=1, le=MAX_REVOCATIONS)] = 100,
) -> StreamingResponse:
    """Instruments a revocation affects, revocations in chain order: every instrument of a
    withdrawn type approval (`type-approval-withdrawn`), the instrument of a revoked
    verification or calibration, and every instrument whose verification or calibration
    relies on a reference standard revoked for a reason that affects measurements
    (`reference-standard-revoked`, the cascade)."""
    alerts = instrument_alerts(sessions, after=parse_cursor(cursor), revocations=revocations)
    # The cascade behind it holds a database connection: closed even if the client goes.
    return ClosingStreamingResponse(ndjson_lines(alert.to_dict() for alert in alerts),
                                    media_type="application/x-ndjson")


@router.get("/{instrument_id}", responses=error_responses(404, 422))
def instrument(
        instrument_id: Annotated[str, Path(
            pattern=TEXT_PATTERN, min_length=1, max_length=800,
            description="mi:<manufacturer>:<model>:<serial> or ta:<approval>:<serial>")],
        sessions: SessionFactoryDep,
        on: Annotated[dt.date | None, Query(description="status on this day (default today, "
                                                          "UTC)")] = None,
) -> dict[str, Any]:
    """Everything known about one instrument across issuers and kinds, in time order (type
    approvals, verifications, calibrations, with their revocations), and its status with
    the evidence for it."""
    if InstrumentId.parse(instrument_id) is None:
        raise InstrumentIdInvalidError(
            "not an instrument id: mi:<manufacturer>:<model>:<serial> or ta:<approval "
            "number>:<serial>, each part lowercase letters and digits",
            instrument_id=instrument_id[:80])
    history = instrument_history(sessions, instrument_id, on or dt.datetime.now(dt.UTC).date())
    if history is None:
        raise NotFoundError("no anchored document states this instrument",
                            instrument_id=instrument_id[:80])
    return history.to_dict()
