"""Contract version 2 on anvil: packed records read back right, the manifest CID rebuilt
from its event, `revokeMany` with OpenZeppelin multiproofs, and every revocation guarantee
of version 1 kept for both revocation paths."""

from __future__ import annotations

import hashlib
import random

import pytest

from anchor.chain import (
    CURRENT_VERSION,
    GovernanceAction,
    IssuerStatus,
    RegistryClient,
    RevocationReason,
    manifest_cid_of,
    manifest_cid_parts,
    probe_version,
    revoked_documents,
)
from anchor.cid import CODEC_DAG_PB, CODEC_RAW, Cid, compute_cid
from anchor.errors import ChainError
from anchor.merkle import MerkleBatch, MultiProof
from anchor.services.anvil import AnvilNode
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld, account, deploy_world
from tests.anchor.test_contract import anchored_batch, docs, reverts


@pytest.fixture
def world(anvil: AnvilNode) -> RegistryWorld:
    return deploy_world(anvil)


def test_contract_v2_reports_its_version(world: RegistryWorld) -> None:
    assert world.outsider.version == CURRENT_VERSION == 2
    assert probe_version(world.outsider.w3, world.outsider.address) == 2
    # An account without code does not answer: it reads as the version 1 interface.
    assert probe_version(world.outsider.w3, account(9).address) == 1


def test_contract_v2_batch_record_and_manifest_cid_come_back_exactly(world: RegistryWorld
                                                                    ) -> None:
    big_manifest = b"m" * 300_000  # more than one chunk: a dag-pb CID
    for manifest in (b"small manifest", big_manifest):
        cid = str(compute_cid(manifest))
        batch = MerkleBatch.of(docs(9, cid))
        anchored = world.ptb_operator.anchor_batch(batch.root, len(batch), cid)
        record = world.outsider.get_batch(anchored.batch.batch_id)
        block = world.outsider.w3.eth.get_block(record.block_number)
        assert (record.issuer_id, record.root, record.count, record.manifest_cid) == (
            PTB, batch.root, 9, cid)
        assert (record.anchored_at, record.operator) == (block["timestamp"], account(5).address)
        assert record.transaction_hash == anchored.transaction_hash
        assert world.outsider.batch_id_of_root(batch.root) == record.batch_id
        (event,) = [e for e in world.outsider.events(record.block_number, record.block_number)
                    if e.name == "BatchAnchored"]
        assert event.args["manifestCid"] == cid
    assert Cid.parse(str(compute_cid(big_manifest))).codec == CODEC_DAG_PB
    assert world.outsider.get_batch(999) is None


def test_contract_v2_manifest_cid_parts_round_trip_and_refuse_other_cids() -> None:
    raw = compute_cid(b"a manifest")
    digest, codec = manifest_cid_parts(str(raw))
    assert (digest, codec) == (raw.digest, CODEC_RAW)
    assert manifest_cid_of(digest, codec) == str(raw)
    v0 = Cid(0, CODEC_DAG_PB, raw.digest)  # a CIDv0 comes back in its CIDv1 form
    assert manifest_cid_of(*manifest_cid_parts(str(v0))) == str(Cid(1, CODEC_DAG_PB, raw.digest))
    for bad in ("", "manifest", str(Cid(1, 0x71, raw.digest))):  # dag-cbor: not rebuildable
        with pytest.raises(ChainError):
            manifest_cid_parts(bad)


def test_contract_v2_issuer_index_survives_retirement_for_readers(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.lab_operator, salt="retire")
    world.govern(GovernanceAction.set_issuer_status(LAB, IssuerStatus.RETIRED))
    # Retired: it cannot revoke any more, single or many ...
    with reverts("IssuerNotActive"):
        world.lab_operator.revoke_many(anchored.batch.batch_id, batch.multiproof(values[:2]),
                                       RevocationReason.WITHDRAWN)
    # ... but everyone still reads its batches as its own.
    assert world.outsider.get_batch(anchored.batch.batch_id).issuer_id == LAB
    verdict = world.outsider.verify(values[0], anchored.batch.batch_id, batch.proof(values[0]))
    assert verdict.anchored and verdict.issuer_id == LAB
    assert verdict.issuer_status_now is IssuerStatus.RETIRED


# ----------------------------------------------------------------- revokeMany


def test_contract_revoke_many_revokes_exactly_the_proven_documents(world: RegistryWorld
                                                                  ) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator, n=50, salt="many")
    chosen = random.Random(7).sample(values, 12)
    now = world.deployer.w3.eth.get_block("latest")["timestamp"]
    outcome = world.ptb_operator.revoke_many(anchored.batch.batch_id, batch.multiproof(chosen),
                                             RevocationReason.OUT_OF_TOLERANCE,
                                             effective_from=now - 86400)
    (event,) = outcome.events
    assert event.name == "DocumentsRevoked" and event.args["batchId"] == anchored.batch.batch_id
    assert sorted(h for h, _ in revoked_documents(event)) == sorted(chosen)
    for value in values:
        verdict = world.outsider.verify(value, anchored.batch.batch_id, batch.proof(value))
        assert verdict.anchored and verdict.revoked == (value in chosen)
        if value in chosen:
            assert verdict.revocation_reason is RevocationReason.OUT_OF_TOLERANCE
            assert verdict.effective_from == now - 86400 and verdict.replacement is None
            record = world.outsider.get_revocation(PTB, value)
            assert (record.batch_id, record.block_number) == (anchored.batch.batch_id,
                                                             outcome.block_number)


