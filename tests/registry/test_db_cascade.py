"""registry.db.cascade on the test database (SQLite, or PostgreSQL when
CERTREG_TEST_DATABASE=postgresql): the streamed cascade against a plain-Python walk of
random citation graphs, PostgreSQL's DISTINCT ON choice of a level against the window
(on PostgreSQL whatever the suite's database), the alerts feed after a rebuilt
projection, streaming (the first certificates before the next level is even queried)
and the feed's connection released when a client goes away.

The graphs are projection rows as the indexer writes them (batches, documents, the
certificate-number identifiers, citations), inserted directly: what is tested is the
walk over them, whatever put them there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import delete, event, insert
from sqlalchemy.orm import Session, sessionmaker

from registry.api.app import create_app
from registry.db import ChainBatch, ChainDocument, DocumentIdentifier, open_database
from registry.db import cascade as cascade_module
from registry.db.alerts import alert_ndjson, traceability_alerts
from registry.db.cascade import (
    LARGE_LEVEL,
    MAX_CASCADE_DEPTH,
    STREAM_ROWS,
    AffectedCertificate,
    affected_by,
)
from registry.db.models import CertificateCitation, ChainRevocation
from registry.db.search import NUMBER, normalise
from registry.db.traceability import record_citing_facts
from registry.documents.citations import CitationRole
from registry.settings import load_settings
from tests.registry.conftest import TEST_DATABASE

EFFECTIVE = dt.date(2025, 3, 1)
MIDNIGHT = dt.time()


def _sha(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def _issuer(n: int) -> str:
    return _sha("issuer", n)


@dataclass
class Anchoring:
    """One chain_documents row: a certificate as one batch anchored it."""

    sha256: str
    batch_id: int
    block_number: int
    anchored_at: dt.datetime  # naive UTC
    issuer_id: str
    number: str
    calibrated: dt.date | None


@dataclass
class Cites:
    citing: str  # sha256
    cited_sha256: str | None  # None: by number only
    number: str  # the number written in the citation
    role: CitationRole = CitationRole.MEASURING_EQUIPMENT


@dataclass
class Graph:
    anchorings: list[Anchoring] = field(default_factory=list)
    citations: list[Cites] = field(default_factory=list)

    def add(self, name: str, block: int, calibrated: dt.date | None, issuer: int = 0,
            number: str | None = None, anchored: dt.date | None = None,
            batch: int | None = None) -> str:
        sha = _sha(name)
        anchored_day = anchored or (calibrated or EFFECTIVE) + dt.timedelta(days=1)
        self.anchorings.append(Anchoring(
            sha, batch if batch is not None else 10_000 + len(self.anchorings), block,
            dt.datetime.combine(anchored_day, MIDNIGHT) + dt.timedelta(seconds=block),
            _issuer(issuer), number or name.upper(), calibrated))
        return sha

    def cite(self, citing: str, cited: str, *, by_number: bool = False,
             role: CitationRole = CitationRole.MEASURING_EQUIPMENT) -> None:
        number = next(a.number for a in self.anchorings if a.sha256 == cited)
        self.citations.append(Cites(citing, None if by_number else cited, number, role))


def write(sessions: sessionmaker[Session], graph: Graph, *, shuffle: random.Random | None = None,
          first_id: int = 1) -> None:
    """The graph's projection rows, in an order and with ids of our choosing (a rebuilt
    projection has other ids and another physical order)."""
    anchorings = list(graph.anchorings)
    if shuffle is not None:
        shuffle.shuffle(anchorings)
    ids = {}
    batches = {}
    for offset, a in enumerate(anchorings):
        ids.setdefault(a.sha256, []).append(first_id + offset)
        batches[a.batch_id] = a
    with sessions() as session, session.begin():
        session.execute(insert(ChainBatch), [
            {"batch_id": b.batch_id, "issuer_id": b.issuer_id, "root": _sha("root", b.batch_id),
             "count": 1, "manifest_cid": "bafy", "manifest_status": "ok",
             "operator": "0x" + "00" * 20, "block_number": b.block_number,
             "block_hash": "0x" + _sha("block", b.block_number),
             "tx_hash": "0x" + _sha("tx", b.batch_id), "log_index": 0,
             "anchored_at": b.anchored_at.replace(tzinfo=dt.UTC)}
            for b in batches.values()])
        session.execute(insert(ChainDocument), [
            {"id": first_id + offset, "sha256": a.sha256, "batch_id": a.batch_id,
             "issuer_id": a.issuer_id, "cid": "bafy" + a.sha256[:20], "document_type": "dcc",
             "unique_identifier": a.number, "public_metadata": None, "encrypted": False,
             "proof": [], "block_number": a.block_number, "issued_on": None,
             "calibrated_from": a.calibrated, "calibrated_to": a.calibrated}
            for offset, a in enumerate(anchorings)])
        session.execute(insert(DocumentIdentifier), [
            {"document_id": first_id + offset, "kind": NUMBER, "value": normalise(a.number)}
            for offset, a in enumerate(anchorings)])
        citations = list(graph.citations)
        if shuffle is not None:
            shuffle.shuffle(citations)
        rows = [{"document_id": document_id, "citing_sha256": c.citing, "position": 0,
                 "role": c.role.value, "referral": "reference standard",
                 "referral_id": c.number, "referral_id_key": normalise(c.number),
                 "procedure": "" if c.cited_sha256 is None else "SHA-256",
                 "value": c.cited_sha256 or "", "cited_sha256": c.cited_sha256}
                for c in citations for document_id in ids[c.citing]]
        if rows:
            session.execute(insert(CertificateCitation), rows)
            record_citing_facts(session)  # as the indexer does for each batch


def clear(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        for model in (CertificateCitation, DocumentIdentifier, ChainDocument, ChainBatch):
            session.execute(delete(model))


def reference_walk(graph: Graph, revoked: str, effective: dt.date
                   ) -> list[AffectedCertificate]:
    """The rules of registry.db.cascade.affected_by, walked in plain Python: breadth
    first, each certificate once at its shortest depth, through its first anchoring that
    was calibrated (or, undated, anchored) on or after `effective`, via the cited one
    anchored first; by hash, or by number for citations naming no hash."""
    def key(a: Anchoring) -> tuple[int, int]:
        return a.block_number, a.batch_id

    def usable(a: Anchoring) -> bool:
        return (a.calibrated >= effective if a.calibrated is not None
                else a.anchored_at.date() >= effective)

    by_sha: dict[str, list[Anchoring]] = {}
    for a in graph.anchorings:
        by_sha.setdefault(a.sha256, []).append(a)
    chosen: dict[str, Anchoring | None] = {
        revoked: min(by_sha.get(revoked, []), key=key, default=None)}
    found: list[AffectedCertificate] = []
    frontier = [revoked]
    by_hash: dict[str, list[Cites]] = {}
    by_number: dict[str, list[Cites]] = {}
    for c in graph.citations:
        if c.role.carries_traceability:
            if c.cited_sha256 is not None:
                by_hash.setdefault(c.cited_sha256, []).append(c)
            else:
                by_number.setdefault(normalise(c.number), []).append(c)
    for depth in range(1, MAX_CASCADE_DEPTH + 1):
        candidates: dict[str, tuple[tuple, Anchoring, str]] = {}
        for parent in frontier:
            anchoring = chosen[parent]
            citing = by_hash.get(parent, []) + (
                [] if anchoring is None else by_number.get(normalise(anchoring.number), []))
            for c in citing:
                if c.citing in chosen:
                    continue
                via_block = None if anchoring is None else anchoring.block_number
                for a in by_sha[c.citing]:
                    if usable(a):
                        rank = (*key(a), via_block if via_block is not None else -1, parent)
                        if c.citing not in candidates or rank < candidates[c.citing][0]:
                            candidates[c.citing] = (rank, a, parent)
        if not candidates:
            break
        level = sorted(candidates.items(), key=lambda item: (item[1][1].block_number,
                                                             item[0]))
        for sha, (_, a, via) in level:
            chosen[sha] = a
            found.append(AffectedCertificate(sha, a.issuer_id, a.number, a.calibrated,
                                             depth, via))
        frontier = [sha for sha, _ in level]
    return found


def random_graph(rng: random.Random, size: int, *, by_number: float = 0.15
                 ) -> tuple[Graph, str]:
    """Certificates citing earlier ones (several parents, shortcuts past a level, by
    number (a `by_number` share of citations), through a previous report, a loop a forged
    manifest could make), calibrated on both sides of EFFECTIVE or undated, some anchored
    twice."""
    graph = Graph()
    shas: list[str] = []
    for i in range(size):
        day = EFFECTIVE + dt.timedelta(days=rng.randint(-20, 60))
        calibrated = None if rng.random() < 0.1 else day
        block = 100 + i if rng.random() < 0.8 else 100 + rng.randint(0, size)
        # A number shared by two certificates (a correction) now and then.
        number = f"N-{rng.randrange(size)}" if rng.random() < 0.1 else None
        if rng.random() < 0.05:  # what JSON must escape
            number = f'Kal "Ω" \\ {i}\t'
        issuer = rng.randrange(3)
        sha = graph.add(f"doc-{i}", block, calibrated, issuer=issuer, number=number,
                        anchored=day + dt.timedelta(days=rng.randint(-3, 3)))
        if rng.random() < 0.05:  # anchored again, in a later batch
            graph.add(f"doc-{i}", block + rng.randint(0, 5), calibrated, issuer=issuer,
                      number=number, batch=50_000 + i, anchored=day + dt.timedelta(days=5))
        for parent in rng.sample(shas, k=min(len(shas), rng.choice([0, 1, 1, 1, 2, 3]))):
            graph.cite(sha, parent, by_number=rng.random() < by_number,
                       role=rng.choice([CitationRole.MEASURING_EQUIPMENT] * 6
                                       + [CitationRole.INFLUENCE_CONDITION,
                                          CitationRole.PREVIOUS_REPORT]))
        shas.append(sha)
    for _ in range(3):  # loops: an early certificate citing a later one
        early, late = sorted(rng.sample(range(size), 2))
        graph.cite(shas[early], shas[late])
    return graph, shas[0]


@pytest.fixture
def sessions(tmp_path: Path, request: pytest.FixtureRequest
             ) -> Iterator[sessionmaker[Session]]:
    url = (request.getfixturevalue("postgres_database_url") if TEST_DATABASE == "postgresql"
           else f"sqlite:///{tmp_path / 'cascade.db'}")
    factory = open_database(url)
    yield factory
    factory.kw["bind"].dispose()


def _cascade(sessions: sessionmaker[Session], revoked: str,
             effective: dt.date = EFFECTIVE) -> list[AffectedCertificate]:
    return list(affected_by(sessions, revoked, effective))


@pytest.mark.parametrize("seed", range(6))
def test_cascade_matches_a_plain_walk_of_random_graphs(sessions: sessionmaker[Session],
                                                       seed: int) -> None:
    rng = random.Random(seed)
    graph, root = random_graph(rng, 120)
    write(sessions, graph)
    revoked = [root, *rng.sample(sorted({a.sha256 for a in graph.anchorings}), 4)]
    # Revoked (and superseded) certificates on the way change nothing: the walk follows
    # citations, whatever became of the certificates it goes through.
    for block, sha in enumerate(revoked[1:3], start=20_000):
        _revoke(sessions, sha, block)
    for sha in revoked:
        for effective in (EFFECTIVE, EFFECTIVE + dt.timedelta(days=20)):
            expected = reference_walk(graph, sha, effective)
            assert _cascade(sessions, sha, effective) == expected
    # Some revocation reaches something, and deeper than one level.
    assert max(len(reference_walk(graph, sha, EFFECTIVE)) for sha in revoked) > 5


def _both_ways(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
               revoked: str, effective: dt.date, issuer_id: str | None = None
               ) -> list[AffectedCertificate]:
    """The cascade with its last level streamed unwritten, checked against the walk that
    writes every level to the visited set (what it did before: too many cited digests
    to check each level for the last)."""
    streamed = list(affected_by(sessions, revoked, effective, issuer_id=issuer_id))
    with monkeypatch.context() as patched:
        patched.setattr(cascade_module, "LEAF_CHECK_CITED", 0)
        written = list(affected_by(sessions, revoked, effective, issuer_id=issuer_id))
    assert streamed == written
    return streamed


def _tricky_last_level(graph: Graph) -> str:
    """A revoked standard whose citers (the last level: nothing cites them) meet every
    case the choice of each certificate's row has to get right."""
    later = EFFECTIVE + dt.timedelta(days=5)
    nmi = graph.add("t-nmi", 1, EFFECTIVE)
    a = graph.add("t-standard-a", 7, later)  # anchored after b
    b = graph.add("t-standard-b", 4, later)
    c = graph.add("t-standard-c", 4, later, issuer=1)  # same block as b
    for standard in (a, b, c):
        graph.cite(standard, nmi)
    graph.cite(nmi, c)  # a loop back to the revoked certificate
    # Reached by two paths: via b and c (same block: the smaller digest), via a and b.
    two = graph.add("t-two-paths", 20, later)
    for cited in (a, b, c):
        graph.cite(two, cited)
    # Anchored twice in one block (two batches) and again later: the first batch counts.
    for batch in (900, 901):
        graph.add("t-twice", 22, later, issuer=2, batch=batch)
    graph.add("t-twice", 30, later, issuer=2, batch=902)
    graph.cite(_sha("t-twice"), a)
    # First anchoring calibrated before the effective date, the next after: the next.
    graph.add("t-recalibrated", 21, EFFECTIVE - dt.timedelta(days=3))
    graph.add("t-recalibrated", 25, later, batch=903)
    graph.cite(_sha("t-recalibrated"), b)
    # Calibrated before: the citation is cut; undated, anchored after: it counts.
    graph.cite(graph.add("t-before", 23, EFFECTIVE - dt.timedelta(days=1)), a)
    graph.cite(graph.add("t-undated", 24, None, anchored=later), c)
    # Cites a standard and the revoked certificate itself: depth 1, not 2.
    shortcut = graph.add("t-shortcut", 26, later, issuer=1)
    graph.cite(shortcut, nmi)
    graph.cite(shortcut, a)
    # Previous report only: no traceability.
    graph.cite(graph.add("t-history", 27, later), b, role=CitationRole.PREVIOUS_REPORT)
    return nmi


