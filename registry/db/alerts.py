"""The alerts feed: for each revocation that affects measurements, in chain order, the
certificates its cascade (registry.db.cascade) compromised, streamed as NDJSON."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Generator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import issuer_name
from registry.db.cascade import AffectedCertificate, affected_batches, plain_rows
from registry.db.models import ChainDocument, ChainRevocation
from registry.db.traceability import revocation_reason
from registry.verify.traceability import MEASUREMENT_AFFECTING_REASONS


class AlertBatch(NamedTuple):
    """Certificates one revocation compromised, as one fetch of its cascade gave them."""

    revocation: ChainRevocation
    revoked_number: str | None
    affected: Sequence[AffectedCertificate]

    @property
    def cursor(self) -> str:
        return f"{self.revocation.block_number}:{self.revocation.log_index}"


def cascading_revocations(sessions: sessionmaker[Session], *, since_block: int | None,
                          since_time: dt.datetime | None, after: tuple[int, int] | None,
                          limit: int) -> Sequence[ChainRevocation]:
    """Revocations for reasons that affect measurements, in chain order after `after`."""
    reasons = sorted({r.replace("-", "_") for r in MEASUREMENT_AFFECTING_REASONS})
    query = select(ChainRevocation).where(ChainRevocation.reason.in_(reasons))
    if since_block is not None:
        query = query.where(ChainRevocation.block_number >= since_block)
    if since_time is not None:
        query = query.where(ChainRevocation.revoked_at >= since_time)
    if after is not None:
        block, log_index = after
        query = query.where(or_(ChainRevocation.block_number > block,
                                (ChainRevocation.block_number == block)
                                & (ChainRevocation.log_index > log_index)))
    with sessions() as session:
        return session.scalars(query.order_by(ChainRevocation.block_number,
                                              ChainRevocation.log_index).limit(limit)).all()


def traceability_alerts(sessions: sessionmaker[Session], *, issuer_id: str | None,
                        since_block: int | None, since_time: dt.datetime | None,
                        after: tuple[int, int] | None, revocations: int = 100
                        ) -> Generator[AlertBatch, None, None]:
    """The alerts feed: for each cascading revocation after the cursor, in chain order,
    the certificates it compromised (of `issuer_id` only, when given: a laboratory's
    recall list), in the order of `affected_by`, in batches as they are fetched: one
    revocation's cascade streamed at a time."""
    for revocation in cascading_revocations(sessions, since_block=since_block,
                                            since_time=since_time, after=after,
                                            limit=revocations):
        effective = dt.datetime.fromtimestamp(revocation.effective_from, dt.UTC).date()
        with sessions() as session:
            number = session.scalar(select(ChainDocument.unique_identifier).where(
                ChainDocument.sha256 == revocation.document_sha256)
                .order_by(ChainDocument.block_number).limit(1))
        for rows in affected_batches(sessions, revocation.document_sha256, effective,
                                     issuer_id=issuer_id):
            yield AlertBatch(revocation, number, rows)


def cause_dict(r: ChainRevocation, revoked_number: str | None) -> dict[str, Any]:
    return {"sha256": "0x" + r.document_sha256, "issuer_id": "0x" + r.issuer_id,
            "issuer": issuer_name(bytes.fromhex(r.issuer_id)),
            "certificate_number": revoked_number, "reason": revocation_reason(r.reason),
            "effective_from": dt.datetime.fromtimestamp(r.effective_from, dt.UTC).isoformat(),
            "revoked_at": r.revoked_at.isoformat(), "block_number": r.block_number,
            "transaction_hash": r.tx_hash}


def alert_ndjson(batches: Generator[AlertBatch, None, None]) -> Generator[str, None, None]:
    """The feed as NDJSON, one chunk of lines per batch: each line

        {"cursor":…,"status":"traceability-compromised","certificate":{…},"cause":{…}}

    exactly as json.dumps(…, separators=(",", ":")) writes it, but what a revocation's
    lines share (the cause, the issuers' names) is encoded once: at a million lines,
    encoding whole objects is most of the feed's time. Closing it closes `batches`."""
    quote = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str
    encode = json.JSONEncoder(separators=(",", ":")).encode
    prefix = suffix = cursor = ""
    issuers: dict[str, str] = {}  # one entry per issuer: bounded by governance
    days: dict[dt.date | None, str] = {}  # one per calibration day: a few thousand
    try:
        for batch in batches:
            if batch.cursor != cursor:
                cursor = batch.cursor
                prefix = (f'{{"cursor":{quote(cursor)},'
                          '"status":"traceability-compromised","certificate":')
                cause = encode(cause_dict(batch.revocation, batch.revoked_number))
                suffix = f',"cause":{cause}}}\n'
            lines = []
            append = lines.append
            # Unpacked, not read by attribute; digests are hex, which JSON writes as is.
            for sha256, issuer_id, number, day, depth, via in plain_rows(batch.affected):
                issuer = issuers.get(issuer_id)
                if issuer is None:
                    issuer = issuers[issuer_id] = (
                        f'"issuer_id":"0x{issuer_id}","issuer":'
                        f'{quote(issuer_name(bytes.fromhex(issuer_id)))},"certificate_number":')
                day_text = days.get(day)
                if day_text is None:
                    day_json = "null" if day is None else f'"{day.isoformat()}"'
                    day_text = days[day] = f',"calibration_date":{day_json},"depth":'
                append(f'{prefix}{{"sha256":"0x{sha256}",{issuer}'
                       f'{"null" if number is None else quote(number)}{day_text}{depth},'
                       f'"via":"0x{via}"}}{suffix}')
            if lines:
                yield "".join(lines)
    finally:
        batches.close()
