"""The indexer: idempotent, resumable, reorg-aware, and rebuildable from chain + IPFS."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from anchor.chain import RevocationReason
from anchor.cid import compute_cid
from anchor.merkle import MerkleBatch
from anchor.services.anvil import AnvilNode
from registry.db import (
    AuditEvent,
    BatchState,
    ChainBatch,
    ChainDocument,
    ChainIssuer,
    ChainRevocation,
    DocumentState,
    IndexerState,
    IssuedDocument,
    OutboxBatch,
    open_database,
)
from registry.errors import DatabaseStateError
from registry.index import BatchManifest, Indexer, ManifestMember
from registry.issuance import Issuer
from tests.anchor.registry_fixtures import PTB, RegistryWorld, account, deploy_world
from tests.registry.conftest import MakeDccs


def _projection(issuer: Issuer) -> dict[str, set[tuple]]:
    """Every projection row, without surrogate ids: what a rebuild must reproduce."""
    with issuer.sessions() as session:
        return {
            "batches": {(b.batch_id, b.root, b.count, b.manifest_cid, b.manifest_status,
                         b.block_number, b.block_hash, b.tx_hash, b.log_index, b.anchored_at)
                        for b in session.scalars(select(ChainBatch))},
            "documents": {(d.sha256, d.batch_id, d.cid, d.encrypted, tuple(d.proof),
                           d.unique_identifier) for d in session.scalars(select(ChainDocument))},
            "revocations": {(r.document_sha256, r.reason, r.replacement, r.tx_hash)
                            for r in session.scalars(select(ChainRevocation))},
            "issuers": {(i.issuer_id, i.country, i.status, i.admin, tuple(i.operators))
                        for i in session.scalars(select(ChainIssuer))},
            "events": {(e.name, e.tx_hash, e.log_index, e.block_hash, e.actor)
                       for e in session.scalars(select(AuditEvent))},
        }


def test_index_catch_up_is_idempotent(issuer: Issuer, make_dccs: MakeDccs,
                                      tmp_path: Path) -> None:
    issuer.run(make_dccs(tmp_path / "in", 6, "IDEM"), batch_size=3)
    before = _projection(issuer)
    assert len(before["batches"]) == 2 and len(before["documents"]) == 6
    again = issuer.indexer.catch_up()
    assert again.events == 0 and again.batches == 0
    # A second indexer over the same database (e.g. the API process) adds nothing either.
    Indexer(issuer.client, issuer.sessions, issuer.store).catch_up()
    assert _projection(issuer) == before


def test_index_projects_issuers_operators_and_every_event(issuer: Issuer,
                                                          world: RegistryWorld) -> None:
    issuer.indexer.catch_up()
    projection = _projection(issuer)
    issuers = {row[0]: row for row in projection["issuers"]}
    ptb = issuers[PTB.hex()]
    assert ptb[1:4] == ("DE", "active", account(4).address)
    assert ptb[4] == (account(5).address,)
    names = [e[0] for e in projection["events"]]
    assert names.count("IssuerRegistered") == 2 and names.count("OperatorAdded") == 2
    with issuer.sessions() as session:
        state = session.get(IndexerState, issuer.client.address)
        assert state.last_block == issuer.client.w3.eth.block_number
        assert state.last_block_hash == "0x" + bytes(
            issuer.client.w3.eth.get_block(state.last_block)["hash"]).hex()


def test_index_resumes_where_it_stopped(issuer: Issuer, make_dccs: MakeDccs,
                                        tmp_path: Path) -> None:
    issuer.submit(make_dccs(tmp_path / "in", 4, "RESUME"))
    issuer.seal_batches(1)
    issuer.anchor_pending()
    # Index in one-block chunks and stop half way, as a crash would.
    first = Indexer(issuer.client, issuer.sessions, issuer.store, chunk_blocks=1)
    head = issuer.client.w3.eth.block_number
    first._load_state()
    for block in range(issuer.client.deployment_block, head - 1):
        first._index_chunk(block, block)
    with issuer.sessions() as session:
        indexed = session.scalar(select(func.count()).select_from(ChainBatch))
    assert 0 < indexed < 4
    report = Indexer(issuer.client, issuer.sessions, issuer.store).catch_up()
    assert report.from_block == head - 1 and report.batches == 4 - indexed
    with issuer.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ChainBatch)) == 4
        assert session.scalar(select(func.count()).select_from(ChainDocument)) == 4


def test_index_rebuild_from_chain_and_ipfs_gives_the_same_rows(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path) -> None:
    report = issuer.run(make_dccs(tmp_path / "in", 9, "REBUILD"), batch_size=4)
    issuer.revoke(report.submissions[0].sha256, RevocationReason.WITHDRAWN)
    before = _projection(issuer)

    rebuilt = issuer.indexer.rebuild()
    assert rebuilt.batches == 3 and rebuilt.revocations == 1
    assert _projection(issuer) == before

    # A brand-new database, rebuilt from nothing but the chain and the content store.
    fresh = open_database(f"sqlite:///{tmp_path / 'fresh.db'}")
    Indexer(issuer.client, fresh, issuer.store).catch_up()
    fresh_issuer = Issuer(client=issuer.client, store=issuer.store, sessions=fresh,
                          issuer_id=issuer.issuer_id, data_dir=tmp_path / "fresh",
                          signing_identity=None, indexer=issuer.indexer)
    assert _projection(fresh_issuer) == before
    assert fresh_issuer.receipt_for(report.submissions[4].sha256) == \
        report.submissions[4].receipt


def test_index_rolls_back_orphaned_blocks_after_a_reorg(
        anvil: AnvilNode, issuer: Issuer, make_dccs: MakeDccs, settings,
        tmp_path: Path) -> None:
    issuer.run(make_dccs(tmp_path / "kept", 2, "KEPT"), batch_size=2)
    fork = anvil.snapshot()
    # On the branch that will be orphaned: a batch, anchored and indexed.
    orphaned = issuer.run(make_dccs(tmp_path / "lost", 2, "LOST"), batch_size=2)
    lost_root = orphaned.sealed[0].root
    assert issuer.client.batch_count() == 2
    with issuer.sessions() as session:
        assert session.scalar(select(ChainBatch).where(ChainBatch.root == lost_root))

    anvil.revert(fork)
    anvil.mine(5)  # the new branch: other blocks, longer than the old one
    restarted = Issuer.from_settings(settings)  # fresh nonces after the revert
    report = restarted.indexer.catch_up()

    assert report.reorg_rolled_back_to is not None
    with restarted.sessions() as session:
        assert session.scalar(select(ChainBatch).where(ChainBatch.root == lost_root)) is None
        outbox = session.scalar(select(OutboxBatch).where(OutboxBatch.root == lost_root))
        assert outbox.state == BatchState.SUBMITTED, "back in the outbox"
        assert set(session.scalars(select(IssuedDocument.state).where(
            IssuedDocument.batch_root == lost_root))) == {DocumentState.BATCHED}
        assert session.scalar(select(func.count()).select_from(ChainBatch)) == 1

    # Resuming re-sends the very same signed transaction; the batch lands on the new branch.
    resumed = restarted.resume()
    assert resumed.anchored[0].transaction_hash == orphaned.anchored[0].transaction_hash
    assert restarted.client.batch_count() == 2 and resumed.pending_documents == 0
    assert _projection(restarted)["batches"] == _projection(
        _rebuilt(restarted))["batches"]


def _rebuilt(issuer: Issuer) -> Issuer:
    issuer.indexer.rebuild()
    return issuer


def test_index_waits_for_confirmations(issuer: Issuer, make_dccs: MakeDccs,
                                       tmp_path: Path, anvil: AnvilNode) -> None:
    issuer.submit(make_dccs(tmp_path / "in", 1, "CONF"))
    issuer.seal_batches(1)
    issuer.anchor_pending()
    cautious = Indexer(issuer.client, issuer.sessions, issuer.store, confirmations=3)
    assert cautious.catch_up().batches == 0, "mined, but without 2 blocks on top yet"
    anvil.mine(2)
    assert cautious.catch_up().batches == 1


def test_index_fetches_a_missing_manifest_later(issuer: Issuer, world: RegistryWorld,
                                                tmp_path: Path) -> None:
    digests = [bytes([i]) * 32 for i in range(1, 4)]
    tree = MerkleBatch.of(digests)
    manifest = BatchManifest(PTB.hex(), tree.root.hex(), tuple(
        ManifestMember(d.hex(), "bafkreidummy", "dcc", False, None, None) for d in digests))
    manifest_cid = str(compute_cid(manifest.to_bytes(), issuer.store.import_options))
    issuer.client.anchor_batch(tree.root, 3, manifest_cid)  # manifest not stored (yet)

    report = issuer.indexer.catch_up()
    assert report.batches == 1 and report.manifests_missing == 1
    issuer.store.put(manifest.to_bytes())
    assert issuer.indexer.catch_up().manifests_missing == 0
    with issuer.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ChainDocument)) == 3


def test_index_refuses_a_database_of_another_contract(issuer: Issuer, anvil: AnvilNode) -> None:
    issuer.indexer.catch_up()
    other = deploy_world(anvil)
    with pytest.raises(DatabaseStateError):
        Indexer(other.ptb_operator, issuer.sessions, issuer.store).catch_up()
