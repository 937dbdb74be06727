"""Projection generation: a counter that database triggers advance in the transaction of
every write to the tables verdicts, lookups and search read (registry.db.generation).
On PostgreSQL the triggers are per statement and also NOTIFY `certreg_projection`
(delivered on commit, once per transaction), as does a write to `indexer_state`; on
SQLite they are per row and API workers notice commits through `PRAGMA data_version`.

Revision ID: 0011_projection_generation
Revises: 0010_cascade_citing_facts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from registry.db.generation import drop_triggers_sql, trigger_sql

revision: str = "0011_projection_generation"
down_revision: str | None = "0010_cascade_citing_facts"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "projection_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projection_generation")),
    )
    op.execute("INSERT INTO projection_generation (id, generation) VALUES (1, 0)")
    for statement in trigger_sql(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    """Downgrade schema."""
    for statement in drop_triggers_sql(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("projection_generation")