def test_contract_revoke_many_is_irreversible_and_all_or_nothing(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator, n=20, salt="atomic")
    batch_id = anchored.batch.batch_id
    world.ptb_operator.revoke(values[3], batch_id, batch.proof(values[3]),
                              RevocationReason.WITHDRAWN)
    with reverts("RevocationAlreadyRevoked"):  # one already revoked: none of them is
        world.ptb_operator.revoke_many(batch_id, batch.multiproof(values[:6]),
                                       RevocationReason.ERROR)
    assert all(world.outsider.get_revocation(PTB, v) is None for v in values[:3] + values[4:6])
    world.ptb_operator.revoke_many(batch_id, batch.multiproof(values[4:8]),
                                   RevocationReason.ERROR)
    with reverts("RevocationAlreadyRevoked"):
        world.ptb_operator.revoke(values[5], batch_id, batch.proof(values[5]),
                                  RevocationReason.SUPERSEDED, hashlib.sha256(b"new").digest())
    assert world.outsider.get_revocation(PTB, values[5]).reason is RevocationReason.ERROR


def test_contract_revoke_many_only_by_the_batch_issuer(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator, n=8, salt="owner")
    multiproof = batch.multiproof(values[:3])
    with reverts("RevocationNotBatchIssuer"):
        world.lab_operator.revoke_many(anchored.batch.batch_id, multiproof,
                                       RevocationReason.COMPROMISED)
    with reverts("IssuerUnauthorizedOperator"):
        world.outsider.revoke_many(anchored.batch.batch_id, multiproof,
                                   RevocationReason.COMPROMISED)
    # The LAB citing its own batch with PTB's documents: the multiproof fails.
    _, _, own = anchored_batch(world, world.lab_operator, n=8, salt="lab-own")
    with reverts("RevocationInvalidMultiproof"):
        world.lab_operator.revoke_many(own.batch.batch_id, multiproof,
                                       RevocationReason.COMPROMISED)
    assert all(world.outsider.get_revocation(PTB, v) is None for v in values)


def test_contract_revoke_many_refuses_invalid_multiproofs(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator, n=30, salt="forged")
    batch_id = anchored.batch.batch_id
    good = batch.multiproof(values[:5])
    stranger = hashlib.sha256(b"never anchored").digest()
    forged = [
        MultiProof((stranger, *good.document_digests[1:]), good.proof, good.proof_flags),
        MultiProof(good.document_digests, (bytes(32), *good.proof[1:]), good.proof_flags),
        MultiProof(tuple(reversed(good.document_digests)), good.proof, good.proof_flags),
        MultiProof(good.document_digests[:-1], good.proof, good.proof_flags),  # wrong shape
        MultiProof((), good.proof, good.proof_flags[:len(good.proof) - 1]),  # no documents
    ]
    for multiproof in forged:
        with reverts("RevocationInvalidMultiproof"):
            world.ptb_operator.revoke_many(batch_id, multiproof, RevocationReason.ERROR)
    with reverts("BatchRootUnknown"):
        world.ptb_operator.revoke_many(999, good, RevocationReason.ERROR)
    now = world.deployer.w3.eth.get_block("latest")["timestamp"]
    with reverts("RevocationInvalidArguments"):
        world.ptb_operator.revoke_many(batch_id, good, RevocationReason.ERROR,
                                       effective_from=now + 86400)
    assert all(world.outsider.get_revocation(PTB, v) is None for v in values)


def test_contract_revoke_many_a_whole_batch_and_a_single_document_batch(world: RegistryWorld
                                                                        ) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator, n=13, salt="whole")
    multiproof = batch.multiproof(values)
    assert multiproof.proof == ()  # every leaf given: nothing else is needed
    world.ptb_operator.revoke_many(anchored.batch.batch_id, multiproof,
                                   RevocationReason.WITHDRAWN)
    assert all(world.outsider.get_revocation(PTB, v) is not None for v in values)
    (single,) = docs(1, "single-many")
    one = world.ptb_operator.anchor_document(single, str(compute_cid(single)))
    world.ptb_operator.revoke_many(one.batch.batch_id, MerkleBatch.of([single]).multiproof(
        [single]), RevocationReason.WITHDRAWN)
    assert world.outsider.verify(single, one.batch.batch_id, []).revoked


def test_contract_pause_stops_revoke_many(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator, n=6, salt="paused")
    world.govern(GovernanceAction.pause())
    with reverts("EnforcedPause"):
        world.ptb_operator.revoke_many(anchored.batch.batch_id, batch.multiproof(values[:2]),
                                       RevocationReason.WITHDRAWN)
    world.govern(GovernanceAction.unpause())
    world.ptb_operator.revoke_many(anchored.batch.batch_id, batch.multiproof(values[:2]),
                                   RevocationReason.WITHDRAWN)


def test_contract_replacement_is_stored_only_when_given(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator, n=4, salt="replace")
    replacement = hashlib.sha256(b"the corrected one").digest()
    with_replacement = world.ptb_operator.revoke(
        values[0], anchored.batch.batch_id, batch.proof(values[0]), RevocationReason.SUPERSEDED,
        replacement)
    without = world.ptb_operator.revoke(values[1], anchored.batch.batch_id,
                                        batch.proof(values[1]), RevocationReason.WITHDRAWN)
    assert world.outsider.get_revocation(PTB, values[0]).replacement == replacement
    assert world.outsider.get_revocation(PTB, values[1]).replacement is None
    # One storage slot more (zero to non-zero: 22,100 gas, less calldata) for the replacement.
    assert 20_000 < with_replacement.gas_used - without.gas_used < 24_000


def test_contract_v1_client_calls_are_refused_on_v2(world: RegistryWorld) -> None:
    """A client that believes the contract is version 1 cannot call revokeMany at all."""
    v1 = RegistryClient(world.outsider.w3, world.outsider.address, version=1)
    with pytest.raises(ChainError):
        v1.revoke_many_call(1, MultiProof((b"\x01" * 32,), (), ()), RevocationReason.ERROR)
