"""The registry contract client: the only package that talks to Ethereum (web3).

Deploy, govern, register issuers, anchor, revoke and read. Transactions are
signed locally with an explicit nonce so several can be in flight at once
(`prepare_*` + `broadcast` + `wait`), and anchoring is idempotent by Merkle
root: before sending, and whenever a send fails in an ambiguous way, the client
asks the chain whether the root is already anchored and, if so, returns that
batch instead of sending a second transaction.

Two contract versions are read: version 2 (what `deploy` deploys: the manifest CID and
operator of a batch live only in its `BatchAnchored` event, the CID as digest + codec)
and version 1 (manifest CID and operator in storage), so receipts and registries
anchored with version 1 keep verifying. A client probes the version once.

Layout: `records` (contract values, no web3), `contract` (ABIs, version probe, revert
decoding, connection), `transactions` (signing, nonces, broadcast, receipts), `client`
(RegistryClient). Every name is importable from `anchor.chain` as before.
"""

from __future__ import annotations

from anchor.chain.client import (
    RegistryClient,
    deploy_registry,
)
from anchor.chain.contract import (
    V1_ARTIFACT_PATH,
    RevertDecoder,
    account_from_key,
    connect,
    probe_version,
)
from anchor.chain.records import (
    CURRENT_VERSION,
    REVOCATION_EVENTS,
    ZERO32,
    AccreditationRecord,
    ActionKind,
    AnchoredBatch,
    BatchRecord,
    BlockHeader,
    ChainEvent,
    Deployment,
    GovernanceAction,
    IssuerKind,
    IssuerRecord,
    IssuerStatus,
    OnChainVerification,
    ProposalRecord,
    RevocationReason,
    RevocationRecord,
    SigningCertificateKind,
    SigningCertificateRecord,
    TransactionOutcome,
    issuer_id_from_name,
    issuer_name,
    manifest_cid_of,
    manifest_cid_parts,
    revoked_documents,
)
from anchor.chain.transactions import (
    NonceManager,
    SignedTransaction,
    TransactionSender,
)

__all__ = [
    "CURRENT_VERSION",
    "REVOCATION_EVENTS",
    "V1_ARTIFACT_PATH",
    "ZERO32",
    "AccreditationRecord",
    "ActionKind",
    "AnchoredBatch",
    "BatchRecord",
    "BlockHeader",
    "ChainEvent",
    "Deployment",
    "GovernanceAction",
    "IssuerKind",
    "IssuerRecord",
    "IssuerStatus",
    "NonceManager",
    "OnChainVerification",
    "ProposalRecord",
    "RegistryClient",
    "RevertDecoder",
    "RevocationReason",
    "RevocationRecord",
    "SignedTransaction",
    "SigningCertificateKind",
    "SigningCertificateRecord",
    "TransactionOutcome",
    "TransactionSender",
    "account_from_key",
    "connect",
    "deploy_registry",
    "issuer_id_from_name",
    "issuer_name",
    "manifest_cid_of",
    "manifest_cid_parts",
    "probe_version",
    "revoked_documents",
]
