"""scripts/bench_trace.py on a real PostgreSQL: the synthetic graph builder and the
revocation cascade it measures, on a tiny graph (1 NMI certificate <- 3 laboratory
standards <- 4 instruments each = 16 certificates).

Test names carry `postgres` and `trace` so `-k postgres` / `-k trace` select them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anchor.errors import ServiceError
from anchor.services.postgres import PostgresCluster
from registry.db import ChainBatch, ChainDocument, ChainIssuer, DocumentIdentifier, open_database
from registry.db.cascade import affected_by
from registry.db.models import CertificateCitation
from registry.db.search import NUMBER, search_fields
from registry.db.traceability import (
    ProjectionTraceabilityView,
    citation_rows,
    record_citing_facts,
)
from registry.verify.traceability import trace
from scripts import bench_trace
from scripts.bench_trace import GraphSpec, build_graph

LABS, INSTRUMENTS = 3, 4
SPEC = GraphSpec(labs=LABS, instruments=INSTRUMENTS)


def _instruments(spec: GraphSpec, j: int) -> set[str]:
    return {spec.instrument_sha(j, k) for k in range(spec.instruments)}


@pytest.fixture(scope="module")
def graph_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """One database holding the tiny graph, shared by the read-only tests."""
    database = postgres_cluster.create_database("bench_trace_graph")
    build_graph(database.url, SPEC)
    yield database.url
    with contextlib.suppress(ServiceError):
        postgres_cluster.drop_database(database)


@pytest.fixture(scope="module")
def sessions(graph_url: str) -> Iterator[sessionmaker[Session]]:
    factory = open_database(graph_url, migrate=False)
    yield factory
    factory.kw["bind"].dispose()


def test_trace_postgres_builder_writes_what_the_indexer_would(
        sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        documents = session.scalars(select(ChainDocument).order_by(ChainDocument.id)).all()
        batches = {b.batch_id: b for b in session.scalars(select(ChainBatch))}
        kinds = dict(session.execute(select(ChainIssuer.issuer_id, ChainIssuer.kind)).all())
        numbers = dict(session.execute(
            select(DocumentIdentifier.document_id, DocumentIdentifier.value)
            .where(DocumentIdentifier.kind == NUMBER)).all())
        citations = session.scalars(select(CertificateCitation)).all()
    assert len(documents) == SPEC.total == 16
    assert len({d.sha256 for d in documents}) == 16
    assert kinds[SPEC.nmi_issuer] == "national_metrology_institute"
    assert {kinds[d.issuer_id] for d in documents if d.sha256 != SPEC.nmi_sha} == {
        "accredited_laboratory"}
    by_document: dict[int, list[dict]] = {}
    for c in citations:
        by_document.setdefault(c.document_id, []).append(
            {column: getattr(c, column) for column in (
                "document_id", "citing_sha256", "position", "role", "referral",
                "referral_id", "referral_id_key", "procedure", "value", "cited_sha256")})
    for document in documents:
        batch = batches[document.batch_id]
        assert batch.issuer_id == document.issuer_id  # batches hold one issuer's documents
        assert document.block_number == batch.block_number
        assert len(document.proof) == 8
        # The metadata yields exactly the rows stored beside it (the indexer's extraction).
        fields = search_fields(document.public_metadata, False)
        assert (fields.calibrated_from, fields.calibrated_to, fields.issued_on) == (
            document.calibrated_from, document.calibrated_to, document.issued_on)
        assert dict(fields.identifiers)[NUMBER] == numbers[document.id]
        assert by_document.get(document.id, []) == citation_rows(
            document.id, document.sha256, document.public_metadata, False)
    # Anchored after its calibration, and cited only after it was anchored.
    by_sha = {d.sha256: d for d in documents}
    for document in documents:
        assert batches[document.batch_id].anchored_at.date() > document.calibrated_to
    for c in citations:
        cited = by_sha[c.cited_sha256]
        citing = by_sha[c.citing_sha256]
        assert batches[cited.batch_id].anchored_at.date() <= citing.calibrated_to
    ordered = sorted(batches.values(), key=lambda b: b.block_number)
    assert [b.anchored_at for b in ordered] == sorted(b.anchored_at for b in ordered)
    # The citing facts copied in are those the indexer's UPDATE computes.
    facts = _citing_facts(sessions)
    assert all(row[-2] is not None for row in facts.values())  # citing_relied_on
    with sessions() as session, session.begin():
        record_citing_facts(session)
        recomputed = _citing_facts(sessions, session)
        session.rollback()
    assert recomputed == facts


def _citing_facts(sessions: sessionmaker[Session], session: Session | None = None
                  ) -> dict[int, tuple]:
    c = CertificateCitation
    query = select(c.id, c.citing_block_number, c.citing_batch_id, c.citing_issuer_id,
                   c.citing_number, c.citing_calibration_date, c.citing_relied_on,
                   c.citing_reanchored)
    if session is not None:
        return {row[0]: tuple(row[1:]) for row in session.execute(query)}
    with sessions() as own:
        return {row[0]: tuple(row[1:]) for row in own.execute(query)}


def test_trace_postgres_nmi_revocation_affects_the_whole_graph(
        sessions: sessionmaker[Session]) -> None:
    found = list(affected_by(sessions, SPEC.nmi_sha, SPEC.effective_from))
    lab_of = {SPEC.lab_sha(j): j for j in range(LABS)}
    instruments = set().union(*(_instruments(SPEC, j) for j in range(LABS)))
    assert len(found) == 15 == len(lab_of) + len(instruments)
    assert {a.sha256 for a in found} == set(lab_of) | instruments
    for affected in found:
        if affected.sha256 in lab_of:
            assert (affected.depth, affected.via) == (1, SPEC.nmi_sha)
        else:
            assert affected.depth == 2
            assert affected.sha256 in _instruments(SPEC, lab_of[affected.via])


def test_trace_postgres_lab_revocation_affects_its_instruments_only(
        sessions: sessionmaker[Session]) -> None:
    for j in range(LABS):
        found = list(affected_by(sessions, SPEC.lab_sha(j), SPEC.lab_calibrated(j)))
        assert {a.sha256 for a in found} == _instruments(SPEC, j)
        assert len(found) == INSTRUMENTS and {a.depth for a in found} == {1}


def test_trace_postgres_tree_of_an_instrument_is_complete(
        sessions: sessionmaker[Session]) -> None:
    view = ProjectionTraceabilityView(sessions)
    for j, k in ((0, 0), (1, 2), (LABS - 1, INSTRUMENTS - 1)):
        result = trace(SPEC.instrument_sha(j, k), view)
        assert result is not None and result.status.value == "complete", result.problem
        assert not result.compromised
        assert [n.facts.sha256 for n in result.nodes] == [
            SPEC.instrument_sha(j, k), SPEC.lab_sha(j), SPEC.nmi_sha]


def test_trace_postgres_certificates_calibrated_before_the_effective_date_are_excluded(
        postgres_database_url: str) -> None:
    # Instrument (0, 1) and laboratory standard 2 were calibrated before the NMI
    # certificate's revocation took effect: neither is affected, and nothing is affected
    # through standard 2 (its instruments relied on a calibration that was still sound).
    older = GraphSpec(labs=LABS, instruments=INSTRUMENTS, older=frozenset(
        {SPEC.instrument_number(0, 1), SPEC.lab_number(2)}))
    build_graph(postgres_database_url, older)
    factory = open_database(postgres_database_url, migrate=False)
    try:
        assert older.instrument_calibrated(0, 1) < older.effective_from
        assert older.lab_calibrated(2) < older.effective_from
        found = {a.sha256 for a in affected_by(factory, older.nmi_sha, older.effective_from)}
        expected = ({older.lab_sha(0), older.lab_sha(1)} | _instruments(older, 0)
                    | _instruments(older, 1)) - {older.instrument_sha(0, 1)}
        assert found == expected and len(found) == 9
        # A revocation effective after some instruments' calibrations spares those.
        effective = older.instrument_calibrated(1, 2)
        spared = {older.instrument_sha(1, k) for k in range(INSTRUMENTS)
                  if older.instrument_calibrated(1, k) < effective}
        assert spared  # instrument (1, 0) at least
        found = {a.sha256 for a in affected_by(factory, older.lab_sha(1), effective)}
        assert found == _instruments(older, 1) - spared
    finally:
        factory.kw["bind"].dispose()


def test_trace_postgres_cascade_measurement_in_a_child_process(graph_url: str,
                                                               tmp_path: Path) -> None:
    # --affected-by: another implementation (here one delegating to the registry's, in a
    # module defining a dataclass, as a patched copy of registry.db.traceability does).
    other = tmp_path / "other_affected_by.py"
    other.write_text(textwrap.dedent("""
        from dataclasses import dataclass
        from registry.db import cascade

        @dataclass(frozen=True)
        class Marker:
            name: str

        def affected_by(sessions, revoked, effective_from):
            return list(cascade.affected_by(sessions, revoked, effective_from))
        """))
    lab, measured = bench_trace.cascades_in_child(graph_url, [
        {"revoked": SPEC.lab_sha(0), "effective_from": SPEC.lab_calibrated(0), "expected": 4},
        {"revoked": SPEC.nmi_sha, "effective_from": SPEC.effective_from, "expected": 15}],
        runs=5, implementation=str(other))
    assert lab["affected"] == 4 and lab["by_depth"] == {"1": 4} and lab["sql_statements"] >= 1
    assert measured["affected"] == 15 and measured["by_depth"] == {"1": 3, "2": 12}
    assert measured["seconds"]["runs"] == measured["first_item_seconds"]["runs"] == 5
    assert measured["seconds"]["min"] <= measured["seconds"]["median"] <= measured[
        "seconds"]["max"]
    assert 0 < measured["first_item_seconds"]["min"] <= measured["seconds"]["min"]
    # An order-independent fingerprint of the set, to compare implementations by.
    expected = 0
    for sha in set().union(*(_instruments(SPEC, j) for j in range(LABS))) | {
            SPEC.lab_sha(j) for j in range(LABS)}:
        expected ^= int(sha, 16)
    assert measured["fingerprint"] == f"{expected:064x}"
    # Counted through the engine's events (how many depends on the implementation).
    assert measured["sql_statements"] >= 1 and measured["sql_execute_seconds_first_run"] > 0
    assert measured["peak_rss_reset"] is True
    assert measured["peak_rss_mb"] >= measured["rss_before_mb"] > 0
    assert measured["tracemalloc_peak_mb"] >= 0
    json.dumps(measured)


def test_trace_graph_dates_derive_from_its_start() -> None:
    spec = GraphSpec(labs=LABS, instruments=INSTRUMENTS, start=dt.date(2030, 5, 1))
    assert spec.effective_from == dt.date(2030, 5, 8)
    assert spec.lab_calibrated(0) > spec.effective_from
    assert min(spec.instrument_calibrated(j, 0) for j in range(LABS)) > spec.lab_calibrated(
        LABS - 1)
