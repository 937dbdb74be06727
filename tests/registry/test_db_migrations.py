"""The database: Alembic migrations from an empty database, pragmas, portable types —
on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Text, cast, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from anchor.digest import canonical_json_text
from registry.db import (
    Base,
    IssuedDocument,
    OutboxBatch,
    create_database_engine,
    open_database,
    transaction,
    upgrade_to_head,
)
from registry.db.engine import SQLITE_CACHE_KIB, alembic_config
from registry.documents.model import CanonicalJson


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'nested' / 'certreg.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_database_url")
    return sqlite_url


# An outbox row's required columns, by name.
_DOCUMENT_VALUES: dict[str, object] = {
    "issuer_id": "aa" * 32, "sha256": "11" * 32, "source_sha256": "22" * 32,
    "cid": "bafkreitest", "document_type": "dcc", "size": 10, "encrypted": False}


def _document(**overrides: object) -> IssuedDocument:
    return IssuedDocument(**(_DOCUMENT_VALUES | overrides))


def test_db_migrates_an_empty_database_to_head(url: str) -> None:
    upgrade_to_head(url)
    engine = create_database_engine(url)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head
        tables = set(inspect(connection).get_table_names())
    assert {table.name for table in Base.metadata.sorted_tables} <= tables
    upgrade_to_head(url)  # idempotent on an up-to-date database


def test_db_migration_matches_the_orm_models(url: str) -> None:
    """A model changed without a migration shows up here as a difference."""
    upgrade_to_head(url)
    with create_database_engine(url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(
            connection, opts={"compare_type": True}), Base.metadata)
    assert differences == []


def test_db_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    url = sqlite_url
    sessions = open_database(url)
    with sessions() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        session.add(_document(batch_root="ff" * 32))  # no such outbox batch


def test_db_sqlite_rolls_back_a_failed_statement_with_its_journal_in_memory(
        sqlite_url: str) -> None:
    """Statement journals live in memory (no temporary file per indexing transaction),
    and still do their job: a multi-row INSERT that fails on its last row leaves none of
    its rows, while the transaction's earlier statement stands."""
    sessions = open_database(sqlite_url)
    with sessions() as session:
        assert session.execute(text("PRAGMA temp_store")).scalar() == 2  # MEMORY
        assert session.execute(text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_KIB
    rows = [_DOCUMENT_VALUES | {"sha256": f"{n:02x}" * 32, "state": "stored"}
            for n in (1, 2, 3)]
    with transaction(sessions) as session:
        session.execute(insert(IssuedDocument.__table__).values(rows[:1]))
        with pytest.raises(IntegrityError):
            # Rows 2 and 3, then row 1 again: one statement, failing on its last row.
            session.execute(insert(IssuedDocument.__table__).values(rows[1:] + rows[:1]))
    with sessions() as session:
        assert session.scalars(select(IssuedDocument.sha256)).all() == [rows[0]["sha256"]]


def test_db_keeps_one_row_per_document_and_issuer(url: str) -> None:
    sessions = open_database(url)
    with transaction(sessions) as session:
        session.add(_document())
        session.add(_document(issuer_id="bb" * 32))  # same document, another issuer: fine
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        session.add(_document(source_sha256="33" * 32))
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        session.add(_document(sha256="44" * 32))  # same input bytes signed again


def test_db_times_are_utc_aware_and_naive_times_are_refused(url: str) -> None:
    sessions = open_database(url)
    moment = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with transaction(sessions) as session:
        session.add(OutboxBatch(root="cc" * 32, issuer_id="aa" * 32, count=1,
                                manifest_cid="bafk", created_at=moment))
    with sessions() as session:
        stored = session.scalar(select(OutboxBatch.created_at))
    assert stored == moment and stored.tzinfo == dt.UTC
    with pytest.raises(Exception, match="naive"), transaction(sessions) as session:
        session.add(OutboxBatch(root="dd" * 32, issuer_id="aa" * 32, count=1,
                                manifest_cid="bafk", created_at=dt.datetime(2026, 1, 1)))


def test_db_json_metadata_round_trips(url: str) -> None:
    sessions = open_database(url)
    metadata = {"unique_identifier": "PTB-1", "units": ["\\kilogram"], "nested": {"a": [1, 2]}}
    with transaction(sessions) as session:
        session.add(_document(public_metadata=metadata))
    with sessions() as session:
        assert session.scalar(select(IssuedDocument.public_metadata)) == metadata


def test_db_metadata_encoded_once_is_stored_as_the_same_text_as_metadata_encoded_here(
        url: str) -> None:
    """Issuance hands the outbox and the projection metadata as CanonicalJson text; a row
    written so holds exactly the text and value of one written from the decoded value."""
    sessions = open_database(url)
    metadata = {"title": "Maß \"ü\" \\ 质量 \u2028 \U0001f52c\n", "units": ["\\kilogram"],
                "n": [1, 2.5, True, None], "nested": {"b": {}, "a": []}}
    encoded = CanonicalJson.of(metadata)
    with transaction(sessions) as session:
        session.execute(insert(IssuedDocument.__table__), [
            _DOCUMENT_VALUES | {"sha256": "11" * 32, "source_sha256": "21" * 32,
                                "metadata": encoded},
            _DOCUMENT_VALUES | {"sha256": "12" * 32, "source_sha256": "22" * 32,
                                "metadata": metadata}])
    with sessions() as session:
        texts = session.execute(select(cast(IssuedDocument.public_metadata, Text))
                                .order_by(IssuedDocument.sha256)).scalars().all()
        values = session.scalars(select(IssuedDocument.public_metadata)
                                 .order_by(IssuedDocument.sha256)).all()
    assert texts == [canonical_json_text(metadata)] * 2
    assert values == [metadata] * 2


def test_db_migration_0006_backfills_unit_search_rows(url: str) -> None:
    from alembic import command

    from registry.db.models import ChainBatch, ChainDocument, DocumentIdentifier
    from registry.db.search import UNIT
    from registry.documents.metadata import METADATA_FORMAT

    upgrade_to_head(url)
    sessions = open_database(url)
    metadata = {"format": METADATA_FORMAT, "quantities": [
        {"units": ["\\hecto\\pascal", "\\kelvin"]}, {"units": ["\\kelvin", "\\foo"]}]}
    with transaction(sessions) as session:
        session.add(ChainBatch(
            batch_id=1, issuer_id="aa" * 32, root="bb" * 32, count=1, manifest_cid="m",
            manifest_status="ok", operator="0x" + "cc" * 20, block_number=1,
            block_hash="0x" + "dd" * 32, tx_hash="0x" + "ee" * 32, log_index=0,
            anchored_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
        session.flush()
        session.add(ChainDocument(sha256="11" * 32, batch_id=1, issuer_id="aa" * 32, cid="c",
                                  document_type="dcc", unique_identifier="X",
                                  public_metadata=metadata, encrypted=False, proof=[],
                                  block_number=1))

    def units() -> list[str]:
        with sessions() as session:
            return sorted(session.scalars(select(DocumentIdentifier.value)
                                          .where(DocumentIdentifier.kind == UNIT)))

    assert units() == []  # indexed before 0006: no unit rows
    config = alembic_config(url)
    command.downgrade(config, "0005_signing_certificates")
    command.upgrade(config, "head")
    assert units() == ["ucum:K1", "ucum:hPa1"]  # the malformed \foo is not searchable
    command.downgrade(config, "0005_signing_certificates")
    assert units() == []
    # A unit row already there (0003's backfill extracts alike) is replaced, not doubled.
    with transaction(sessions) as session:
        document_id = session.scalar(select(ChainDocument.id))
        session.add(DocumentIdentifier(document_id=document_id, kind=UNIT, value="ucum:K1"))
    command.upgrade(config, "head")
    assert units() == ["ucum:K1", "ucum:hPa1"]


def test_db_migration_0010_backfills_the_citing_facts_as_the_indexer_writes_them(
        url: str) -> None:
    """Citations indexed before 0010 get the citing anchoring's facts from the backfill,
    the same the indexer writes (and the second anchoring of a digest is marked)."""
    from alembic import command

    from registry.db.models import CertificateCitation, ChainBatch, ChainDocument
    from registry.db.traceability import record_citing_facts

    sessions = open_database(url)
    anchored = dt.datetime(2025, 5, 2, 23, 59, tzinfo=dt.UTC)
    with transaction(sessions) as session:
        for batch_id, block in ((7, 40), (8, 41)):
            session.add(ChainBatch(batch_id=batch_id, issuer_id="aa" * 32, root=f"{batch_id}" * 64,
                                   count=1, manifest_cid="bafy", manifest_status="ok",
                                   operator="0x" + "00" * 20, block_number=block,
                                   block_hash="0x" + "11" * 32, tx_hash="0x" + "22" * 32,
                                   log_index=0, anchored_at=anchored))
        session.flush()
        for batch_id, block in ((7, 40), (8, 41)):  # one digest anchored twice, undated
            document = ChainDocument(sha256="ab" * 32, batch_id=batch_id, issuer_id="aa" * 32,
                                     cid="bafy", document_type="dcc", unique_identifier="K-1",
                                     public_metadata=None, encrypted=False, proof=[],
                                     block_number=block)
            session.add(document)
            session.flush()
            session.add(CertificateCitation(
                document_id=document.id, citing_sha256="ab" * 32, position=0,
                role="measuring-equipment", referral="r", referral_id="S-1",
                referral_id_key="s-1", procedure="SHA-256", value="cd" * 32,
                cited_sha256="cd" * 32))

    def facts() -> list[tuple]:
        c = CertificateCitation
        with sessions() as session:
            return [tuple(row) for row in session.execute(
                select(c.citing_block_number, c.citing_batch_id, c.citing_issuer_id,
                       c.citing_number, c.citing_calibration_date, c.citing_relied_on,
                       c.citing_reanchored).order_by(c.citing_block_number))]

    assert facts() == [(None,) * 7] * 2  # written as before 0010
    config = alembic_config(url)
    command.downgrade(config, "0009_evidence_renewals")
    command.upgrade(config, "head")
    expected = [(40, 7, "aa" * 32, "K-1", None, dt.date(2025, 5, 2), False),
                (41, 8, "aa" * 32, "K-1", None, dt.date(2025, 5, 2), True)]
    assert facts() == expected
    with transaction(sessions) as session:  # what the indexer runs per batch: the same
        record_citing_facts(session, 8)
    assert facts() == expected
    sessions.kw["bind"].dispose()
