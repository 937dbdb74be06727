"""A registry deployed with contract version 1 stays readable and its receipts keep
verifying after the switch to version 2 (README "Contract versions and migration")."""

from __future__ import annotations

import json

import pytest
from web3 import Web3

from anchor.chain import (
    V1_ARTIFACT_PATH,
    GovernanceAction,
    IssuerKind,
    RegistryClient,
    RevocationReason,
    connect,
    revoked_documents,
)
from anchor.errors import ChainError
from anchor.merkle import MerkleBatch
from anchor.receipt import Receipt, Verdict, verify_receipt
from anchor.services.anvil import AnvilNode
from tests.anchor.registry_fixtures import PTB, account, cid_of, deploy_world
from tests.anchor.test_contract import docs


def deploy_v1(w3: Web3) -> str:
    """The version 1 artifact as released, deployed with governors 1-3 (2 of 3)."""
    artifact = json.loads(V1_ARTIFACT_PATH.read_text())
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    governors = [account(i).address for i in (1, 2, 3)]
    tx = factory.constructor(governors, 2).transact({"from": account(0).address})
    return w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]


@pytest.fixture
def v1(anvil: AnvilNode) -> dict[str, RegistryClient]:
    w3 = connect(anvil.rpc_url)
    address = deploy_v1(w3)
    client = {name: RegistryClient(w3, address, account=account(i), poll_interval=0.005)
              for name, i in (("g1", 1), ("g2", 2), ("admin", 4), ("operator", 5))}
    proposal, _ = client["g1"].propose(GovernanceAction.register_issuer(
        PTB, "DE", IssuerKind.NATIONAL_METROLOGY_INSTITUTE, account(4).address, "bafy-ptb"))
    client["g2"].approve(proposal)
    client["admin"].add_operator(PTB, account(5).address)
    client["reader"] = RegistryClient(w3, address)
    return client


def test_contract_v1_registry_is_read_as_version_1(v1: dict[str, RegistryClient]) -> None:
    assert {c.version for c in v1.values()} == {1}
    values = docs(6, "v1")
    batch = MerkleBatch.of(values)
    manifest = "bafy-any-text-v1-accepted"  # version 1 stored the CID as a string
    anchored = v1["operator"].anchor_batch(batch.root, len(batch), manifest)
    record = v1["reader"].get_batch(anchored.batch.batch_id)
    assert (record.root, record.manifest_cid, record.operator) == (
        batch.root, manifest, account(5).address)
    assert v1["operator"].anchor_batch(batch.root, len(batch), manifest).already_anchored
    (event,) = [e for e in v1["reader"].events(0, "latest") if e.name == "BatchAnchored"]
    assert event.args["manifestCid"] == manifest
    outcome = v1["operator"].revoke(values[1], record.batch_id, batch.proof(values[1]),
                                    RevocationReason.WITHDRAWN)
    assert revoked_documents(outcome.events[0]) == [(values[1], None)]
    assert v1["reader"].verify(values[1], record.batch_id, batch.proof(values[1])).revoked
    with pytest.raises(ChainError):  # version 1 has no batched revocation
        v1["operator"].revoke_many(record.batch_id, batch.multiproof(values[2:4]),
                                   RevocationReason.WITHDRAWN)


def test_contract_v1_receipts_verify_beside_a_v2_registry(anvil: AnvilNode,
                                                          v1: dict[str, RegistryClient]) -> None:
    values = docs(3, "v1-receipt")
    batch = MerkleBatch.of(values)
    anchored = v1["operator"].anchor_batch(batch.root, len(batch), cid_of("v1-manifest"))
    record = anchored.batch
    header = v1["reader"].block_header(record.block_number)
    receipts = [Receipt(
        document_sha256="0x" + value.hex(), cid=cid_of(value.hex()), batch_id=record.batch_id,
        merkle_root="0x" + record.root.hex(), proof=tuple("0x" + p.hex() for p in
                                                          batch.proof(value)),
        chain_id=v1["reader"].chain_id, contract_address=v1["reader"].address,
        transaction_hash=anchored.transaction_hash, block_number=record.block_number,
        block_hash=header.hash, issuer_id="0x" + PTB.hex(), anchored_at=record.anchored_at,
        manifest_cid=record.manifest_cid, encrypted=False) for value in values]
    # The registry moves on to version 2 at another address; the old receipts name v1's.
    world = deploy_world(anvil)
    assert world.outsider.version == 2
    v1["operator"].revoke(values[2], record.batch_id, batch.proof(values[2]),
                          RevocationReason.ERROR)
    verdicts = [verify_receipt(r, world.outsider).verdict for r in receipts]
    assert verdicts == [Verdict.VALID, Verdict.VALID, Verdict.REVOKED]
    # A receipt pointed at the v2 address (where batch 1 is something else) is invalid.
    moved = Receipt.from_dict({**receipts[0].to_dict(), "contract_address": world.outsider.address})
    assert verify_receipt(moved, world.outsider).verdict is Verdict.INVALID
