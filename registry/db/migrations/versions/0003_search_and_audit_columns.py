"""Search and audit: searchable dates and identifiers of public metadata, issuer of events.

Existing projections are backfilled from what they hold already (the documents' public
metadata, the events' JSON arguments), so no reindex is needed after upgrading.

Revision ID: 0003_search_audit
Revises: 0002_api_credentials
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003_search_audit"
down_revision: str | None = "0002_api_credentials"
branch_labels: str | None = None
depends_on: str | None = None

_BACKFILL_ROWS = 1_000


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "document_identifiers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["chain_documents.id"],
            name=op.f("fk_document_identifiers_document_id_chain_documents"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_identifiers")),
    )
    with op.batch_alter_table("document_identifiers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_identifiers_document_id"),
                              ["document_id"], unique=False)
        batch_op.create_index("ix_document_identifiers_kind_value", ["kind", "value"],
                              unique=False)

    with op.batch_alter_table("chain_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issued_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("calibrated_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("calibrated_to", sa.Date(), nullable=True))
        for column in ("cid", "document_type", "issued_on", "calibrated_from", "calibrated_to"):
            batch_op.create_index(batch_op.f(f"ix_chain_documents_{column}"), [column],
                                  unique=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issuer_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_events_issuer_id"), ["issuer_id"],
                              unique=False)

    _backfill(op.get_bind())


def _backfill(connection: sa.Connection) -> None:
    # The extraction the indexer uses, so backfilled rows equal freshly indexed ones.
    from registry.db.search import search_fields

    events = sa.table("audit_events", sa.column("id", sa.Integer), sa.column("args", sa.JSON),
                      sa.column("issuer_id", sa.String))
    for event_id, args in connection.execute(sa.select(events.c.id, events.c.args)).all():
        issuer = args.get("issuerId") if isinstance(args, dict) else None
        if isinstance(issuer, str):
            connection.execute(events.update().where(events.c.id == event_id).values(
                issuer_id=issuer.lower().removeprefix("0x")))

    documents = sa.table("chain_documents", sa.column("id", sa.Integer),
                         sa.column("metadata", sa.JSON), sa.column("encrypted", sa.Boolean),
                         sa.column("issued_on", sa.Date), sa.column("calibrated_from", sa.Date),
                         sa.column("calibrated_to", sa.Date))
    identifiers = sa.table("document_identifiers", sa.column("document_id", sa.Integer),
                           sa.column("kind", sa.String), sa.column("value", sa.String))
    rows: list[dict[str, Any]] = []
    for document_id, metadata, encrypted in connection.execute(sa.select(
            documents.c.id, documents.c.metadata, documents.c.encrypted)).all():
        fields = search_fields(metadata, bool(encrypted))
        if fields.columns() != {"issued_on": None, "calibrated_from": None,
                                "calibrated_to": None}:
            connection.execute(documents.update().where(documents.c.id == document_id)
                               .values(**fields.columns()))
        rows += [{"document_id": document_id, "kind": kind, "value": value}
                 for kind, value in fields.identifiers]
        if len(rows) >= _BACKFILL_ROWS:
            connection.execute(identifiers.insert(), rows)
            rows = []
    if rows:
        connection.execute(identifiers.insert(), rows)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_issuer_id"))
        batch_op.drop_column("issuer_id")
    with op.batch_alter_table("chain_documents", schema=None) as batch_op:
        for column in ("cid", "document_type", "issued_on", "calibrated_from", "calibrated_to"):
            batch_op.drop_index(batch_op.f(f"ix_chain_documents_{column}"))
        batch_op.drop_column("calibrated_to")
        batch_op.drop_column("calibrated_from")
        batch_op.drop_column("issued_on")
    with op.batch_alter_table("document_identifiers", schema=None) as batch_op:
        batch_op.drop_index("ix_document_identifiers_kind_value")
        batch_op.drop_index(batch_op.f("ix_document_identifiers_document_id"))
    op.drop_table("document_identifiers")
