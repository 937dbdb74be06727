"""The registry database: outbox and chain projection (see models), engines, migrations."""

from registry.db.engine import (
    create_database_engine,
    open_database,
    transaction,
    upgrade_to_head,
)
from registry.db.models import (
    AuditEvent,
    Base,
    BatchState,
    ChainBatch,
    ChainDocument,
    ChainIssuer,
    ChainRevocation,
    DocumentState,
    IndexerState,
    IssuedDocument,
    OutboxBatch,
)

__all__ = [
    "AuditEvent",
    "Base",
    "BatchState",
    "ChainBatch",
    "ChainDocument",
    "ChainIssuer",
    "ChainRevocation",
    "DocumentState",
    "IndexerState",
    "IssuedDocument",
    "OutboxBatch",
    "create_database_engine",
    "open_database",
    "transaction",
    "upgrade_to_head",
]
