"""The registry database: outbox and chain projection (see models), engines, migrations."""

# ApiCredential is imported for its table too: Base.metadata must always include it.
from registry.db.credentials import ApiCredential
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
    DocumentIdentifier,
    DocumentState,
    IndexerState,
    IssuedDocument,
    OutboxBatch,
)

__all__ = [
    "ApiCredential",
    "AuditEvent",
    "Base",
    "BatchState",
    "ChainBatch",
    "ChainDocument",
    "ChainIssuer",
    "ChainRevocation",
    "DocumentIdentifier",
    "DocumentState",
    "IndexerState",
    "IssuedDocument",
    "OutboxBatch",
    "create_database_engine",
    "open_database",
    "transaction",
    "upgrade_to_head",
]
