"""The audit trail: every state change of the registry contract (each event as emitted,
with transaction, block, log index and the account that sent it), filtered, as a JSON
page or a streamed CSV / NDJSON export of everything that matches."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from anchor.compile import load_artifact
from registry.api.deps import SessionFactoryDep
from registry.api.routes._shared import (
    CURSOR_PATTERN,
    ISSUER_DESCRIPTION,
    TEXT_PATTERN,
    IssuerRef,
    as_utc,
    check_range,
    cursor_of,
    error_responses,
    issuer_hex,
    issuer_ref,
    parse_cursor,
)
from registry.db.audit import AuditFilter, audit_events, stream_audit_events
from registry.db.models import AuditEvent

router = APIRouter(prefix="/v1", tags=["audit"])
MAX_LIMIT = 5000

# The contract's own event names: a typo in `type` is a 422, not an empty answer.
EventName = StrEnum("EventName", {item["name"]: item["name"] for item in sorted(
    (i for i in load_artifact()["abi"] if i["type"] == "event"), key=lambda i: i["name"])})


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    NDJSON = "ndjson"


CSV_COLUMNS = ("block_number", "log_index", "time", "event", "issuer_code", "issuer_id",
               "actor", "transaction_hash", "block_hash", "args")


class AuditEntry(BaseModel):
    event: str
    issuer: IssuerRef | None  # the issuer the event concerns, if any
    args: dict[str, Any]  # the event's arguments as emitted (bytes as 0x hex)
    block_number: int
    block_hash: str
    transaction_hash: str
    log_index: int
    actor: str  # the account that sent the transaction
    time: dt.datetime  # the block's timestamp
    cursor: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next: str | None  # pass as `cursor` for the next page; None when this was the last
    has_more: bool


def _entry(event: AuditEvent) -> AuditEntry:
    return AuditEntry(event=event.name,
                      issuer=None if event.issuer_id is None else issuer_ref(event.issuer_id),
                      args=event.args, block_number=event.block_number,
                      block_hash=event.block_hash, transaction_hash=event.tx_hash,
                      log_index=event.log_index, actor=event.actor, time=event.block_time,
                      cursor=cursor_of(event.block_number, event.log_index))


def _ndjson(events: Iterator[AuditEvent]) -> Iterator[str]:
    for event in events:
        yield _entry(event).model_dump_json() + "\n"


def _csv(events: Iterator[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        entry = _entry(event)
        writer.writerow((entry.block_number, entry.log_index, entry.time.isoformat(),
                         entry.event, entry.issuer.code if entry.issuer else "",
                         entry.issuer.issuer_id if entry.issuer else "", entry.actor,
                         entry.transaction_hash, entry.block_hash,
                         json.dumps(entry.args, sort_keys=True, separators=(",", ":"))))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


@router.get("/audit", response_model=AuditPage, responses={
    200: {"description": "a JSON page, or with format=csv|ndjson the whole filtered trail",
          "content": {"text/csv": {"schema": {"type": "string"}},
                      "application/x-ndjson": {"schema": {"type": "string"}}}},
    **error_responses(400, 422)})
def audit_trail(
        sessions: SessionFactoryDep,
        issuer: Annotated[str | None, Query(pattern=TEXT_PATTERN, min_length=1, max_length=80,
                                            description=ISSUER_DESCRIPTION)] = None,
        event_names: Annotated[list[EventName] | None, Query(
            alias="type",
            description="event name(s), e.g. DocumentRevoked; repeat for several")] = None,
        from_time: Annotated[dt.datetime | None, Query(
            description="ISO 8601; without an offset, UTC")] = None,
        to_time: dt.datetime | None = None,
        from_block: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
        to_block: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
        export_format: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.JSON,
        cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN,
                                            description="`next` of the previous JSON page")]
        = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="JSON page size")] = 500,
) -> Any:
    """Every indexed contract event in chain order (block, log index). JSON is paged
    (`cursor`, `limit`); CSV and NDJSON stream everything that matches."""
    check_range(from_block, to_block, "from_block/to_block")
    check_range(as_utc(from_time), as_utc(to_time), "from_time/to_time")
    audit_filter = AuditFilter(
        issuer_id=None if issuer is None else issuer_hex(issuer),
        event_names=tuple(name.value for name in event_names or ()),
        from_time=as_utc(from_time), to_time=as_utc(to_time),
        from_block=from_block, to_block=to_block)
    if export_format is ExportFormat.CSV:
        return StreamingResponse(_csv(stream_audit_events(sessions, audit_filter)),
                                 media_type="text/csv; charset=utf-8", headers={
                                     "Content-Disposition": 'attachment; filename="audit.csv"'})
    if export_format is ExportFormat.NDJSON:
        return StreamingResponse(_ndjson(stream_audit_events(sessions, audit_filter)),
                                 media_type="application/x-ndjson")
    rows = audit_events(sessions, audit_filter, after=parse_cursor(cursor), limit=limit + 1)
    items = [_entry(event) for event in rows[:limit]]
    has_more = len(rows) > limit
    return AuditPage(items=items, next=items[-1].cursor if has_more else None,
                     has_more=has_more)
