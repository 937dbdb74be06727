"""The instrument_mentions table: migration 0005 backfills the instruments of documents
indexed before it, with the extraction the indexer uses, so no reindex is needed after
upgrading (SQLite and PostgreSQL); mentions group into instruments."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, select

from registry.db import ChainBatch, ChainDocument, open_database
from registry.db.engine import alembic_config
from registry.db.instruments import (
    InstrumentCriteria,
    instrument_history,
    mention_rows,
    search_instruments,
)
from registry.db.models import InstrumentMentionRow
from registry.documents.model import DocumentType
from registry.documents.typed_documents import load_typed_json

EXAMPLE = (Path(__file__).resolve().parents[2] / "docs" / "examples" / "verification"
           / "fuel-dispenser-periodic.json")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_database_url")
    return f"sqlite:///{tmp_path / 'certreg.db'}"


def _batch(count: int) -> ChainBatch:
    return ChainBatch(batch_id=1, issuer_id="aa" * 32, root="bb" * 32, count=count,
                      manifest_cid="bafy", manifest_status="ok", operator="0x" + "0" * 40,
                      block_number=1, block_hash="0x" + "1" * 64, tx_hash="0x" + "2" * 64,
                      log_index=0, anchored_at=dt.datetime.now(dt.UTC))


def test_migration_0007_backfills_instrument_mentions(url: str) -> None:
    data = EXAMPLE.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    document = load_typed_json(data, sha256, DocumentType.DCC, max_bytes=1 << 20)
    assert document is not None
    metadata = document.metadata.to_json()
    config = alembic_config(url)
    command.upgrade(config, "0004_trace_accreditation")
    sessions = open_database(url, migrate=False)
    with sessions() as session, session.begin():
        session.add(_batch(2))
        session.flush()
        for index, (meta, encrypted) in enumerate(((metadata, False), (metadata, True))):
            # Only the 0004 schema's columns (later revisions add more to the model).
            session.execute(insert(ChainDocument).values(
                sha256=f"{index:064x}", batch_id=1, issuer_id="aa" * 32, cid="bafk",
                document_type="verification-certificate", unique_identifier="VC",
                public_metadata=meta, encrypted=encrypted, proof=[], block_number=1))
    # The 0004 schema has no instrument_mentions table: upgrading creates and fills it.
    command.upgrade(config, "head")
    with sessions() as session:
        rows = session.scalars(select(InstrumentMentionRow)).all()
        first = session.scalar(select(ChainDocument.id).where(
            ChainDocument.sha256 == f"{0:064x}"))
    assert [(r.document_id, r.serial_key, r.manufacturer_key, r.model_key, r.approval_key)
            for r in rows] == [(first, "qt5102019088213", "tokheimdispensers",
                                "quantium510h4p", "de21mi005ptb014")]
    assert [r["serial"] for r in mention_rows(first, metadata, False)] == [rows[0].serial]
    command.downgrade(config, "0004_trace_accreditation")
    command.upgrade(config, "head")


def test_a_model_less_mention_joins_the_one_modelled_instrument(tmp_path: Path) -> None:
    """A DCC naming no model (PTB's vacuum gauge) and a verification naming one, same
    manufacturer and serial: one instrument; a second model makes the DCC ambiguous,
    so it stays its own entry rather than being merged into either."""
    sessions = open_database(f"sqlite:///{tmp_path / 'certreg.db'}")
    with sessions() as session, session.begin():
        session.add(_batch(3))
        for index, model in enumerate(("", "CDG 025D", "SRG 2")):
            session.add(ChainDocument(sha256=f"{index:064x}", batch_id=1, issuer_id="aa" * 32,
                                      cid="bafk", document_type="dcc", unique_identifier=None,
                                      public_metadata=None, encrypted=False, proof=[],
                                      block_number=1))
            session.flush()
            document_id = session.scalar(select(ChainDocument.id).where(
                ChainDocument.sha256 == f"{index:064x}"))
            session.add(InstrumentMentionRow(
                document_id=document_id, position=0, role="instrument",
                serial_key="99999999", manufacturer_key="themanufacturer",
                model_key=model.replace(" ", "").lower(), approval_key="", classifier_key="",
                serial="99999-999", manufacturer="The Manufacturer", model=model,
                approval_number=""))
    found = search_instruments(sessions, InstrumentCriteria(serial="99999 999"), limit=10)
    assert [s.id for s in found] == ["mi:themanufacturer::99999999",
                                     "mi:themanufacturer:cdg025d:99999999",
                                     "mi:themanufacturer:srg2:99999999"]
    with sessions() as session, session.begin():
        session.execute(InstrumentMentionRow.__table__.delete().where(
            InstrumentMentionRow.model_key == "srg2"))
    (joined,) = search_instruments(sessions, InstrumentCriteria(manufacturer="THE MANUFACTURER"),
                                   limit=10)
    assert (joined.id, joined.model, joined.documents) == (
        "mi:themanufacturer:cdg025d:99999999", "CDG 025D", 2)
    history = instrument_history(sessions, joined.id, dt.date(2026, 1, 1))
    assert history is not None and len(history.entries) == 2
    assert history.status.state == "calibrated"
