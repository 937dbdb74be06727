"""The revocation cascade, streamed from the chain projection (the alerts feed over it:
registry.db.alerts).

`affected_by` walks the citation graph from a revoked certificate breadth first and
yields each level as soon as it is found, through a streamed cursor (a server-side
cursor on PostgreSQL, SQLite's own cursor): memory does not grow with the affected set.
The walk's visited set is a temporary table on the same connection (`cascade_affected`),
not a Python set: a million 64-hex digests would be about 140 MB of Python strings.

Each level is two statements over certificate_citations alone (the citing anchoring's
facts are copied onto its rows by the indexer: `record_citing_facts`):

1. INSERT every candidate (citation into the previous level, calibrated on or after the
   effective date, not reached before) into the temporary table, unsorted and not yet
   deduplicated;
2. SELECT the level's certificates from it in the order they are yielded, (block,
   digest), keeping the first candidate of each digest in that order: one sort gives
   both the choice of each certificate's anchoring and `via`, and the order (the first
   of each taken by DISTINCT ON on PostgreSQL, by a window comparing neighbours on
   SQLite).

The last level is not written at all: when few digests are cited (read once per walk off
the citations index, skipping through its distinct values, with what those certificates
cite in turn), each level is first checked for whether any of its certificates is cited
(does the previous level hold one of the digests cited certificates cite); if not, it is
the last and its SELECT reads the candidates straight from certificate_citations
(the same statement, over the INSERT's query instead of the temporary table). At a
million instruments citing a thousand standards, writing and reading back the million
candidates was half the walk. On PostgreSQL a small visited set is read into that last
statement as values (`INLINE_VISITED`): a temporary table can only be scanned by the
session's own process, values by parallel workers too, which scan, join and sort the
million citations in two halves at once. Otherwise (many cited digests, or citations by
number, whose citers are found through the chosen anchorings' numbers) every level is
written; before the next level, a large frontier is cut down to the digests anything
cites.

Each fetch is kept as the driver's plain tuples (`AffectedRows`), an AffectedCertificate
made as each is read: a fetch's worth of namedtuples outlives young-generation garbage
collections, and their promotion makes the collector sweep the whole heap again and again.

It is derived on demand from the projection, never stored, so `certreg reindex`
reproduces it exactly: every choice is made on chain data (block numbers, batch ids,
digests), never on row ids or insertion order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from itertools import islice
from typing import Any, NamedTuple, overload

from sqlalchemy import (
    CTE,
    BigInteger,
    Boolean,
    Column,
    CompoundSelect,
    Connection,
    Date,
    FromClause,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    all_,
    bindparam,
    column,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    union_all,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.orm import Session, sessionmaker

from registry.db.models import (
    HASH_HEX,
    CertificateCitation,
    ChainDocument,
    DocumentIdentifier,
)
from registry.db.search import NUMBER
from registry.documents.citations import CitationRole

MAX_CASCADE_DEPTH = 64  # a forged manifest could make citations loop
STREAM_ROWS = 2_000  # rows per fetch from the streamed cursor
# From this many candidates a level's frontier is first cut down to the cited digests,
# when those are fewer than 1/CITED_SHARE of it (else the join is the cheaper probe).
LARGE_LEVEL = 10_000
CITED_SHARE = 16
# Up to this many distinct cited digests (and digests they cite), each level is first
# checked for being the last (an index probe per cited digest, once: a few ms for 1,000).
LEAF_CHECK_CITED = 10_000
# PostgreSQL's per-sort memory for the walk's statements: a million-row level sorts in
# memory (about 370 MB) instead of spilling to disk, which costs 0.6 s more (server
# memory, taken only as a level needs it, for this transaction only).
WORK_MEM = "512MB"
# Where each level's certificates are chosen by DISTINCT ON (block, digest): the first row
# of each straight off the sort, where the window compares every row with the one before
# it in a second pass (a tenth of the server's time at a million rows). SQLite has no
# DISTINCT ON: the window.
DISTINCT_ON_DIALECTS = frozenset({"postgresql"})
# Up to this many rows in the visited set, the last level reads the previous level and the
# digests already reached as values in its statement (the visited set's rows, unchanged),
# not from the temporary table: PostgreSQL cannot scan a session's temporary table in a
# parallel worker, and with the values it scans, joins and sorts a million citations in
# parallel workers and merges their sorted halves (the first certificate in about half
# the time on two cores). The frontier is two bind parameters per row: well under the
# protocol's 65,535.
INLINE_VISITED = 10_000
INLINED_DIALECTS = frozenset({"postgresql"})
# The planner's default cost of passing a row from a worker to the leader (0.1) keeps a
# million-row level out of parallel workers, though measured it is faster there on two
# cores (and more so on more): the cost for the inlined last level's statement.
PARALLEL_TUPLE_COST = 0.01

_TRACEABILITY_ROLES = [r.value for r in CitationRole if r.carries_traceability]


class AffectedCertificate(NamedTuple):
    """A certificate the cascade reached (a tuple: a million are made per big cascade)."""

    sha256: str
    issuer_id: str
    unique_identifier: str | None
    calibration_date: dt.date | None
    depth: int  # 1 = cites the revoked certificate directly
    via: str  # the certificate it cites on the way (64 hex)


_affected_certificate = partial(tuple.__new__, AffectedCertificate)


class AffectedRows(Sequence[AffectedCertificate]):
    """One fetch of the cascade: the driver's plain rows, each an AffectedCertificate as
    it is read. A million namedtuples held a fetch at a time are promoted by the garbage
    collector and make it sweep the whole heap again and again (half the walk's Python
    time); plain tuples of strings and dates it stops tracking, and a certificate read,
    used and dropped is freed before any collection."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> AffectedCertificate: ...

    @overload
    def __getitem__(self, index: slice) -> list[AffectedCertificate]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(map(_affected_certificate, self._rows[index]))
        return _affected_certificate(self._rows[index])

    def __iter__(self) -> Iterator[AffectedCertificate]:
        return map(_affected_certificate, self._rows)

    def plain(self) -> list[Any]:
        """The rows as the driver gave them (AffectedCertificate's fields, in order)."""
        return self._rows


