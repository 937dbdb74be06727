"""The revocations feed regulators poll: revocations in chain order (block, log index).

Poll with `cursor=<next>` from the previous answer. `next` is always set: after the last
revocation returned or, when none is left, after the last block indexed so far, so an
idle poll never re-reads what it has seen (the indexer only adds blocks after it).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from registry.api.deps import SessionFactoryDep
from registry.api.routes._shared import (
    CURSOR_PATTERN,
    ISSUER_DESCRIPTION,
    TEXT_PATTERN,
    as_utc,
    cursor_of,
    error_responses,
    issuer_hex,
    parse_cursor,
)
from registry.api.routes.certificates import RevocationInfo, revocation_info
from registry.db.lookup import ProjectionReader

router = APIRouter(prefix="/v1", tags=["revocations"])
MAX_LIMIT = 1000
# A log index no block reaches: "after every event of that block".
_END_OF_BLOCK = 999_999_999


class FeedRevocation(RevocationInfo):
    cursor: str  # the position of this revocation; pass it back to continue after it


class RevocationFeed(BaseModel):
    items: list[FeedRevocation]
    next: str  # pass as `cursor` to continue
    has_more: bool


@router.get("/revocations", response_model=RevocationFeed, responses=error_responses(400, 422))
def revocations_feed(
        sessions: SessionFactoryDep,
        since_block: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
        since_time: Annotated[dt.datetime | None, Query(
            description="ISO 8601; without an offset, UTC")] = None,
        issuer: Annotated[str | None, Query(pattern=TEXT_PATTERN, min_length=1, max_length=80,
                                            description=ISSUER_DESCRIPTION)] = None,
        cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN,
                                            description="`next` of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> RevocationFeed:
    """Revocations, oldest first, from a block, a time, or a cursor; optionally of one issuer."""
    reader = ProjectionReader(sessions)
    after = parse_cursor(cursor)
    rows = reader.revocations(since_block=since_block, since_time=as_utc(since_time),
                              issuer_id=None if issuer is None else issuer_hex(issuer),
                              after=after, limit=limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    items = [FeedRevocation(**revocation_info(r).model_dump(),
                            cursor=cursor_of(r.block_number, r.log_index)) for r in rows]
    if items:
        next_cursor = items[-1].cursor
    else:
        indexed = reader.indexed_block()
        # After everything indexed so far, never behind the cursor given.
        positions = [p for p in (after, None if indexed is None else (indexed, _END_OF_BLOCK))
                     if p is not None]
        next_cursor = cursor_of(*max(positions)) if positions else "0:0"
    return RevocationFeed(items=items, next=next_cursor, has_more=has_more)
