"""CertificateRegistry on a real anvil node: every role and every revert path."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
from eth_utils import to_checksum_address

from anchor.chain import (
    GovernanceAction,
    IssuerKind,
    IssuerStatus,
    RegistryClient,
    RevocationReason,
    connect,
    issuer_id_from_name,
)
from anchor.errors import ChainError, ContractRevertError
from anchor.merkle import MerkleBatch
from anchor.services.anvil import AnvilNode
from tests.anchor.registry_fixtures import (
    CID,
    LAB,
    PTB,
    RegistryWorld,
    account,
    cid_of,
    deploy_world,
)


@pytest.fixture
def world(anvil: AnvilNode) -> RegistryWorld:
    return deploy_world(anvil)


def docs(n: int, salt: str = "") -> list[bytes]:
    return [hashlib.sha256(f"{salt}certificate-{i}".encode()).digest() for i in range(n)]


def reverts(name: str):
    """Assert the contract reverted with the custom error `name`."""

    class _Check:
        def __enter__(self) -> None:
            return None

        def __exit__(self, exc_type, exc, tb) -> bool:
            assert exc_type is ContractRevertError, f"expected revert {name}, got {exc!r}"
            assert exc.error_name == name, f"expected {name}, got {exc.error_name}{exc.args_}"
            return True

    return _Check()


def anchored_batch(world: RegistryWorld, operator: RegistryClient, n: int = 4, salt: str = ""):
    values = docs(n, salt)
    batch = MerkleBatch.of(values)
    return values, batch, operator.anchor_batch(batch.root, len(batch), cid_of(f"manifest{salt}"))


# ------------------------------------------------------------------ deployment


def test_contract_deploys_with_governors_and_threshold(world: RegistryWorld) -> None:
    assert world.deployer.threshold() == 2
    assert world.deployer.governors() == [account(i).address for i in (1, 2, 3)]
    assert not world.deployer.paused()


@pytest.mark.parametrize("governors,threshold", [((1, 2), 0), ((1, 2), 3), ((1, 1), 1), ((), 1)])
def test_contract_constructor_rejects_bad_governance(anvil: AnvilNode, governors: tuple,
                                                     threshold: int) -> None:
    w3 = connect(anvil.rpc_url)
    with pytest.raises(ContractRevertError) as info:
        RegistryClient.deploy(w3, account(0), [account(i).address for i in governors], threshold)
    assert info.value.error_name in {"GovernanceInvalidThreshold", "GovernanceInvalidGovernor"}


# ------------------------------------------------------------------ governance


def test_contract_governor_alone_below_threshold_changes_nothing(world: RegistryWorld) -> None:
    new_issuer = issuer_id_from_name("VNIIM")
    proposal_id, _ = world.governors[0].propose(GovernanceAction.register_issuer(
        new_issuer, "RU", IssuerKind.NATIONAL_METROLOGY_INSTITUTE, world.spare.address, "cid"))
    proposal = world.deployer.get_proposal(proposal_id)
    assert not proposal.executed and proposal.approvals == 1
    assert world.deployer.get_issuer(new_issuer).status is IssuerStatus.NONE
    # The second distinct governor's approval executes it.
    world.governors[2].approve(proposal_id)
    assert world.deployer.get_issuer(new_issuer).status is IssuerStatus.ACTIVE
    assert world.deployer.get_proposal(proposal_id).executed


def test_contract_double_approval_by_one_governor_is_rejected(world: RegistryWorld) -> None:
    proposal_id, _ = world.governors[0].propose(GovernanceAction.pause())
    with reverts("GovernanceAlreadyApproved"):
        world.governors[0].approve(proposal_id)
    assert not world.deployer.paused()


def test_contract_replayed_proposal_is_rejected(world: RegistryWorld) -> None:
    proposal_id = world.govern(GovernanceAction.set_issuer_status(LAB, IssuerStatus.SUSPENDED))
    world.govern(GovernanceAction.set_issuer_status(LAB, IssuerStatus.ACTIVE))
    # Approving the executed suspension again must not suspend the issuer a second time.
    with reverts("GovernanceProposalAlreadyExecuted"):
        world.governors[2].approve(proposal_id)
    assert world.deployer.get_issuer(LAB).status is IssuerStatus.ACTIVE


def test_contract_non_governor_cannot_propose_or_approve(world: RegistryWorld) -> None:
    with reverts("GovernanceUnauthorizedAccount"):
        world.outsider.propose(GovernanceAction.pause())
    proposal_id, _ = world.governors[0].propose(GovernanceAction.pause())
    with reverts("GovernanceUnauthorizedAccount"):
        world.ptb_admin.approve(proposal_id)
    with reverts("GovernanceUnknownProposal"):
        world.governors[1].approve(proposal_id + 100)


def test_contract_governor_set_change_makes_pending_proposals_stale(world: RegistryWorld) -> None:
    pending, _ = world.governors[0].propose(GovernanceAction.pause())
    world.govern(GovernanceAction.add_governor(world.spare.address))
    assert world.spare.address in world.deployer.governors()
    with reverts("GovernanceProposalStale"):
        world.governors[1].approve(pending)
    world.govern(GovernanceAction.set_threshold(3))
    assert world.deployer.threshold() == 3
    world.govern(GovernanceAction.remove_governor(world.spare.address))  # needs the 3rd approval
    assert world.deployer.threshold() == 3


def test_contract_threshold_above_governor_count_is_rejected(world: RegistryWorld) -> None:
    proposal_id, _ = world.governors[0].propose(GovernanceAction.set_threshold(4))
    with reverts("GovernanceInvalidThreshold"):
        world.governors[1].approve(proposal_id)
    world.govern(GovernanceAction.set_threshold(3))
    removal = world.governors[0].propose(GovernanceAction.remove_governor(account(3).address))[0]
    world.governors[1].approve(removal)
    with reverts("GovernanceInvalidThreshold"):  # 2 governors could never reach 3
        world.governors[2].approve(removal)


def test_contract_pause_stops_anchoring_and_revocation(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator)
    world.govern(GovernanceAction.pause())
    with reverts("EnforcedPause"):
        world.ptb_operator.anchor_batch(b"\x11" * 32, 1, CID)
    with reverts("EnforcedPause"):
        world.ptb_operator.revoke(values[0], anchored.batch.batch_id, batch.proof(values[0]),
                                  RevocationReason.WITHDRAWN)
    world.govern(GovernanceAction.unpause())
    world.ptb_operator.anchor_batch(b"\x11" * 32, 1, CID)


# --------------------------------------------------------------------- issuers


def test_contract_issuer_record_and_operator_management(world: RegistryWorld) -> None:
    issuer = world.deployer.get_issuer(PTB)
    assert (issuer.country, issuer.kind, issuer.status) == (
        "DE", IssuerKind.NATIONAL_METROLOGY_INSTITUTE, IssuerStatus.ACTIVE)
    assert issuer.admin == account(4).address
    assert world.deployer.issuer_of_operator(account(5).address) == PTB
    with reverts("IssuerUnauthorizedAdmin"):  # LAB's admin cannot manage PTB
        world.lab_admin.add_operator(PTB, world.spare.address)
    with reverts("IssuerOperatorAlreadyAssigned"):  # one account serves one issuer
        world.ptb_admin.add_operator(PTB, account(7).address)
    with reverts("IssuerUnknown"):
        world.govern(GovernanceAction.set_issuer_status(issuer_id_from_name("nobody"),
                                                        IssuerStatus.SUSPENDED))


def test_contract_duplicate_or_invalid_issuer_registration_is_rejected(world: RegistryWorld
                                                                       ) -> None:
    with reverts("IssuerAlreadyRegistered"):
        world.govern(GovernanceAction.register_issuer(PTB, "DE", IssuerKind.OTHER,
                                                      world.spare.address, ""))
    with reverts("IssuerInvalidRecord"):
        world.govern(GovernanceAction.register_issuer(issuer_id_from_name("X"), "de",
                                                      IssuerKind.OTHER, world.spare.address, ""))


def test_contract_operator_key_rotation_keeps_past_records(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator)
    world.ptb_admin.remove_operator(PTB, account(5).address)
    with reverts("IssuerUnauthorizedOperator"):
        world.ptb_operator.anchor_batch(b"\x22" * 32, 1, CID)
    world.ptb_admin.add_operator(PTB, world.spare.address)
    rotated = world.deployer.as_account(world.spare)
    rotated.anchor_batch(b"\x22" * 32, 1, CID)
    verdict = world.outsider.verify(values[1], anchored.batch.batch_id, batch.proof(values[1]))
    assert verdict.anchored and verdict.issuer_id == PTB
    # The new key revokes a document the old key anchored: same issuer.
    rotated.revoke(values[1], anchored.batch.batch_id, batch.proof(values[1]),
                   RevocationReason.ERROR)
    assert world.outsider.get_revocation(PTB, values[1]).reason is RevocationReason.ERROR


# ------------------------------------------------------------------- anchoring


def test_contract_operator_anchors_a_batch_and_anyone_verifies(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator, n=5)
    record = world.outsider.get_batch(anchored.batch.batch_id)
    assert record == anchored.batch
    assert (record.issuer_id, record.root, record.count, record.manifest_cid) == (
        PTB, batch.root, 5, cid_of("manifest"))
    assert record.operator == account(5).address
    for value in values:
        verdict = world.outsider.verify(value, record.batch_id, batch.proof(value))
        assert verdict.anchored and not verdict.revoked
        assert verdict.anchored_block == record.block_number


def test_contract_non_operator_cannot_anchor(world: RegistryWorld) -> None:
    for client in (world.outsider, world.ptb_admin, world.governors[0]):
        with reverts("IssuerUnauthorizedOperator"):
            client.anchor_batch(b"\x33" * 32, 1, CID)
    assert world.deployer.batch_count() == 0


def test_contract_suspended_issuer_cannot_anchor_and_retired_keeps_history(
        world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.lab_operator)
    world.govern(GovernanceAction.set_issuer_status(LAB, IssuerStatus.SUSPENDED))
    with reverts("IssuerNotActive"):
        world.lab_operator.anchor_batch(b"\x44" * 32, 1, CID)
    world.govern(GovernanceAction.set_issuer_status(LAB, IssuerStatus.RETIRED))
    with reverts("IssuerInvalidStatusTransition"):
        world.govern(GovernanceAction.set_issuer_status(LAB, IssuerStatus.ACTIVE))
    with reverts("IssuerNotActive"):
        world.lab_operator.anchor_batch(b"\x44" * 32, 1, CID)
    # What it issued while active stays anchored; the verdict reports today's status.
    verdict = world.outsider.verify(values[0], anchored.batch.batch_id, batch.proof(values[0]))
    assert verdict.anchored and verdict.issuer_status_now is IssuerStatus.RETIRED


def test_contract_invalid_batches_are_rejected(world: RegistryWorld) -> None:
    with reverts("BatchInvalid"):
        world.ptb_operator.anchor_batch(b"\x00" * 32, 1, CID)
    with reverts("BatchInvalid"):
        world.ptb_operator.anchor_batch(b"\x55" * 32, 0, CID)
    with pytest.raises(ChainError):  # not a CID: refused before anything is sent
        world.ptb_operator.anchor_batch(b"\x55" * 32, 1, "bafy-not-a-cid")
    functions = world.ptb_operator.contract.functions
    with reverts("BatchInvalid"):  # zero manifest digest
        world.ptb_operator.send(functions.anchorBatch(b"\x55" * 32, 1, b"\x00" * 32, 0x55))
    with reverts("BatchInvalid"):  # a codec the CID cannot be rebuilt with (dag-cbor)
        world.ptb_operator.send(functions.anchorBatch(b"\x55" * 32, 1, b"\x01" * 32, 0x71))


def test_contract_anchoring_is_idempotent_by_root(world: RegistryWorld) -> None:
    _, batch, first = anchored_batch(world, world.ptb_operator)
    again = world.ptb_operator.anchor_batch(batch.root, len(batch), CID)
    assert again.already_anchored and again.batch == first.batch
    assert again.transaction_hash == first.transaction_hash
    # Even another issuer cannot anchor an already anchored root as its own.
    theirs = world.lab_operator.anchor_batch(batch.root, len(batch), cid_of("other"))
    assert theirs.batch.issuer_id == PTB
    # Sent raw, a second anchoring of the same root reverts on chain.
    with reverts("BatchRootAlreadyAnchored"):
        world.ptb_operator.send(world.ptb_operator.anchor_batch_call(batch.root, 4, CID))
    assert world.deployer.batch_count() == 1


def test_contract_resumed_anchoring_rebroadcasts_the_same_transaction(world: RegistryWorld
                                                                      ) -> None:
    batch = MerkleBatch.of(docs(8, "resume"))
    operator = world.ptb_operator
    nonce_before = operator.w3.eth.get_transaction_count(account(5).address)
    signed = operator.prepare_anchor_batch(batch.root, len(batch), CID)
    operator.broadcast(signed)  # "crash" here, before the receipt was seen
    operator.broadcast(signed)  # a retry sends the very same bytes
    resumed = world.deployer.as_account(account(5)).complete_anchoring(batch.root, signed)
    assert resumed.transaction_hash == signed.transaction_hash
    assert operator.w3.eth.get_transaction_count(account(5).address) == nonce_before + 1
    assert world.deployer.batch_count() == 1


def test_contract_single_document_anchoring(world: RegistryWorld) -> None:
    (value,) = docs(1, "single")
    anchored = world.ptb_operator.anchor_document(value, CID)
    assert anchored.batch.count == 1
    assert anchored.batch.root == MerkleBatch.of([value]).root
    assert world.outsider.verify(value, anchored.batch.batch_id, []).anchored
    assert world.ptb_operator.anchor_document(value, CID).already_anchored


def test_contract_pipelined_sends_use_consecutive_nonces(world: RegistryWorld) -> None:
    operator = world.ptb_operator
    roots = [hashlib.sha256(f"pipelined-{i}".encode()).digest() for i in range(20)]
    pending = [operator.send(operator.anchor_batch_call(r, 1, CID))
               for r in roots]
    assert [p.nonce for p in pending] == list(range(pending[0].nonce, pending[0].nonce + 20))
    outcomes = [operator.wait(p) for p in pending]
    assert all(o.events[0].name == "BatchAnchored" for o in outcomes)
    assert [operator.batch_id_of_root(r) for r in roots] == list(range(1, 21))


def test_contract_receipt_waits_for_confirmations(anvil: AnvilNode, world: RegistryWorld) -> None:
    patient = RegistryClient(world.deployer.w3, world.deployer.address, account=account(5),
                             confirmations=3, poll_interval=0.01)
    signed = patient.send(patient.anchor_batch_call(b"\x66" * 32, 1, CID))
    done = threading.Event()
    threading.Thread(target=lambda: (patient.wait(signed), done.set()), daemon=True).start()
    time.sleep(0.3)
    assert not done.is_set(), "returned before 3 confirmations"
    anvil.mine(2)
    assert done.wait(5)


# ------------------------------------------------------------------ revocation


def test_contract_issuer_revokes_its_own_document(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator)
    replacement = hashlib.sha256(b"corrected certificate").digest()
    outcome = world.ptb_operator.revoke(values[2], anchored.batch.batch_id,
                                        batch.proof(values[2]), RevocationReason.SUPERSEDED,
                                        replacement)
    event = outcome.events[0]
    assert event.name == "DocumentRevoked"
    assert event.args["documentHash"] == values[2] and event.args["issuerId"] == PTB
    verdict = world.outsider.verify(values[2], anchored.batch.batch_id, batch.proof(values[2]))
    assert verdict.anchored and verdict.revoked
    assert verdict.revocation_reason is RevocationReason.SUPERSEDED
    assert verdict.replacement == replacement
    assert verdict.effective_from == verdict.revoked_at
    # Its batch siblings are untouched.
    assert not world.outsider.verify(values[1], anchored.batch.batch_id,
                                     batch.proof(values[1])).revoked
    with reverts("RevocationAlreadyRevoked"):  # irreversible and single
        world.ptb_operator.revoke(values[2], anchored.batch.batch_id, batch.proof(values[2]),
                                  RevocationReason.WITHDRAWN)


def test_contract_cannot_revoke_another_issuers_document(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator)
    with reverts("RevocationNotBatchIssuer"):
        world.lab_operator.revoke(values[0], anchored.batch.batch_id, batch.proof(values[0]),
                                  RevocationReason.COMPROMISED)
    # Nor by citing its own batch with PTB's document in it (the proof fails).
    _, _, own = anchored_batch(world, world.lab_operator, salt="lab")
    with reverts("RevocationInvalidProof"):
        world.lab_operator.revoke(values[0], own.batch.batch_id, batch.proof(values[0]),
                                  RevocationReason.COMPROMISED)
    with reverts("IssuerUnauthorizedOperator"):
        world.outsider.revoke(values[0], anchored.batch.batch_id, batch.proof(values[0]),
                              RevocationReason.COMPROMISED)
    assert world.outsider.get_revocation(PTB, values[0]) is None


def test_contract_forged_proof_is_rejected(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator, n=7)
    forged = list(batch.proof(values[3]))
    forged[0] = bytes(32)
    with reverts("RevocationInvalidProof"):
        world.ptb_operator.revoke(values[3], anchored.batch.batch_id, forged,
                                  RevocationReason.ERROR)
    assert not world.outsider.verify(values[3], anchored.batch.batch_id, forged).anchored
    outsider_doc = hashlib.sha256(b"never anchored").digest()
    assert not world.outsider.verify(outsider_doc, anchored.batch.batch_id,
                                     batch.proof(values[3])).anchored
    with reverts("BatchRootUnknown"):
        world.ptb_operator.revoke(values[3], 999, batch.proof(values[3]), RevocationReason.ERROR)


def test_contract_revocation_effective_date_and_arguments(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator)
    now = world.deployer.w3.eth.get_block("latest")["timestamp"]
    with reverts("RevocationInvalidArguments"):  # measurements cannot be affected in the future
        world.ptb_operator.revoke(values[0], anchored.batch.batch_id, batch.proof(values[0]),
                                  RevocationReason.OUT_OF_TOLERANCE, effective_from=now + 86400)
    with reverts("RevocationInvalidArguments"):  # a document cannot supersede itself
        world.ptb_operator.revoke(values[0], anchored.batch.batch_id, batch.proof(values[0]),
                                  RevocationReason.SUPERSEDED, replacement=values[0])
    world.ptb_operator.revoke(values[0], anchored.batch.batch_id, batch.proof(values[0]),
                              RevocationReason.OUT_OF_TOLERANCE, effective_from=now - 30 * 86400)
    record = world.outsider.get_revocation(PTB, values[0])
    assert record.effective_from == now - 30 * 86400 and record.revoked_at >= now


def test_contract_suspended_issuer_may_still_revoke(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.lab_operator)
    world.govern(GovernanceAction.set_issuer_status(LAB, IssuerStatus.SUSPENDED))
    world.lab_operator.revoke(values[0], anchored.batch.batch_id, batch.proof(values[0]),
                              RevocationReason.WITHDRAWN)
    world.govern(GovernanceAction.set_issuer_status(LAB, IssuerStatus.RETIRED))
    with reverts("IssuerNotActive"):
        world.lab_operator.revoke(values[1], anchored.batch.batch_id, batch.proof(values[1]),
                                  RevocationReason.WITHDRAWN)


# ---------------------------------------------------------------------- events


def test_contract_every_state_change_emits_an_event(world: RegistryWorld) -> None:
    values, batch, anchored = anchored_batch(world, world.ptb_operator)
    world.ptb_operator.revoke(values[0], anchored.batch.batch_id, batch.proof(values[0]),
                              RevocationReason.WITHDRAWN)
    world.govern(GovernanceAction.set_issuer_metadata(PTB, "bafy-ptb-2"))
    world.govern(GovernanceAction.set_issuer_admin(PTB, world.spare.address))
    names = [e.name for e in world.deployer.events(world.deployer.deployment_block, "latest")]
    for expected in ("GovernorAdded", "ThresholdChanged", "ProposalCreated", "ProposalApproved",
                     "ProposalExecuted", "IssuerRegistered", "OperatorAdded", "BatchAnchored",
                     "DocumentRevoked", "IssuerMetadataUpdated", "IssuerAdminChanged"):
        assert expected in names, expected
    registered = [e for e in world.deployer.events(0, "latest") if e.name == "IssuerRegistered"]
    assert [e.args["issuerId"] for e in registered] == [PTB, LAB]
    assert registered[0].args["admin"] == to_checksum_address(account(4).address)


# -------------------------------------------------------------- accreditation


def test_contract_accreditation_is_recorded_by_governance_with_history(
        world: RegistryWorld) -> None:
    first, second = hashlib.sha256(b"scope v1").digest(), hashlib.sha256(b"scope v2").digest()
    assert world.deployer.accreditation_count(LAB) == 0
    # One governor alone records nothing.
    world.governors[0].propose(
        GovernanceAction.set_accreditation(LAB, first, "bafy-scope-1", 1_700_000_000))
    assert world.deployer.accreditation_count(LAB) == 0
    world.govern(GovernanceAction.set_accreditation(LAB, first, "bafy-scope-1", 1_700_000_000))
    world.govern(GovernanceAction.set_accreditation(LAB, second, "bafy-scope-2", 1_750_000_000))
    world.govern(GovernanceAction.set_accreditation(LAB, None, "", 1_760_000_000))
    assert world.deployer.accreditation_count(LAB) == 3
    v1, v2, v3 = (world.deployer.get_accreditation(LAB, v) for v in (1, 2, 3))
    assert (v1.document_hash, v1.document_cid, v1.effective_from) == (
        first, "bafy-scope-1", 1_700_000_000)
    assert (v2.document_hash, v2.document_cid) == (second, "bafy-scope-2")
    assert v3.document_hash is None and v3.document_cid == ""
    assert v1.recorded_block < v2.recorded_block < v3.recorded_block
    events = [e for e in world.deployer.events(0, "latest") if e.name == "AccreditationRecorded"]
    assert [(e.args["version"], e.args["documentCid"]) for e in events] == [
        (1, "bafy-scope-1"), (2, "bafy-scope-2"), (3, "")]
    assert all(e.args["issuerId"] == LAB for e in events)
    with reverts("AccreditationUnknownVersion"):
        world.deployer.get_accreditation(LAB, 4)
    with reverts("AccreditationUnknownVersion"):
        world.deployer.get_accreditation(PTB, 1)


def test_contract_invalid_accreditation_records_are_rejected(world: RegistryWorld) -> None:
    digest = hashlib.sha256(b"scope").digest()
    for action in (
            GovernanceAction.set_accreditation(LAB, digest, "", 1_700_000_000),  # hash, no CID
            GovernanceAction.set_accreditation(LAB, None, "bafy-x", 1_700_000_000),  # CID, no hash
            GovernanceAction.set_accreditation(LAB, digest, "bafy-x", 0)):  # no effective date
        proposal_id, _ = world.governors[0].propose(action)
        with reverts("AccreditationInvalid"):
            world.governors[1].approve(proposal_id)
    proposal_id, _ = world.governors[0].propose(GovernanceAction.set_accreditation(
        issuer_id_from_name("NOBODY"), digest, "bafy-x", 1_700_000_000))
    with reverts("IssuerUnknown"):
        world.governors[1].approve(proposal_id)
    assert world.deployer.accreditation_count(LAB) == 0
