"""Pieces the read routes share: error and issuer models, parameter parsing, cursors."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Hashable, Iterator
from typing import Annotated, Any

from fastapi import Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from anchor.chain import issuer_id_from_name, issuer_name
from registry.errors import RequestInvalidError
from registry.response_cache import ProjectionResponses

SHA256_PATTERN = r"^(0x)?[0-9a-fA-F]{64}$"
Sha256Path = Annotated[str, Path(pattern=SHA256_PATTERN, description="SHA-256, 64 hex digits")]
# Feed cursors are "<block>:<log index>", the chain position of the last item returned.
CURSOR_PATTERN = r"^[0-9]{1,18}:[0-9]{1,9}$"
# Text parameters: anything but NUL, which PostgreSQL cannot store or compare.
TEXT_PATTERN = r"^[^\x00]*$"
ISSUER_DESCRIPTION = "issuer code (e.g. PTB) or its 0x-prefixed bytes32 id"
_ISSUER_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route may answer with."""
    return {status: {"model": ErrorBody, "description": "error with a stable code"}
            for status in statuses}


def json_response(model: BaseModel) -> Response:
    """`model` as the JSON body, serialized once: returned as a model from a route
    declaring it as response_model, FastAPI would validate it again and serialize it
    in a second thread-pool round trip, which costs a lookup as much as its queries."""
    return Response(model.model_dump_json(by_alias=True), media_type="application/json")


async def projection_json(responses: ProjectionResponses[bytes], key: Hashable,
                          body: Callable[[], BaseModel]) -> Response:
    """`body()` as JSON, kept by projection generation: served from memory on the event
    loop while this worker knows of no newer generation, else computed in the thread
    pool (it reads the database) and kept. Errors (404) are raised, never kept."""
    seen = responses.seen()
    hit = responses.get(seen, key)
    if hit is None:
        hit = await run_in_threadpool(lambda: body().model_dump_json(by_alias=True).encode())
        responses.put(seen, key, hit)
    return Response(hit, media_type="application/json")


class IssuerRef(BaseModel):
    issuer_id: str  # 0x-prefixed bytes32
    code: str  # readable code, e.g. "PTB" (hex when the id is not text)


def issuer_ref(issuer_hex: str) -> IssuerRef:
    return IssuerRef(issuer_id="0x" + issuer_hex, code=issuer_name(bytes.fromhex(issuer_hex)))


def issuer_hex(code: str) -> str:
    """The 64-hex issuer id for a code ("PTB") or an 0x-prefixed id."""
    if _ISSUER_ID.match(code):
        return code[2:].lower()
    try:
        return issuer_id_from_name(code).hex()
    except ValueError:
        raise RequestInvalidError("an issuer code is 1 to 32 bytes of UTF-8, or an "
                                  "0x-prefixed bytes32 id", issuer=code[:80]) from None


def sha256_hex(text: str) -> str:
    """Lowercase 64 hex without 0x (the path pattern has checked the shape)."""
    return text.lower().removeprefix("0x")


def hex32(value: str | None) -> str | None:
    return None if value is None else "0x" + value


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    block, log_index = cursor.split(":")
    return int(block), int(log_index)


def cursor_of(block_number: int, log_index: int) -> str:
    return f"{block_number}:{log_index}"


def utc_seconds(seconds: int) -> dt.datetime | None:
    """A contract time (unix seconds, 0 = not set) as an aware datetime."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None


def check_range(low: Any, high: Any, what: str) -> None:
    if low is not None and high is not None and low > high:
        raise RequestInvalidError(f"{what}: the start is after the end")


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A time parameter as an aware UTC datetime (a time without offset is taken as UTC)."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past year 9999 in UTC
        raise RequestInvalidError("the time is out of range") from None


def ndjson_lines(items: Iterator[dict[str, Any]]) -> Iterator[str]:
    """One compact JSON object per line, for the NDJSON feeds."""
    for item in items:
        yield json.dumps(item, separators=(",", ":")) + "\n"
