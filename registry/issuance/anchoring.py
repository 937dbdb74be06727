"""Issuance's middle stages, sealing and anchoring: stored documents grouped in
submission order into batches (manifest to the content store, then one transaction),
and each sealed batch's root signed, committed and only then broadcast, so that after a
crash the same transaction is sent again rather than a second one."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from anchor.chain import AnchoredBatch, SignedTransaction
from anchor.errors import ChainError, ContractRevertError
from anchor.merkle import MerkleBatch
from registry.db import BatchState, DocumentState, IssuedDocument, OutboxBatch, transaction
from registry.db.rows import chunked
from registry.errors import ConfigurationError
from registry.index import BatchManifest, ManifestMember
from registry.issuance.outcomes import AnchoringOutcome, SealedBatch
from registry.issuance.state import DEFAULT_BATCH_SIZE, IssuerState

# What sealing reads of an outbox row.
_SEALED_COLUMNS = (IssuedDocument.id, IssuedDocument.sha256, IssuedDocument.cid,
                   IssuedDocument.document_type, IssuedDocument.encrypted,
                   IssuedDocument.unique_identifier)


class _SealedMeanwhile(Exception):
    """Rolls back a seal whose members another process assigned first."""


class AnchoringStage(IssuerState):
    """`Issuer.seal_batches` and `Issuer.anchor_pending`."""

    def seal_batches(self, batch_size: int = DEFAULT_BATCH_SIZE, *,
                     full_only: bool = False) -> list[SealedBatch]:
        """Group stored documents, in submission order, into batches of `batch_size` (the
        last may be smaller, unless `full_only`): manifest to the content store, then one
        transaction."""
        if batch_size < 1:
            raise ConfigurationError("the batch size is at least 1")
        with self.sessions() as session:
            pending = session.scalar(select(func.count()).select_from(IssuedDocument).where(
                IssuedDocument.issuer_id == self.issuer_hex,
                IssuedDocument.state == DocumentState.STORED.value))
        self.progress.phase("seal", pending)
        sealed: list[SealedBatch] = []
        lost_race_on: int | None = None
        while True:
            with self.sessions() as session:
                members = session.execute(
                    select(*_SEALED_COLUMNS).where(
                        IssuedDocument.issuer_id == self.issuer_hex,
                        IssuedDocument.state == DocumentState.STORED.value)
                    .order_by(IssuedDocument.id).limit(batch_size)).all()
                if not members or (full_only and len(members) < batch_size):
                    return sealed
                metadata = self._metadata_of(session, members)
            batch = self._seal(members, metadata)
            if batch is None:
                if lost_race_on == members[0].id:
                    raise ConfigurationError("cannot seal: the same documents keep being "
                                             "taken by another process")
                lost_race_on = members[0].id
                continue
            sealed.append(batch)
            self.progress.advance(len(batch.document_sha256s))

    def _metadata_of(self, session: Session, members: Sequence[Any]) -> list[Any]:
        """The members' metadata column, in order: as this object inserted it where it
        did, from the database for the rest (rows of an earlier run or another process)."""
        cached = self._recorded_metadata
        missing = [m.id for m in members if m.sha256 not in cached]
        stored = {row.id: row.metadata for chunk in chunked(missing) for row in session.execute(
            select(IssuedDocument.id, IssuedDocument.public_metadata.label("metadata"))
            .where(IssuedDocument.id.in_(chunk)))}
        return [cached.pop(m.sha256) if m.sha256 in cached else stored[m.id]
                for m in members]

    def _seal(self, members: Sequence[Any], metadata: Sequence[Any]) -> SealedBatch | None:
        with self.timings.measure("batch"):
            tree = MerkleBatch.of(bytes.fromhex(m.sha256) for m in members)
            root = tree.root.hex()
            manifest = BatchManifest(self.issuer_hex, root, tuple(
                ManifestMember.published(m.sha256, m.cid, m.document_type, m.encrypted,
                                         m.unique_identifier, value)
                for m, value in zip(members, metadata, strict=True)))
            manifest_cid = str(self.store.put(manifest.to_bytes()))
            ids = [m.id for m in members]
            try:
                with transaction(self.sessions) as session:
                    session.add(OutboxBatch(root=root, issuer_id=self.issuer_hex,
                                            count=len(members), manifest_cid=manifest_cid,
                                            state=BatchState.SEALED.value))
                    session.flush()
                    assigned = session.execute(
                        update(IssuedDocument)
                        .where(IssuedDocument.id.in_(ids),
                               IssuedDocument.state == DocumentState.STORED.value)
                        .values(state=DocumentState.BATCHED.value, batch_root=root)).rowcount
                    if assigned != len(ids):
                        raise _SealedMeanwhile
            except (_SealedMeanwhile, IntegrityError):
                # Another process sealed some of them first: nothing was written; go on.
                return None
        if self.indexer.store is self.store:  # the bytes the indexer would read for the CID
            self.indexer.manifests.remember(manifest_cid, manifest, tree)
        return SealedBatch(root, manifest_cid, tuple(m.sha256 for m in members))

    def anchor_pending(self) -> list[AnchoringOutcome]:
        """Get every sealed or submitted batch onto the chain, exactly once each."""
        with self.sessions() as session:
            batches = session.scalars(select(OutboxBatch).where(
                OutboxBatch.issuer_id == self.issuer_hex,
                OutboxBatch.state.in_([BatchState.SEALED.value, BatchState.SUBMITTED.value]))
                .order_by(OutboxBatch.id)).all()
        self.progress.phase("anchor", len(batches))
        outcomes = []
        for batch in batches:
            with self.timings.measure("anchor"):
                outcomes.append(self._anchor(batch))
            self.progress.advance()
        return outcomes

    def _anchor(self, batch: OutboxBatch) -> AnchoringOutcome:
        root = bytes.fromhex(batch.root)
        if batch.signed_tx is None:
            found = self.client.find_anchoring(root)
            if found is not None:
                return self._outcome(batch, found)
            signed = self._sign_and_persist(batch)
            if signed is None:
                return self._outcome(batch, self.client.complete_anchoring(root, None))
            return self._outcome(batch, self.client.complete_anchoring(root, signed))
        persisted = SignedTransaction(bytes.fromhex(batch.signed_tx), batch.tx_hash or "",
                                      batch.tx_nonce or 0, batch.tx_sender or "")
        try:
            return self._outcome(batch, self.client.complete_anchoring(root, persisted))
        except ContractRevertError:
            raise
        except ChainError as exc:
            if not exc.message.startswith("nonce already used"):
                raise
        # The persisted transaction can never be mined (its nonce went to another
        # transaction). Sign again only if the root is really not on chain.
        found = self.client.find_anchoring(root)
        if found is not None:
            return self._outcome(batch, found)
        signed = self._sign_and_persist(batch, replace=True)
        assert signed is not None
        return dataclasses.replace(
            self._outcome(batch, self.client.complete_anchoring(root, signed)), re_signed=True)

    def _sign_and_persist(self, batch: OutboxBatch, *,
                          replace: bool = False) -> SignedTransaction | None:
        """Sign the anchoring and commit it before anything is sent; None if the root
        turned out to be anchored already."""
        root = bytes.fromhex(batch.root)
        try:
            signed = self.client.prepare_anchor_batch(root, batch.count, batch.manifest_cid)
        except ContractRevertError as exc:
            if exc.error_name == "BatchRootAlreadyAnchored":
                return None
            raise
        with transaction(self.sessions) as session:
            condition = [OutboxBatch.id == batch.id]
            if not replace:
                condition.append(OutboxBatch.signed_tx.is_(None))
            stored = session.execute(update(OutboxBatch).where(*condition).values(
                signed_tx=signed.raw.hex(), tx_hash=signed.transaction_hash,
                tx_nonce=signed.nonce, tx_sender=signed.sender,
                state=BatchState.SUBMITTED.value,
                submitted_at=dt.datetime.now(dt.UTC))).rowcount
        if stored != 1:
            raise ConfigurationError("another process is anchoring this batch")
        return signed

    @staticmethod
    def _outcome(batch: OutboxBatch, anchored: AnchoredBatch) -> AnchoringOutcome:
        return AnchoringOutcome(batch.root, anchored.batch.batch_id, anchored.transaction_hash,
                                anchored.already_anchored)