def test_cascade_last_level_streamed_unwritten_is_the_written_walk(
        sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    """Differential: the last level read straight from the citations gives what writing
    it gave (the same certificates, order, depth, `via` and chosen anchoring), on
    graphs without citations by number (with them, every level is written)."""
    graph = Graph()
    nmi = _tricky_last_level(graph)
    write(sessions, graph)
    _revoke(sessions, _sha("t-standard-b"), 20_000)  # revoked on the way: no matter
    found = _both_ways(sessions, monkeypatch, nmi, EFFECTIVE)
    assert found == reference_walk(graph, nmi, EFFECTIVE)
    by_sha = {x.sha256: x for x in found}
    assert (by_sha[_sha("t-two-paths")].depth, by_sha[_sha("t-two-paths")].via) == (
        2, min(_sha("t-standard-b"), _sha("t-standard-c")))
    assert by_sha[_sha("t-twice")].issuer_id == _issuer(2) and by_sha[_sha("t-shortcut")].depth == 1
    assert by_sha[_sha("t-recalibrated")].calibration_date > EFFECTIVE
    assert _sha("t-undated") in by_sha and _sha("t-before") not in by_sha
    for issuer in range(3):
        assert _both_ways(sessions, monkeypatch, nmi, EFFECTIVE, _issuer(issuer)) == [
            x for x in found if x.issuer_id == _issuer(issuer)]
    for revoked in (_sha("t-standard-a"), _sha("t-standard-c")):  # the last level at once
        for effective in (EFFECTIVE, EFFECTIVE + dt.timedelta(days=5)):
            assert _both_ways(sessions, monkeypatch, revoked, effective) == reference_walk(
                graph, revoked, effective)
    for seed in range(4):
        clear(sessions)
        rng = random.Random(100 + seed)
        graph, root = random_graph(rng, 150, by_number=0)
        write(sessions, graph, shuffle=rng, first_id=1 + 1000 * seed)
        revoked = [root, *rng.sample(sorted({a.sha256 for a in graph.anchorings}), 5)]
        for sha in revoked:
            for effective in (EFFECTIVE, EFFECTIVE + dt.timedelta(days=20)):
                assert _both_ways(sessions, monkeypatch, sha, effective) == reference_walk(
                    graph, sha, effective)
    # The alerts feed from a rebuilt projection (other ids, another physical order).
    _revoke(sessions, root, 10_000)
    feed = _feed(sessions)
    assert len(feed) > 10
    clear(sessions)
    write(sessions, graph, shuffle=random.Random(9), first_id=200_000)
    assert _feed(sessions) == feed


@pytest.fixture
def pg_sessions(postgres_database_url: str) -> Iterator[sessionmaker[Session]]:
    """On PostgreSQL whatever the suite's database: DISTINCT ON is PostgreSQL's."""
    factory = open_database(postgres_database_url)
    yield factory
    factory.kw["bind"].dispose()


def _crowded(graph: Graph, blocks: int) -> Graph:
    """`graph` anchored in `blocks` blocks only: ties in block everywhere (a level's
    certificates, the cited certificates a certificate is reached through, a digest's
    anchorings)."""
    for a in graph.anchorings:
        a.block_number = 100 + a.block_number % blocks
    return graph


def test_cascade_distinct_on_is_the_window_on_postgresql(
        pg_sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    """Differential: each level's certificates chosen by DISTINCT ON (PostgreSQL) are
    exactly those the window (SQLite's, PostgreSQL's before) chooses: the same
    certificates in the same order, with the same depth, `via` and anchoring (its
    number is what citations by number of the next level are matched on), every level
    written or the last streamed, for everyone or one issuer."""
    queries: list[str] = []
    stream = cascade_module._stream_driver_rows

    def recorded(connection: Any, query: Any) -> Any:
        queries.append(str(query.compile(dialect=connection.dialect)))
        return stream(connection, query)

    monkeypatch.setattr(cascade_module, "_stream_driver_rows", recorded)

    inlined_walks = 0

    def both(revoked: str, effective: dt.date, issuer_id: str | None = None
             ) -> list[AffectedCertificate]:
        nonlocal inlined_walks
        walks = {}
        for form, dialects in (("distinct on", frozenset({"postgresql"})),
                               ("window", frozenset())):
            for leaf_check in (cascade_module.LEAF_CHECK_CITED, 0):
                for inline in (cascade_module.INLINE_VISITED, 0):
                    with monkeypatch.context() as patched:
                        patched.setattr(cascade_module, "DISTINCT_ON_DIALECTS", dialects)
                        patched.setattr(cascade_module, "LEAF_CHECK_CITED", leaf_check)
                        patched.setattr(cascade_module, "INLINE_VISITED", inline)
                        queries.clear()
                        walks[form, leaf_check, inline] = list(affected_by(
                            pg_sessions, revoked, effective, issuer_id=issuer_id))
                        # Each walk did choose its levels the way it was meant to.
                        assert all(("DISTINCT ON" in q) == (form == "distinct on")
                                   and ("lag(" in q) == (form == "window") for q in queries)
                        inlined = ["cascade_frontier" in q for q in queries]
                        assert not any(inlined[:-1]) and (inline or not any(inlined))
                        inlined_walks += any(inlined)
        first = next(iter(walks.values()))
        assert all(walk == first for walk in walks.values()), revoked
        return first

    # A last level (nothing cites it) whose certificate cites two of the level before:
    # reached via the one anchored first, though its digest is the larger, whether the
    # visited set is read from the temporary table or from the statement's values.
    graph = Graph()
    later = EFFECTIVE + dt.timedelta(days=5)
    nmi = graph.add("v-nmi", 1, EFFECTIVE)
    first_name, second_name = sorted(("v-standard-1", "v-standard-2"), key=_sha, reverse=True)
    first, second = graph.add(first_name, 3, later), graph.add(second_name, 9, later)
    for standard in (first, second):
        graph.cite(standard, nmi)
    both_standards = graph.add("v-both", 20, later)
    for standard in (second, first):
        graph.cite(both_standards, standard)
        graph.cite(graph.add(f"v-one-{standard[:6]}", 20, later, issuer=1), standard)
    write(pg_sessions, graph)
    found = both(nmi, EFFECTIVE)
    assert found == reference_walk(graph, nmi, EFFECTIVE) and inlined_walks
    assert [x.via for x in found if x.sha256 == both_standards] == [first]
    clear(pg_sessions)
    inlined_walks = 0

    graph = Graph()
    nmi = _tricky_last_level(graph)
    write(pg_sessions, graph)
    found = both(nmi, EFFECTIVE)
    assert found == reference_walk(graph, nmi, EFFECTIVE) and len(found) > 5
    for issuer in range(3):
        assert both(nmi, EFFECTIVE, _issuer(issuer)) == [
            x for x in found if x.issuer_id == _issuer(issuer)]
    for revoked in (_sha("t-standard-a"), _sha("t-standard-c")):
        for effective in (EFFECTIVE, EFFECTIVE + dt.timedelta(days=5)):
            assert both(revoked, effective) == reference_walk(graph, revoked, effective)
    # A digest anchored in two batches of one block, told apart (as the chain would not)
    # by calibration date and number: the first batch is chosen, and only its number is
    # followed (the citation by number names the other's).
    later = EFFECTIVE + dt.timedelta(days=5)
    for batch, days in ((905, 2), (904, 1)):
        graph.add("t-batches", 40, later + dt.timedelta(days=days), number=f"TB-{batch}",
                  batch=batch)
    graph.cite(_sha("t-batches"), _sha("t-standard-b"))
    graph.cite(graph.add("t-by-number", 41, later), _sha("t-batches"), by_number=True)
    clear(pg_sessions)
    write(pg_sessions, graph)
    found = both(nmi, EFFECTIVE)
    assert found == reference_walk(graph, nmi, EFFECTIVE)
    assert [x.unique_identifier for x in found if x.sha256 == _sha("t-batches")] == ["TB-904"]
    assert _sha("t-by-number") not in {x.sha256 for x in found}
    # The last level read the visited set from its statement's values (where no
    # citation by number made every level go through the temporary table).
    assert inlined_walks
    deepest = 0
    for seed, by_number in ((0, 0.0), (1, 0.15), (2, 0.3)):
        clear(pg_sessions)
        rng = random.Random(300 + seed)
        graph, root = random_graph(rng, 150, by_number=by_number)
        _crowded(graph, blocks=6)
        write(pg_sessions, graph, shuffle=rng, first_id=1 + 1000 * seed)
        revoked = [root, *rng.sample(sorted({a.sha256 for a in graph.anchorings}), 4)]
        for sha in revoked:
            for effective in (EFFECTIVE, EFFECTIVE + dt.timedelta(days=20)):
                found = both(sha, effective)
                assert found == reference_walk(graph, sha, effective)
                deepest = max(deepest, max((x.depth for x in found), default=0))
                if len(found) > 20:  # six blocks: ties in block at every level
                    assert both(sha, effective, _issuer(1)) == [
                        x for x in found if x.issuer_id == _issuer(1)]
    assert deepest > 2


def test_cascade_each_once_at_its_shortest_depth_via_the_first_anchored(
        sessions: sessionmaker[Session]) -> None:
    graph = Graph()
    nmi = graph.add("nmi", 1, EFFECTIVE)
    later = EFFECTIVE + dt.timedelta(days=10)
    a = graph.add("standard-a", 5, later)
    b = graph.add("standard-b", 3, later)
    both = graph.add("cites-both", 9, later)  # depth 2 via b (anchored first), once
    shortcut = graph.add("shortcut", 8, later)  # cites the NMI and a: depth 1
    old = graph.add("old", 7, EFFECTIVE - dt.timedelta(days=1))  # calibrated before
    behind_old = graph.add("behind-old", 10, later)
    history = graph.add("history", 11, later)  # previous report: no traceability
    for citing, cited in ((a, nmi), (b, nmi), (both, a), (both, b), (shortcut, nmi),
                          (shortcut, a), (old, nmi), (behind_old, old), (nmi, both)):
        graph.cite(citing, cited)
    graph.cite(history, nmi, role=CitationRole.PREVIOUS_REPORT)
    write(sessions, graph)
    found = _cascade(sessions, nmi)
    assert [(x.sha256, x.depth, x.via) for x in found] == [
        (b, 1, nmi), (a, 1, nmi), (shortcut, 1, nmi), (both, 2, b)]
    assert found == reference_walk(graph, nmi, EFFECTIVE)
    assert found[0] == AffectedCertificate(b, _issuer(0), "STANDARD-B", later, 1, nmi)
    # A laboratory's recall list: the walk goes through everyone's certificates.
    graph2 = Graph()
    root = graph2.add("root", 1, EFFECTIVE)
    mid = graph2.add("mid", 2, EFFECTIVE, issuer=1)
    leaf = graph2.add("leaf", 3, EFFECTIVE, issuer=2)
    graph2.cite(mid, root)
    graph2.cite(leaf, mid)
    clear(sessions)
    write(sessions, graph2)
    assert [x.sha256 for x in affected_by(sessions, root, EFFECTIVE,
                                          issuer_id=_issuer(2))] == [leaf]


def _feed(sessions: sessionmaker[Session], after: tuple[int, int] | None = None
          ) -> list[dict[str, Any]]:
    batches = traceability_alerts(sessions, issuer_id=None, since_block=None,
                                  since_time=None, after=after)
    lines = "".join(alert_ndjson(batches)).splitlines()
    alerts = [json.loads(line) for line in lines]
    # Written as json.dumps writes the object, though built from pre-encoded parts.
    assert lines == [json.dumps(a, separators=(",", ":")) for a in alerts]
    return alerts


def _revoke(sessions: sessionmaker[Session], sha: str, block: int) -> None:
    with sessions() as session, session.begin():
        session.execute(insert(ChainRevocation), [{
            "issuer_id": _issuer(0), "document_sha256": sha, "batch_id": 1,
            "reason": "out_of_tolerance", "replacement": None,
            "effective_from": int(dt.datetime.combine(EFFECTIVE, MIDNIGHT,
                                                      dt.UTC).timestamp()),
            "operator": "0x" + "00" * 20, "block_number": block,
            "block_hash": "0x" + _sha("rb", block), "tx_hash": "0x" + _sha("rt", block),
            "log_index": 0, "revoked_at": dt.datetime(2025, 6, 1, tzinfo=dt.UTC)}])


def test_alerts_feed_is_the_same_from_a_rebuilt_projection(
        sessions: sessionmaker[Session]) -> None:
    rng = random.Random(7)
    graph, root = random_graph(rng, 150)
    write(sessions, graph)
    other = rng.choice(sorted({c.citing for c in graph.citations}))
    _revoke(sessions, root, 10_000)
    _revoke(sessions, other, 10_001)
    feed = _feed(sessions)
    assert len(feed) > 10 and {line["cause"]["sha256"] for line in feed} >= {"0x" + root}
    assert any("Ω" in (line["certificate"]["certificate_number"] or "") for line in feed)
    # Rebuilt: other ids, rows written in another order (as `certreg reindex` would,
    # from the same chain).
    clear(sessions)
    write(sessions, graph, shuffle=random.Random(8), first_id=100_000)
    assert _feed(sessions) == feed
    # The cursor continues after the first revocation.
    assert _feed(sessions, after=(10_000, 0)) == [
        line for line in feed if line["cursor"] == "10001:0"]
    first = feed[0]
    number = next(a.number for a in graph.anchorings if a.sha256 == root)
    assert first["status"] == "traceability-compromised" and first["cursor"] == "10000:0"
    assert first["cause"] | {"revoked_at": None} == {
        "sha256": "0x" + root, "issuer_id": "0x" + _issuer(0), "issuer": first["cause"][
            "issuer"], "certificate_number": number, "reason": "out-of-tolerance",
        "effective_from": "2025-03-01T00:00:00+00:00", "revoked_at": None,
        "block_number": 10_000, "transaction_hash": "0x" + _sha("rt", 10_000)}


def _wide_graph(sessions: sessionmaker[Session], standards: int, instruments: int
                ) -> tuple[Graph, str]:
    graph = Graph()
    nmi = graph.add("nmi", 1, EFFECTIVE)
    for j in range(standards):
        standard = graph.add(f"standard-{j}", 2 + j, EFFECTIVE)
        graph.cite(standard, nmi)
        for k in range(instruments):
            instrument = graph.add(f"instrument-{j}-{k}", 100 + j * instruments + k,
                                   EFFECTIVE)
            graph.cite(instrument, standard)
    write(sessions, graph)
    return graph, nmi


@pytest.mark.parametrize("written", [False, True])
def test_cascade_streams_a_level_before_querying_the_next(
        sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, written: bool
) -> None:
    # A second level past LARGE_LEVEL citations: planned to be hashed, streamed the same.
    instruments = LARGE_LEVEL // 2 + 500
    graph, nmi = _wide_graph(sessions, 2, instruments)
    if written:  # as when too many digests are cited to check each level for the last
        monkeypatch.setattr(cascade_module, "LEAF_CHECK_CITED", 0)
    statements: list[str] = []
    engine = sessions.kw["bind"]

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    def levels_inserted() -> int:
        # (After a large level, the INSERT starts with the cited digests' WITH clause.)
        return sum("INSERT INTO cascade_affected" in s for s in statements)

    event.listen(engine, "before_cursor_execute", record)
    try:
        cascade = affected_by(sessions, nmi, EFFECTIVE)
        first = next(cascade)
        assert first.depth == 1
        assert levels_inserted() == 2  # the revoked certificate, then level 1 only
        second = next(cascade)
        assert second.depth == 1
        second_level = next(cascade)
        assert second_level.depth == 2
        rest = list(cascade)
        assert len(rest) == 2 * instruments - 1  # 2 standards, then the instruments
        cited_reads = sum(s.lstrip().startswith("WITH RECURSIVE cited") and "INSERT" not in s
                          for s in statements)
        if written:
            # Every level is written. Nothing cites the
            # instruments: past LARGE_LEVEL candidates, the digests anything cites (3
            # here) show it without a level-3 query.
            assert levels_inserted() == 3
            # (too many to check levels with), how many, then none in the frontier
            assert cited_reads == 3
        else:
            # Nothing cites the instruments, as the cited digests (read once) show: their
            # level is streamed from the citations, never written to the visited set.
            assert levels_inserted() == 2
            assert cited_reads == 1
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert engine.pool.checkedout() == 0
    assert [first, second, second_level, *rest] == reference_walk(graph, nmi, EFFECTIVE)


@pytest.mark.parametrize("spec_version", ["2.4", "2.3"])
def test_alerts_feed_releases_its_connection_when_the_client_goes_away(
        sessions: sessionmaker[Session], tmp_path: Path, spec_version: str) -> None:
    """ASGI 2.4 servers raise OSError from send(); older ones send http.disconnect."""
    _, nmi = _wide_graph(sessions, 1, 3 * STREAM_ROWS)
    _revoke(sessions, nmi, 10_000)
    app = create_app(load_settings(data_dir=tmp_path / "data"))
    app.state.session_factory = sessions
    engine = sessions.kw["bind"]
    bodies: list[bytes] = []
    gone = anyio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            bodies.append(message["body"])
            gone.set()
            if spec_version == "2.4":
                raise OSError("connection reset by peer")
            await anyio.sleep(0.5)  # the server notices the disconnect meanwhile

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": spec_version},
             "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/v1/alerts",
             "raw_path": b"/v1/alerts", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80)}

    async def call() -> None:
        with contextlib.suppress(Exception):  # whatever the server makes of it
            await app(scope, receive, send)
        # Released by the response itself, not later by the garbage collector.
        assert engine.pool.checkedout() == 0

    collecting = gc.isenabled()
    gc.disable()
    try:
        anyio.run(call)
    finally:
        if collecting:
            gc.enable()
    assert bodies, "the first lines were sent"
    lines = b"".join(bodies).decode().splitlines()
    assert 0 < len(lines) < 3 * STREAM_ROWS + 1  # not the whole feed
    assert json.loads(lines[0])["cause"]["sha256"] == "0x" + nmi
    assert engine.pool.checkedout() == 0
