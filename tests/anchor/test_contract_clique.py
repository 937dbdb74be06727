"""CertificateRegistry on a real permissioned network: three geth Clique signers.

The same bytecode and client as on anvil, now with proof-of-authority blocks (97-byte
extraData, hence the POA middleware `connect()` adds), real propagation between nodes,
confirmations that take real blocks, and a signer going down and coming back.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from anchor.chain import (
    GovernanceAction,
    IssuerKind,
    IssuerStatus,
    RegistryClient,
    RevocationReason,
    connect,
    issuer_id_from_name,
)
from anchor.errors import ContractRevertError, ServiceError
from anchor.merkle import MerkleBatch
from anchor.services._process import wait_until
from anchor.services.geth import CLIQUE_CHAIN_ID, CliqueNetwork, GethNode, geth_binary
from tests.anchor.registry_fixtures import cid_of
from tests.conftest import require

PTB = issuer_id_from_name("PTB")
CONFIRMATIONS = 2


@pytest.fixture(scope="module")
def clique(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliqueNetwork]:
    try:
        geth_binary()
    except ServiceError as exc:
        require(False, exc.message)
    try:
        network = CliqueNetwork.start(tmp_path_factory.mktemp("clique"), signers=3)
    except ServiceError as exc:
        require(False, f"Clique network could not start: {exc} {exc.details.get('log', '')}")
        raise
    yield network
    network.stop()


@dataclass
class CliqueRegistry:
    """The registry deployed through node0; each governor talks to a different node."""

    network: CliqueNetwork
    deployer: RegistryClient
    governors: list[RegistryClient]
    ptb_operator: RegistryClient
    outsider: RegistryClient
    spare: LocalAccount

    def reader(self, node: GethNode) -> RegistryClient:
        """A read-only client on another node's RPC, as a customer or auditor would use."""
        return RegistryClient(connect(node.rpc_url), self.deployer.address,
                              deployment_block=self.deployer.deployment_block)


def _client(network: CliqueNetwork, node: GethNode, address: str, account: LocalAccount,
            deployment_block: int) -> RegistryClient:
    return RegistryClient(connect(node.rpc_url), address, account=account,
                          confirmations=CONFIRMATIONS, deployment_block=deployment_block)


@pytest.fixture(scope="module")
def registry(clique: CliqueNetwork) -> CliqueRegistry:
    deployer, gov0, gov1, gov2, ptb_admin, ptb_operator, outsider, spare = clique.accounts[:8]
    node0, node1, node2 = clique.nodes
    client, deployment = RegistryClient.deploy(
        connect(node0.rpc_url), deployer, [gov0.address, gov1.address, gov2.address], 2,
        confirmations=CONFIRMATIONS)
    assert deployment.chain_id == CLIQUE_CHAIN_ID
    block = deployment.block_number
    governors = [_client(clique, node, deployment.address, account, block)
                 for node, account in ((node0, gov0), (node1, gov1), (node2, gov2))]
    proposal_id, _ = governors[0].propose(GovernanceAction.register_issuer(
        PTB, "DE", IssuerKind.NATIONAL_METROLOGY_INSTITUTE, ptb_admin.address, "bafy-ptb"))
    governors[1].approve(proposal_id)
    _client(clique, node0, deployment.address, ptb_admin, block).add_operator(
        PTB, ptb_operator.address)
    return CliqueRegistry(
        network=clique, deployer=client, governors=governors,
        ptb_operator=_client(clique, node0, deployment.address, ptb_operator, block),
        outsider=_client(clique, node1, deployment.address, outsider, block), spare=spare)


def documents(n: int, salt: str) -> list[bytes]:
    return [hashlib.sha256(f"{salt}-certificate-{i}".encode()).digest() for i in range(n)]


def wait_for_block(node: GethNode, number: int, timeout: float = 30.0) -> None:
    wait_until(lambda: node.block_number() >= number, timeout,
               f"{node.name} reaching block {number}", node.process, node.log_path)


def test_contract_clique_network_is_permissioned_poa_paris(clique: CliqueNetwork) -> None:
    assert len(set(clique.signers)) == 3
    for node in clique.nodes:
        assert node.peer_count() == 2
        assert connect(node.rpc_url).eth.chain_id == CLIQUE_CHAIN_ID != 31337
    # Every signer seals in turn; no block comes from anyone else.
    sealed = clique.wait_sealing(clique.signers)
    assert set(sealed) == set(clique.signers)
    w3 = connect(clique.nodes[1].rpc_url)
    head = w3.eth.get_block("latest")
    parent = w3.eth.get_block(head["number"] - 1)
    # 32 bytes of vanity + a 65-byte seal: what web3 rejects without the POA middleware,
    # which moves it to proofOfAuthorityData.
    assert len(head["proofOfAuthorityData"]) == 32 + 65
    assert head["timestamp"] - parent["timestamp"] >= clique.period
    assert head["baseFeePerGas"] > 0  # London is on ...
    assert "withdrawalsRoot" not in head  # ... Shanghai is not (the contract targets paris)


