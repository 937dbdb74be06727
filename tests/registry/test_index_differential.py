"""Differential test of the set-based indexer: the projection that issuance leaves behind,
indexed batch by batch as each run anchored it (verdict inputs refreshed as later
documents cite, and a revocation touches, earlier ones), is row for row the projection
`certreg reindex` builds in one pass, and the one a reindex killed mid-way (SIGKILL)
and then resumed with `certreg index` builds. On SQLite and (CERTREG_TEST_DATABASE=
postgresql) PostgreSQL, on a real anvil chain with real batches."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Text, cast, func, select
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import RevocationReason
from registry.cli import EXIT_OK, main
from registry.db import open_database
from registry.db.models import (
    PROJECTION_TABLES,
    Base,
    CertificateCitation,
    ChainDocument,
    DocumentIdentifier,
    InstrumentMentionRow,
    IssuedDocument,
    OutboxBatch,
    VerdictInputs,
)
from registry.db.search import NUMBER, normalise
from registry.settings import Settings
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld
from tests.registry.conftest import MakeDccs
from tests.registry.test_accreditation_chain import record, scope_document
from tests.registry.trust_fixtures import WSL, Cite, TrustChain

DAY = dt.timedelta(days=1)

# Columns that say when a row was written, not what the chain and IPFS say: the indexer's
# wall clock, and the last block a verdict input was (re)computed at, which is the end
# of whichever chunk of blocks it was computed in.
_WHEN_WRITTEN = {("indexer_state", "updated_at"), ("verdict_inputs", "computed_block")}
# What the indexer marks in the outbox (it alone moves rows to anchored).
_OUTBOX = {IssuedDocument: ("sha256", "state", "batch_root"),
           OutboxBatch: ("root", "state", "batch_id")}


def _surrogate(column: Any) -> bool:
    return column.primary_key and column.autoincrement is True


def _document_keys(sessions: sessionmaker[Session]) -> dict[int, tuple[str, int]]:
    with sessions() as session:
        return {row.id: (row.sha256, row.batch_id) for row in session.execute(
            select(ChainDocument.id, ChainDocument.sha256, ChainDocument.batch_id))}


def _is_json(column_type: Any) -> bool:
    return isinstance(column_type, JSON) or isinstance(
        getattr(column_type, "impl_instance", None), JSON)


def projection(sessions: sessionmaker[Session]) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every projection row (and the outbox marks), without surrogate ids: a reference to
    a chain_documents row is that document's (sha256, batch_id); JSON as its text."""
    document_keys = _document_keys(sessions)
    with sessions() as session:
        tables: dict[str, Counter[tuple[Any, ...]]] = {}
        models: list[type[Base]] = [*PROJECTION_TABLES, InstrumentMentionRow, *_OUTBOX]
        for model in models:
            table = model.__table__
            kept = [c for c in table.columns if not _surrogate(c)
                    and (table.name, c.name) not in _WHEN_WRITTEN
                    and (model not in _OUTBOX or c.name in _OUTBOX[model])]
            rows = session.execute(select(*(
                cast(c, Text) if _is_json(c.type) else c for c in kept))).all()
            by_document = [i for i, c in enumerate(kept) if c.name == "document_id"]
            tables[table.name] = Counter(
                tuple(document_keys[v] if i in by_document else v for i, v in enumerate(row))
                for row in rows)
    return tables


@pytest.fixture
def chain(world: RegistryWorld, settings: Settings, shared_dcc: Path,
          tmp_path: Path) -> TrustChain:
    return TrustChain(world, settings, shared_dcc, tmp_path)


def _issue_everything(chain: TrustChain, make_dccs: MakeDccs, tmp_path: Path) -> None:
    """Batches of three issuers across many runs: an accredited laboratory's certificates
    (scope checked against its recorded accreditation), a four-level traceability chain
    cited by hash, a certificate cited by number only, full and partial batches of
    PTB's DCCs, an encrypted one, and a revocation that reaches the citing ones."""
    record(chain, scope_document(), chain.today - DAY)
    levels = chain.four_levels("DIFF")
    chain.issue(WSL, "DIFF-BY-NUMBER", chain.today, Cite("DIFF-WORK"))
    ptb = chain.issuer(PTB)
    ptb.run(make_dccs(tmp_path / "ptb", 7, "DIFF-PTB"), batch_size=3)
    ptb.run(make_dccs(tmp_path / "secret", 2, "DIFF-SECRET"), encrypt=True, batch_size=2)
    chain.issue(LAB, "DIFF-REF-2", chain.today, Cite("DIFF-NMI", levels["nmi"]))
    chain.issuer(LAB).revoke(levels["ref"], RevocationReason.OUT_OF_TOLERANCE)
    ptb.index()


def _wait_for_deletion(sessions: sessionmaker[Session], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            if not session.scalar(select(func.count()).select_from(ChainDocument)):
                return
        time.sleep(0.01)
    raise AssertionError("the reindex never dropped the projection")


def test_incremental_index_equals_reindex_and_a_killed_then_resumed_reindex(
        chain: TrustChain, make_dccs: MakeDccs, settings: Settings,
        issuer_env: dict[str, str], tmp_path: Path) -> None:
    _issue_everything(chain, make_dccs, tmp_path)
    sessions = open_database(settings.effective_database_url)
    incremental = projection(sessions)
    # The scenario reaches what the set-based paths write: rows in every table they fill,
    # traceability and scope computed, a dependent's inputs refreshed by the revocation.
    for table in ("chain_documents", "document_identifiers", "certificate_citations",
                  "instrument_mentions", "verdict_inputs", "chain_revocations",
                  "chain_accreditations", "audit_events"):
        assert incremental[table], f"the scenario leaves {table} empty"
    assert len(incremental["chain_documents"]) == 15
    with sessions() as session:
        inputs = session.scalars(select(VerdictInputs)).all()
    assert sum(i.traceability is not None for i in inputs) == 15
    assert {(i.scope or {}).get("status") for i in inputs} == {
        "within-scope", "not-accredited", "unchecked"}
    assert any(i.traceability and i.traceability["status"] != "complete" for i in inputs)
    # Rows keyed by the ids the bulk insert handed back belong to their own document.
    with sessions() as session:
        numbers = dict(session.execute(
            select(ChainDocument.id, ChainDocument.unique_identifier)
            .where(ChainDocument.encrypted.is_(False))).all())
        assert dict(session.execute(select(DocumentIdentifier.document_id,
                                           DocumentIdentifier.value)
                                    .where(DocumentIdentifier.kind == NUMBER)).all()) == {
            i: normalise(number) for i, number in numbers.items()}
        citing = session.execute(select(CertificateCitation.document_id,
                                        CertificateCitation.citing_sha256)).all()
    keys = _document_keys(sessions)
    assert citing and all(keys[document_id][0] == sha256 for document_id, sha256 in citing)
    assert {(i.document_id, i.sha256) for i in inputs} == {
        (document_id, sha256) for document_id, (sha256, _) in keys.items()}

    assert main(["reindex"]) == EXIT_OK
    rebuilt = projection(sessions)
    assert {t: rows for t, rows in rebuilt.items() if rows != incremental[t]} == {}

    # A reindex killed while it indexes again, then resumed: the same rows.
    env = {**os.environ, **issuer_env}
    killed = subprocess.Popen([sys.executable, "-m", "registry.cli", "reindex"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_deletion(sessions)
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(timeout=30) == -signal.SIGKILL
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait()
    assert main(["index"]) == EXIT_OK
    resumed = projection(sessions)
    assert {t: rows for t, rows in resumed.items() if rows != incremental[t]} == {}