def plain_rows(affected: Sequence[AffectedCertificate]) -> Sequence[Any]:
    """The certificates as plain tuples of AffectedCertificate's fields, in order."""
    return affected.plain() if isinstance(affected, AffectedRows) else affected


# The visited set: every candidate of every level (a certificate may be a candidate more
# than once in its level: through several citations, or several anchorings). PostgreSQL
# drops it with the transaction; SQLite keeps temporary tables per connection, so it is
# dropped explicitly as well (and first, should a crashed walk have left one on a pooled
# connection).
_affected = Table(
    "cascade_affected", MetaData(),
    Column("sha256", String(HASH_HEX), nullable=False),
    Column("depth", Integer, nullable=False),
    Column("via", String(HASH_HEX), nullable=False),
    Column("via_block", BigInteger),
    Column("block_number", BigInteger),  # of the candidate's anchoring
    Column("batch_id", BigInteger),
    Column("reanchored", Boolean),  # that anchoring is not its digest's first
    Column("document_id", Integer),  # that anchoring (for its certificate number)
    Column("issuer_id", String(HASH_HEX)),
    Column("unique_identifier", String(255)),
    Column("calibration_date", Date),
    prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


def affected_by(sessions: sessionmaker[Session], revoked_sha256: str,
                effective_from: dt.date, *, issuer_id: str | None = None
                ) -> Iterator[AffectedCertificate]:
    """Every certificate relying on `revoked_sha256` (by hash, or by number) through
    reference-standard citations, directly or transitively, calibrated on or after
    `effective_from`; each once, at its shortest distance, through its first anchoring
    (block, then batch) that qualifies, `via` the cited certificate anchored first (then
    the smaller digest). A certificate calibrated before that date stops the cascade:
    what was calibrated with it is sound. Ordered by depth, then block number and
    digest. With `issuer_id`, only that issuer's certificates (the walk still goes
    through everyone's).

    A generator holding one connection until it is exhausted or closed."""
    for rows in affected_batches(sessions, revoked_sha256, effective_from,
                                 issuer_id=issuer_id):
        yield from rows


def affected_batches(sessions: sessionmaker[Session], revoked_sha256: str,
                     effective_from: dt.date, *, issuer_id: str | None = None
                     ) -> Iterator[AffectedRows]:
    """`affected_by`, one list per fetch from the streamed cursor (at most
    STREAM_ROWS): what a streaming response sends before it waits for the next."""
    with sessions() as session:
        connection = session.connection()
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _affected.drop(connection, checkfirst=True)
        else:
            connection.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")
            # Compiling each statement would cost more than running the small ones.
            connection.exec_driver_sql("SET LOCAL jit = off")
        _affected.create(connection)
        if sqlite:
            # SQLite looks digests up by index; PostgreSQL hashes them (at a million
            # rows, maintaining a B-tree over random digests would double the inserts).
            connection.exec_driver_sql(f"CREATE INDEX ix_{_affected.name}_sha256 "
                                       f"ON {_affected.name} (sha256, depth)")
        try:
            yield from _walk(connection, revoked_sha256, effective_from, issuer_id)
        finally:
            if sqlite:
                _affected.drop(connection, checkfirst=True)


def _walk(connection: Connection, revoked_sha256: str, effective_from: dt.date,
          issuer_id: str | None) -> Iterator[AffectedRows]:
    first = (select(ChainDocument.id, ChainDocument.block_number, ChainDocument.batch_id)
             .where(ChainDocument.sha256 == revoked_sha256)
             .order_by(ChainDocument.block_number, ChainDocument.batch_id).limit(1))
    anchoring = connection.execute(first).first()
    connection.execute(insert(_affected).values(
        sha256=revoked_sha256, depth=0, via="", reanchored=False,
        document_id=None if anchoring is None else anchoring.id,
        block_number=None if anchoring is None else anchoring.block_number,
        batch_id=None if anchoring is None else anchoring.batch_id))
    by_number = _citations_by_number_exist(connection)
    # Whether a level is the last can be told before it is written when few digests are
    # cited at all (a million instruments citing a thousand standards): by what the cited
    # certificates cite. By number, a level's citers are found through its chosen
    # numbers: each level is written.
    targets = None if by_number else _cited_cite(connection, LEAF_CHECK_CITED)
    postgresql = connection.dialect.name == "postgresql"
    dialect = _Dialect.of(connection)
    candidates = visited = 1
    for depth in range(1, MAX_CASCADE_DEPTH + 1):
        cited_only = candidates >= LARGE_LEVEL and _few_cited(connection,
                                                              candidates // CITED_SHARE)
        if cited_only and not by_number and not connection.scalar(select(exists().where(
                _affected.c.depth == depth - 1, _affected.c.sha256.in_(_cited_digests())))):
            return  # nothing cites the last level (a million instruments: a tenth of a second)
        if postgresql and depth > 1:
            # Temporary tables get no statistics from autovacuum: without, the planner
            # takes a frontier of a thousand for a million (or the reverse), and sorts
            # every citation to join them. A few ms for a small level.
            connection.exec_driver_sql(f"ANALYZE {_affected.name}")
        if targets is not None and not _level_cited(connection, depth, targets):
            # The last level (nothing cites any of its candidates): streamed straight from
            # the citations, never written to the visited set nor read back from it.
            inlined = None
            if dialect.inlined and visited <= INLINE_VISITED:
                inlined = _InlinedVisited.read(connection, depth)
                connection.exec_driver_sql(
                    f"SET LOCAL parallel_tuple_cost = {PARALLEL_TUPLE_COST}")
            edges = _edges(depth, effective_from, by_number, cited_only, dialect, inlined)
            yield from _stream(connection, _level_rows(
                depth, dialect, issuer_id=issuer_id, level=edges.subquery))
            return
        edges = _edges(depth, effective_from, by_number, cited_only, dialect)
        inserted = connection.execute(insert(_affected).from_select(_EDGE_COLUMNS, edges),
                                      execution_options={"preserve_rowcount": True})
        candidates = inserted.rowcount
        visited += candidates
        if not candidates:
            return
        yield from _stream(connection, _level_rows(depth, dialect, issuer_id=issuer_id))


def _stream(connection: Connection, query: Select[Any]
            ) -> Iterator[AffectedRows]:
    if connection.dialect.name == "postgresql":
        yield from _stream_driver_rows(connection, query)
        return
    result = connection.execute(query, execution_options={"yield_per": STREAM_ROWS})
    try:
        for partition in result.partitions():
            yield AffectedRows(partition)
    finally:
        result.close()


def _stream_driver_rows(connection: Connection, query: Select[Any]
                        ) -> Iterator[AffectedRows]:
    """`query` streamed by psycopg, its rows taken as psycopg makes them (already the
    Python values: at a million rows SQLAlchemy's row processing would be a third of the
    walk's time). With libpq 17 or later the server sends chunks of STREAM_ROWS rows
    without waiting to be asked for each (a third faster than a server-side cursor's
    FETCH round trips; what the socket buffers bounds memory); closed early, psycopg
    cancels the query. Older libpq: a server-side cursor."""
    import psycopg

    compiled = query.compile(dialect=connection.dialect,
                             compile_kwargs={"render_postcompile": True})
    driver = connection.connection.driver_connection
    if psycopg.pq.version() >= 170000:
        with driver.cursor() as cursor:
            rows = cursor.stream(compiled.string, compiled.params, size=STREAM_ROWS)
            try:
                while batch := list(islice(rows, STREAM_ROWS)):
                    yield AffectedRows(batch)
            finally:
                rows.close()
        return
    with driver.cursor(name="cascade_level") as cursor:
        cursor.execute(compiled.string, compiled.params)
        while fetched := cursor.fetchmany(STREAM_ROWS):
            yield AffectedRows(fetched)


class _Dialect(NamedTuple):
    """How the walk's statements are written for the connection's database."""

    # Digests are ordered by their bytes (lower-case hex), whatever the database's
    # collation: C on PostgreSQL (also the fastest), SQLite's default elsewhere.
    collation: str | None
    distinct_on: bool  # each level's certificates chosen by DISTINCT ON, else a window
    inlined: bool  # a small visited set is read into the last level's statement

    @classmethod
    def of(cls, connection: Connection) -> _Dialect:
        name = connection.dialect.name
        return cls(None if name == "sqlite" else "C", name in DISTINCT_ON_DIALECTS,
                   name in INLINED_DIALECTS)

    def ordered(self, column: Any) -> Any:
        return column if self.collation is None else column.collate(self.collation)


class _InlinedVisited(NamedTuple):
    """The visited set as values of the last level's statement: the previous level's
    candidates (digest and anchoring block, every row, as the join reads them from the
    temporary table) and every digest reached so far."""

    frontier: CTE  # sha256, block_number
    reached: Any  # one array parameter: the digests, each once

    @classmethod
    def read(cls, connection: Connection, depth: int) -> _InlinedVisited:
        rows = connection.execute(select(_affected.c.sha256, _affected.c.block_number,
                                         _affected.c.depth)).all()
        frontier = [(sha256, block) for sha256, block, level in rows if level == depth - 1]
        # Written once, in a WITH clause the database copies into each of the statement's
        # references to it (NOT MATERIALIZED: a materialized one could not be read in a
        # parallel worker), not once per reference: a thousand rows of bind parameters
        # compiled four times cost 0.17 s a walk, once 0.04 s.
        rows_ = values(column("sha256", String), column("block_number", BigInteger),
                       name="frontier_rows").data(frontier)
        values_ = select(rows_).cte("cascade_frontier").prefix_with("NOT MATERIALIZED")
        reached = bindparam("cascade_reached", sorted({row.sha256 for row in rows}),
                            type_=ARRAY(String))
        return cls(values_, reached)


def _citations_by_number_exist(connection: Connection) -> bool:
    return connection.scalar(select(CertificateCitation.id).where(
        CertificateCitation.cited_sha256.is_(None),
        CertificateCitation.referral_id_key != "").limit(1)) is not None


def _cited_digests() -> Select[Any]:
    """The distinct digests citations name, skipping through the cited_sha256 index
    (one probe per distinct value, however many citations name each)."""
    citation = CertificateCitation
    start = select(func.min(citation.cited_sha256).label("sha256")).cte(
        "cited", recursive=True)
    following = (select(func.min(citation.cited_sha256))
                 .where(citation.cited_sha256 > start.c.sha256).scalar_subquery())
    cited = start.union_all(select(following).where(start.c.sha256.is_not(None)))
    return select(cited.c.sha256).where(cited.c.sha256.is_not(None))


def _cited_cite(connection: Connection, limit: int) -> list[str] | None:
    """What cited certificates cite by hash (whatever the role): a level is the last
    unless its frontier holds one of these. None when `limit` digests or more are cited,
    or cite (two index reads of at most `limit` probes, once per walk)."""
    cited = connection.scalars(_cited_digests().limit(limit)).all()
    if len(cited) >= limit:
        return None
    citation = CertificateCitation
    targets = connection.scalars(
        select(citation.cited_sha256).distinct()
        .where(citation.citing_sha256.in_(cited), citation.cited_sha256.is_not(None))
        .limit(limit)).all() if cited else []
    return list(targets) if len(targets) < limit else None


def _level_cited(connection: Connection, depth: int, targets: list[str]) -> bool:
    """Whether a certificate citing one of depth - 1 is itself cited (`targets`: what
    cited certificates cite): else the walk ends at `depth`."""
    frontier = _affected.alias("frontier")
    return bool(targets) and bool(connection.scalar(select(exists().where(
        frontier.c.depth == depth - 1, frontier.c.sha256.in_(targets)))))


def _few_cited(connection: Connection, limit: int) -> bool:
    """Fewer than `limit` distinct digests cited (counting stops there)."""
    return connection.scalar(select(func.count()).select_from(
        _cited_digests().limit(limit).subquery())) < limit


_EDGE_COLUMNS = ["sha256", "depth", "via", "via_block", "block_number", "batch_id",
                 "reanchored", "document_id", "issuer_id", "unique_identifier",
                 "calibration_date"]


def _edges(depth: int, effective_from: dt.date, by_number: bool, cited_only: bool,
           dialect: _Dialect, inlined: _InlinedVisited | None = None
           ) -> Select[Any] | CompoundSelect[Any]:
    """The candidates of `depth`: for every traceability citation of a certificate of
    depth - 1 (by its hash; or by its number, when citations by number exist) by an
    anchoring calibrated (else anchored) on or after `effective_from` whose digest was
    not reached yet, the citing anchoring's facts and the cited certificate (`via`).
    With `inlined` (by hash only), the visited set is read from it, not from the
    temporary table."""
    citation = CertificateCitation
    if inlined is None:
        frontier: Any = _affected.alias("frontier")
        seen = _affected.alias("seen")
        reached = [frontier.c.depth == depth - 1]
        if cited_only:
            reached.append(frontier.c.sha256.in_(_cited_digests()))
        not_reached = ~exists().where(seen.c.sha256 == citation.citing_sha256)
    else:
        if by_number:
            raise ValueError("citations by number read each level's numbers from the "
                             "visited set")
        # Every row of the previous level (the cited-only cut leaves the join's result
        # as it is: it only spares probes).
        frontier, reached = inlined.frontier, []
        not_reached = citation.citing_sha256 != all_(inlined.reached)

    def candidates(via: Any, via_block: Any) -> Select[Any]:
        values = (citation.citing_sha256, literal(depth, Integer), via, via_block,
                  citation.citing_block_number, citation.citing_batch_id,
                  citation.citing_reanchored, citation.document_id,
                  citation.citing_issuer_id, citation.citing_number,
                  citation.citing_calibration_date)
        # Named as the visited set's columns: a level streamed unwritten reads as one.
        return select(*(value.label(name) for value, name in zip(values, _EDGE_COLUMNS,
                                                                  strict=True)))

    # Not reached yet, by the citation's own copy of the citing digest.
    conditions = [citation.role.in_(_TRACEABILITY_ROLES),
                  citation.citing_relied_on >= effective_from, not_reached]
    edges = (candidates(frontier.c.sha256, frontier.c.block_number)
             .join(frontier, citation.cited_sha256 == frontier.c.sha256)
             .where(*reached, *conditions))
    if not by_number:
        return edges
    # By number: only the chosen anchoring of each certificate of the level gives its
    # number. Two branches, each on its own index: one OR over both columns makes
    # PostgreSQL scan the citations table.
    chosen = _level_rows(depth - 1, dialect, anchoring=True).subquery("chosen")
    return union_all(edges, candidates(chosen.c.sha256, chosen.c.block_number)
                     .select_from(chosen)
                     .join(DocumentIdentifier,
                           (DocumentIdentifier.document_id == chosen.c.document_id)
                           & (DocumentIdentifier.kind == NUMBER))
                     .join(citation, (citation.referral_id_key == DocumentIdentifier.value)
                           & citation.cited_sha256.is_(None))
                     .where(*conditions))


def _level_rows(depth: int, dialect: _Dialect, *, issuer_id: str | None = None,
               anchoring: bool = False,
               level: Callable[[str], FromClause] | None = None) -> Select[Any]:
    """The certificates of `depth` (AffectedCertificate's columns; with `anchoring`, also
    the chosen anchoring's block and document), ordered by block and digest: of each
    digest's candidates the first in (block, digest, batch, via's block, via) order. That
    is its earliest qualifying anchoring and, among the citations into the previous
    level, the one via the cited certificate anchored first: one sort chooses and
    orders (DISTINCT ON (block, digest) where the database has it, else a window
    comparing each row's digest with the previous one's). With `issuer_id`, only that
    issuer's (chosen among everyone's). `level` names a fresh copy of the candidates (the
    visited set's columns), by default those of `depth` in the visited set."""
    def written(name: str) -> FromClause:
        table = _affected.alias(f"{name}_all")
        return select(table).where(table.c.depth == depth).subquery(name)

    level = level or written
    t = level("level")
    block_digest = (t.c.block_number, dialect.ordered(t.c.sha256))
    first_of_each = (*block_digest, t.c.batch_id, t.c.via_block, t.c.via)
    # What is sorted is only what is yielded and chosen on: the depth is the level's
    # (written after the sort), the document only when its number is needed (a tenth
    # less server time at a million rows than with both in each sorted row).
    chosen = select(t.c.sha256, t.c.issuer_id, t.c.unique_identifier, t.c.calibration_date,
                    t.c.via, t.c.block_number, t.c.reanchored,
                    *([t.c.document_id] if anchoring else [])).where(t.c.depth == depth)
    if dialect.distinct_on:
        ranked = (chosen.ext(distinct_on(*block_digest)).order_by(*first_of_each)
                  .subquery("ranked"))
        first: list[Any] = []
    else:
        ranked = chosen.add_columns(func.lag(t.c.sha256).over(order_by=first_of_each)
                                    .label("previous")).subquery("ranked")
        first = [or_(ranked.c.previous.is_(None), ranked.c.previous != ranked.c.sha256)]
    r = ranked.c
    # A digest anchored more than once can be a candidate at two blocks, apart in that
    # order: only its earliest block counts. Only anchorings after a first one are
    # checked (rare), and only then is the level read again.
    again, again_later, reanchored = level("again"), level("again_later"), level("reanchored")
    first_block = (select(again.c.sha256, func.min(again.c.block_number).label("block"))
                   .where(again.c.sha256.in_(
                       select(reanchored.c.sha256).where(reanchored.c.reanchored)))
                   .group_by(again.c.sha256).subquery("first_block"))
    later = (select(first_block.c.sha256, again_later.c.block_number)
             .join(again_later, (again_later.c.sha256 == first_block.c.sha256)
                   & (again_later.c.block_number > first_block.c.block)))
    columns = [r.sha256, r.issuer_id, r.unique_identifier, r.calibration_date,
               literal(depth, Integer).label("depth"), r.via]
    if anchoring:
        columns += [r.block_number, r.document_id]
    query = (select(*columns)
             .where(*first, or_(~r.reanchored, tuple_(r.sha256, r.block_number).not_in(later)))
             .order_by(r.block_number, dialect.ordered(r.sha256)))
    return query if issuer_id is None else query.where(r.issuer_id == issuer_id)
