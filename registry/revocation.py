"""Revoking many of an issuer's documents at once (`certreg revoke --from-file`).

Documents are grouped by the batch that anchored them; each group goes to the contract
as `revokeMany` with one OpenZeppelin multiproof, rebuilt from the batch's documents in
the projection and checked against the batch root first. All documents are looked up
before anything is sent, so an unknown hash fails the request without a transaction.
Re-running after a crash skips what is revoked already with the same reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select

from anchor.chain import RevocationReason
from anchor.errors import ContractRevertError
from anchor.merkle import MerkleBatch
from registry.db import ChainBatch, ChainDocument, ChainRevocation
from registry.errors import DocumentAlreadyRevokedError, DocumentNotFoundError
from registry.issuance import Issuer, RevocationOutcome, normalise_sha256

# One transaction per this many documents: 100 random leaves of a 100,000-leaf batch
# cost about 3.75 M gas; at most 400 (15 M) stay under EIP-7825's 2**24 gas per
# transaction even when spread over the whole tree.
MAX_PER_TRANSACTION = 100
_TRANSACTION_LIMIT = 400


def revoke_documents(issuer: Issuer, sha256s: Iterable[str], reason: RevocationReason,
                     effective_from: int | None = None, *,
                     per_transaction: int = MAX_PER_TRANSACTION) -> list[RevocationOutcome]:
    """Revoke every document of `sha256s` (no replacement), batched per anchoring batch."""
    wanted = list(dict.fromkeys(normalise_sha256(s) for s in sha256s))
    if not wanted:
        return []
    if not 1 <= per_transaction <= _TRANSACTION_LIMIT:
        raise ValueError(f"per_transaction is 1..{_TRANSACTION_LIMIT}")
    issuer.indexer.catch_up()
    with issuer.sessions() as session:
        batch_of: dict[str, int] = {}
        for row in session.execute(select(ChainDocument.sha256, ChainDocument.batch_id).where(
                ChainDocument.issuer_id == issuer.issuer_hex,
                ChainDocument.sha256.in_(wanted)).order_by(ChainDocument.batch_id)):
            batch_of.setdefault(row.sha256, row.batch_id)
        revoked = {r.document_sha256: r for r in session.scalars(select(ChainRevocation).where(
            ChainRevocation.issuer_id == issuer.issuer_hex,
            ChainRevocation.document_sha256.in_(wanted)))}
    missing = [s for s in wanted if s not in batch_of]
    if missing:
        raise DocumentNotFoundError(
            f"this issuer has no anchored document 0x{missing[0]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            sha256=missing[0], missing=len(missing))
    outcomes: list[RevocationOutcome] = []
    groups: dict[int, list[str]] = defaultdict(list)
    for sha256 in wanted:
        done = revoked.get(sha256)
        if done is None:
            groups[batch_of[sha256]].append(sha256)
        elif done.reason == reason.name.lower() and done.replacement is None:
            outcomes.append(RevocationOutcome(sha256, done.batch_id, reason, None, None,
                                              done.block_number))
        else:
            raise DocumentAlreadyRevokedError(
                f"document 0x{sha256} was revoked already ({done.reason}); revocation is "
                "irreversible", reason=done.reason)
    for batch_id, members in groups.items():
        tree = _batch_tree(issuer, batch_id)
        for start in range(0, len(members), per_transaction):
            chunk = members[start:start + per_transaction]
            outcomes += _revoke_chunk(issuer, batch_id, tree, chunk, reason,
                                      effective_from or 0)
    issuer.indexer.catch_up()
    return outcomes


def _batch_tree(issuer: Issuer, batch_id: int) -> MerkleBatch | None:
    """The batch's Merkle tree from its projected documents, if it has the chain's root."""
    with issuer.sessions() as session:
        root = session.scalar(select(ChainBatch.root).where(ChainBatch.batch_id == batch_id))
        digests = session.scalars(select(ChainDocument.sha256).where(
            ChainDocument.batch_id == batch_id)).all()
    tree = MerkleBatch.of(bytes.fromhex(d) for d in digests)
    return tree if root is not None and tree.root.hex() == root else None


def _revoke_chunk(issuer: Issuer, batch_id: int, tree: MerkleBatch | None, chunk: list[str],
                  reason: RevocationReason, effective_from: int) -> list[RevocationOutcome]:
    if tree is None or issuer.client.version < 2:
        # No complete tree (or a version 1 contract): one proven revocation each.
        return [issuer.revoke(sha256, reason, effective_from=effective_from or None)
                for sha256 in chunk]
    multiproof = tree.multiproof(bytes.fromhex(s) for s in chunk)
    try:
        outcome = issuer.client.revoke_many(batch_id, multiproof, reason, effective_from)
    except ContractRevertError as exc:
        if exc.error_name == "RevocationAlreadyRevoked":
            raise DocumentAlreadyRevokedError(
                f"document 0x{bytes(exc.args_[1]).hex()} was revoked already",
                sha256=bytes(exc.args_[1]).hex()) from None
        raise
    return [RevocationOutcome(sha256, batch_id, reason, None, outcome.transaction_hash,
                              outcome.block_number) for sha256 in chunk]
