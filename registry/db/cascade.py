"""The revocation cascade and the alerts feed, streamed from the chain projection.

`affected_by` walks the citation graph from a revoked certificate breadth first, one SQL
statement per level, and yields each level as soon as it is found, through a streamed
cursor (a server-side cursor on PostgreSQL, SQLite's own cursor): memory does not grow
with the affected set. The walk's visited set is a temporary table on the same
connection (`cascade_affected`), not a Python set: a million 64-hex digests would be
about 140 MB of Python strings, and the table also gives each level's order and the
frontier the next level joins.

It is derived on demand from the projection, never stored, so `certreg reindex`
reproduces it exactly: every choice is made on chain data (block numbers, digests),
never on row ids or insertion order.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    CompoundSelect,
    Connection,
    Date,
    Insert,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import issuer_name
from registry.db.models import (
    HASH_HEX,
    CertificateCitation,
    ChainBatch,
    ChainDocument,
    ChainRevocation,
    DocumentIdentifier,
)
from registry.db.search import NUMBER
from registry.db.traceability import revocation_reason
from registry.documents.citations import CitationRole
from registry.verify.traceability import MEASUREMENT_AFFECTING_REASONS

MAX_CASCADE_DEPTH = 64  # a forged manifest could make citations loop
STREAM_ROWS = 2_000  # rows per fetch from the streamed cursor
LARGE_LEVEL = 10_000  # citations into a level from which it is hashed, not looked up

_TRACEABILITY_ROLES = [r.value for r in CitationRole if r.carries_traceability]


@dataclass(frozen=True, slots=True)
class AffectedCertificate:
    sha256: str
    issuer_id: str
    unique_identifier: str | None
    calibration_date: dt.date | None
    depth: int  # 1 = cites the revoked certificate directly
    via: str  # the certificate it cites on the way (64 hex)


# The visited set: every certificate reached, at its shortest depth. PostgreSQL drops it
# with the transaction; SQLite keeps temporary tables per connection, so it is dropped
# explicitly as well (and first, should a crashed walk have left one on a pooled
# connection).
_affected = Table(
    "cascade_affected", MetaData(),
    Column("sha256", String(HASH_HEX), nullable=False),
    Column("depth", Integer, nullable=False),
    Column("via", String(HASH_HEX), nullable=False),
    Column("document_id", Integer),  # the anchoring chosen (for its certificate number)
    Column("block_number", BigInteger),
    Column("issuer_id", String(HASH_HEX)),
    Column("unique_identifier", String(255)),
    Column("calibration_date", Date),
    prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


def affected_by(sessions: sessionmaker[Session], revoked_sha256: str,
                effective_from: dt.date, *, issuer_id: str | None = None
                ) -> Iterator[AffectedCertificate]:
    """Every certificate relying on `revoked_sha256` (by hash, or by number) through
    reference-standard citations, directly or transitively, calibrated on or after
    `effective_from`; each once, at its shortest distance, `via` the cited certificate
    anchored first (then the smaller digest). A certificate calibrated before that date
    stops the cascade: what was calibrated with it is sound. Ordered by depth, then
    block number and digest. With `issuer_id`, only that issuer's certificates (the
    walk still goes through everyone's).

    A generator holding one connection until it is exhausted or closed."""
    for rows in affected_batches(sessions, revoked_sha256, effective_from,
                                 issuer_id=issuer_id):
        yield from rows


def affected_batches(sessions: sessionmaker[Session], revoked_sha256: str,
                     effective_from: dt.date, *, issuer_id: str | None = None
                     ) -> Iterator[list[AffectedCertificate]]:
    """`affected_by`, one list per fetch from the streamed cursor (at most
    STREAM_ROWS): what a streaming response sends before it waits for the next."""
    with sessions() as session:
        connection = session.connection()
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _affected.drop(connection, checkfirst=True)
        _affected.create(connection)
        if sqlite:
            # SQLite looks digests up by index; PostgreSQL hashes them (at a million
            # rows, maintaining a B-tree over random digests would double the inserts).
            connection.exec_driver_sql(f"CREATE UNIQUE INDEX ix_{_affected.name}_sha256 "
                                       f"ON {_affected.name} (sha256)")
        try:
            yield from _walk(connection, revoked_sha256, effective_from, issuer_id)
        finally:
            if sqlite:
                _affected.drop(connection, checkfirst=True)


def _walk(connection: Connection, revoked_sha256: str, effective_from: dt.date,
          issuer_id: str | None) -> Iterator[list[AffectedCertificate]]:
    first = (select(ChainDocument.id, ChainDocument.block_number)
             .where(ChainDocument.sha256 == revoked_sha256)
             .order_by(ChainDocument.block_number, ChainDocument.batch_id).limit(1))
    anchoring = connection.execute(first).first()
    connection.execute(insert(_affected).values(
        sha256=revoked_sha256, depth=0, via="",
        document_id=None if anchoring is None else anchoring.id,
        block_number=None if anchoring is None else anchoring.block_number))
    by_number = _citations_by_number_exist(connection)
    postgresql = connection.dialect.name == "postgresql"
    frontier = 1
    for depth in range(1, MAX_CASCADE_DEPTH + 1):
        edges = _edges(depth, by_number)
        large = frontier >= LARGE_LEVEL
        if not large:
            # How a level is best joined depends on how many citations lead into it,
            # which the planner cannot tell (a few standards are cited a thousand times
            # each, most certificates never): probe for up to LARGE_LEVEL of them by
            # index. (From a large frontier, hashing the citations is the cheaper probe:
            # the level's own query.)
            probed = connection.scalar(select(func.count()).select_from(
                edges.limit(LARGE_LEVEL).subquery()))
            if not probed:
                return
            large = probed >= LARGE_LEVEL
        if postgresql and large:
            # A large level is hashed, which needs statistics on the frontier: temporary
            # tables get none from autovacuum (without, nested loops over a million
            # rows). Without them a small level keeps its index lookups.
            connection.exec_driver_sql(f"ANALYZE {_affected.name}")
        inserted = connection.execute(_level(depth, effective_from, edges),
                                      execution_options={"preserve_rowcount": True})
        frontier = inserted.rowcount
        if not frontier:
            return
        result = connection.execute(_level_rows(depth, issuer_id),
                                    execution_options={"yield_per": STREAM_ROWS})
        try:
            for partition in result.partitions():
                yield [AffectedCertificate(*row) for row in partition]
        finally:
            result.close()


def _citations_by_number_exist(connection: Connection) -> bool:
    return connection.scalar(select(CertificateCitation.id).where(
        CertificateCitation.cited_sha256.is_(None),
        CertificateCitation.referral_id_key != "").limit(1)) is not None


def _edges(depth: int, by_number: bool) -> Select[Any] | CompoundSelect[Any]:
    """(citing document id, via, via's block) for every citation of a certificate
    reached at depth - 1 (by its hash; or by its number, when citations by number
    exist) by one not reached yet."""
    frontier = _affected.alias("frontier")
    seen = _affected.alias("seen")
    citation = CertificateCitation
    # Not reached yet, by the citation's own copy of the citing digest: the planner then
    # drops the edges into what was reached (at the last level, all of them) before it
    # looks the citing documents up.
    new = ~exists().where(seen.c.sha256 == citation.citing_sha256)
    edges = (select(citation.document_id, frontier.c.sha256.label("via"),
                    frontier.c.block_number.label("via_block"))
             .join(frontier, citation.cited_sha256 == frontier.c.sha256)
             .where(frontier.c.depth == depth - 1, citation.role.in_(_TRACEABILITY_ROLES),
                    new))
    if not by_number:
        return edges
    # Two branches, each on its own index: one OR over both columns makes PostgreSQL
    # scan the citations table.
    return union_all(edges, select(citation.document_id, frontier.c.sha256,
                                   frontier.c.block_number)
                     .join(DocumentIdentifier,
                           (DocumentIdentifier.document_id == frontier.c.document_id)
                           & (DocumentIdentifier.kind == NUMBER))
                     .join(citation, (citation.referral_id_key == DocumentIdentifier.value)
                           & citation.cited_sha256.is_(None))
                     .where(frontier.c.depth == depth - 1,
                            citation.role.in_(_TRACEABILITY_ROLES), new))


def _level(depth: int, effective_from: dt.date,
           edges: Select[Any] | CompoundSelect[Any]) -> Insert:
    """INSERT the certificates first reached at `depth`: those `edges` lead to,
    calibrated on or after `effective_from`."""
    edge = edges.subquery("edges")
    calibrated = func.coalesce(ChainDocument.calibrated_to, ChainDocument.calibrated_from,
                               ChainDocument.issued_on)
    # One row per certificate: its first anchoring, reached via the cited certificate
    # anchored first (chain data only, so a rebuilt projection chooses the same).
    rank = func.row_number().over(partition_by=ChainDocument.sha256, order_by=(
        ChainDocument.block_number, ChainDocument.batch_id, edge.c.via_block, edge.c.via)
    ).label("rank")
    candidates = (
        select(ChainDocument.sha256, edge.c.via, ChainDocument.id, ChainDocument.block_number,
               ChainDocument.issuer_id, ChainDocument.unique_identifier,
               calibrated.label("calibration_date"), rank)
        .select_from(edge)
        .join(ChainDocument, ChainDocument.id == edge.c.document_id)
        .join(ChainBatch, ChainBatch.batch_id == ChainDocument.batch_id)
        .where(or_(calibrated >= effective_from,
                   calibrated.is_(None) & (ChainBatch.anchored_at >= dt.datetime.combine(
                       effective_from, dt.time(), dt.UTC))))
        .subquery("candidates"))
    c = candidates.c
    return insert(_affected).from_select(
        ["sha256", "depth", "via", "document_id", "block_number", "issuer_id",
         "unique_identifier", "calibration_date"],
        select(c.sha256, literal(depth, Integer), c.via, c.id, c.block_number, c.issuer_id,
               c.unique_identifier, c.calibration_date).where(c.rank == 1))


def _level_rows(depth: int, issuer_id: str | None) -> Any:
    t = _affected.c
    query = (select(t.sha256, t.issuer_id, t.unique_identifier, t.calibration_date, t.depth,
                    t.via)
             .where(t.depth == depth).order_by(t.block_number, t.sha256))
    return query if issuer_id is None else query.where(t.issuer_id == issuer_id)


# ------------------------------------------------------------------ alerts feed


class AlertBatch(NamedTuple):
    """Certificates one revocation compromised, as one fetch of its cascade gave them."""

    revocation: ChainRevocation
    revoked_number: str | None
    affected: list[AffectedCertificate]

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
    try:
        for batch in batches:
            if batch.cursor != cursor:
                cursor = batch.cursor
                prefix = (f'{{"cursor":{quote(cursor)},'
                          '"status":"traceability-compromised","certificate":')
                cause = encode(cause_dict(batch.revocation, batch.revoked_number))
                suffix = f',"cause":{cause}}}\n'
            lines = []
            for a in batch.affected:
                issuer = issuers.get(a.issuer_id)
                if issuer is None:
                    issuer = issuers[a.issuer_id] = quote(
                        issuer_name(bytes.fromhex(a.issuer_id)))
                number = "null" if a.unique_identifier is None else quote(a.unique_identifier)
                day = ("null" if a.calibration_date is None
                       else f'"{a.calibration_date.isoformat()}"')
                lines.append(
                    f'{prefix}{{"sha256":{quote("0x" + a.sha256)},'
                    f'"issuer_id":{quote("0x" + a.issuer_id)},"issuer":{issuer},'
                    f'"certificate_number":{number},"calibration_date":{day},'
                    f'"depth":{a.depth},"via":{quote("0x" + a.via)}}}{suffix}')
            if lines:
                yield "".join(lines)
    finally:
        batches.close()