def test_contract_clique_governance_needs_two_of_three_nodes(registry: CliqueRegistry) -> None:
    vniim = issuer_id_from_name("VNIIM")
    node1 = registry.network.nodes[1]
    proposal_id, proposed = registry.governors[0].propose(GovernanceAction.register_issuer(
        vniim, "RU", IssuerKind.NATIONAL_METROLOGY_INSTITUTE, registry.spare.address, "bafy-v"))
    wait_for_block(node1, proposed.block_number)
    assert registry.reader(node1).get_issuer(vniim).status is IssuerStatus.NONE
    assert not registry.reader(node1).get_proposal(proposal_id).executed
    # The second governor approves through a third node; that executes the proposal.
    approved = registry.governors[2].approve(proposal_id)
    wait_for_block(node1, approved.block_number)
    assert registry.reader(node1).get_issuer(vniim).status is IssuerStatus.ACTIVE
    assert registry.reader(node1).get_proposal(proposal_id).executed
    with pytest.raises(ContractRevertError) as info:
        registry.governors[1].approve(proposal_id)
    assert info.value.error_name == "GovernanceProposalAlreadyExecuted"


def test_contract_clique_anchor_then_verify_through_another_node(
        registry: CliqueRegistry) -> None:
    node0, node1, _ = registry.network.nodes
    values = documents(5, "anchor")
    batch = MerkleBatch.of(values)
    anchored = registry.ptb_operator.anchor_batch(batch.root, len(batch), cid_of("manifest-1"))
    # confirmations=2: the client returned only once a block was built on top.
    assert node0.block_number() >= anchored.batch.block_number + CONFIRMATIONS - 1
    assert not anchored.already_anchored and anchored.batch.issuer_id == PTB

    wait_for_block(node1, anchored.batch.block_number)
    reader = registry.reader(node1)
    for value in values:
        verdict = reader.verify(value, anchored.batch.batch_id, batch.proof(value))
        assert verdict.anchored and not verdict.revoked
        assert verdict.issuer_id == PTB and verdict.issuer_status_now is IssuerStatus.ACTIVE
        assert verdict.anchored_block == anchored.batch.block_number
    stranger = hashlib.sha256(b"never anchored").digest()
    assert not reader.verify(stranger, anchored.batch.batch_id, batch.proof(values[0])).anchored
    # Anchoring the same root again returns the first anchoring instead of a second batch.
    again = registry.ptb_operator.anchor_batch(batch.root, len(batch), cid_of("manifest-1"))
    assert again.already_anchored and again.batch.batch_id == anchored.batch.batch_id


def test_contract_clique_revocation_with_proof_is_seen_everywhere(
        registry: CliqueRegistry) -> None:
    values = documents(4, "revoke")
    batch = MerkleBatch.of(values)
    anchored = registry.ptb_operator.anchor_batch(batch.root, len(batch), cid_of("manifest-2"))
    batch_id = anchored.batch.batch_id
    with pytest.raises(ContractRevertError) as info:
        registry.outsider.revoke(values[1], batch_id, batch.proof(values[1]),
                                 RevocationReason.COMPROMISED)
    assert info.value.error_name == "IssuerUnauthorizedOperator"
    with pytest.raises(ContractRevertError) as info:
        registry.ptb_operator.revoke(values[1], batch_id, batch.proof(values[2]),
                                     RevocationReason.SUPERSEDED)
    assert info.value.error_name == "RevocationInvalidProof"

    replacement = hashlib.sha256(b"corrected certificate").digest()
    outcome = registry.ptb_operator.revoke(values[1], batch_id, batch.proof(values[1]),
                                           RevocationReason.SUPERSEDED, replacement)
    assert [event.name for event in outcome.events] == ["DocumentRevoked"]
    for node in registry.network.nodes:
        wait_for_block(node, outcome.block_number)
        reader = registry.reader(node)
        verdict = reader.verify(values[1], batch_id, batch.proof(values[1]))
        assert verdict.anchored and verdict.revoked
        assert verdict.revocation_reason is RevocationReason.SUPERSEDED
        assert verdict.replacement == replacement
        assert not reader.verify(values[0], batch_id, batch.proof(values[0])).revoked


def test_contract_clique_keeps_sealing_and_anchoring_with_one_signer_down(
        registry: CliqueRegistry) -> None:
    network = registry.network
    node0, node1, node2 = network.nodes
    node2.stop()
    try:
        assert not node2.running
        # Clique with 3 signers needs 2: the others take over node2's turns.
        sealed = network.wait_sealing([node0.signer, node1.signer], node=node0)
        assert node2.signer not in sealed
        values = documents(3, "degraded")
        batch = MerkleBatch.of(values)
        anchored = registry.ptb_operator.anchor_batch(batch.root, len(batch), cid_of("manifest-3"))
        assert node0.block_number() >= anchored.batch.block_number + CONFIRMATIONS - 1
        wait_for_block(node1, anchored.batch.block_number)
        assert registry.reader(node1).verify(values[2], anchored.batch.batch_id,
                                             batch.proof(values[2])).anchored
    finally:
        with contextlib.suppress(ServiceError):
            network.restart(node2)
    # Back on its old data, node2 catches up on what it missed and seals again.
    assert registry.reader(node2).verify(values[2], anchored.batch.batch_id,
                                         batch.proof(values[2])).anchored
    assert node2.signer in network.wait_sealing(network.signers, node=node2)
