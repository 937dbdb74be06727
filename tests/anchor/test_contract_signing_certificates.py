"""SigningCertificates on a real anvil node: declarations by the issuer's admin and by
governance, withdrawal, and every refusal with its custom error."""

from __future__ import annotations

import hashlib

import pytest
from web3.exceptions import ContractCustomError

from anchor.chain import GovernanceAction, IssuerStatus, SigningCertificateKind
from anchor.services.anvil import AnvilNode
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld, deploy_world
from tests.anchor.test_contract import reverts

CERTIFICATE = b"\x30\x82\x01\x0a" + b"not parsed on chain" * 20  # the contract hashes any bytes
OTHER = b"\x30\x03\x02\x01\x05"
START, END = 1_700_000_000, 1_800_000_000


@pytest.fixture
def world(anvil: AnvilNode) -> RegistryWorld:
    return deploy_world(anvil)


def test_signing_certificate_declared_by_the_issuer_admin(world: RegistryWorld) -> None:
    outcome = world.ptb_admin.declare_signing_certificate(
        PTB, CERTIFICATE, SigningCertificateKind.SIGNER, START, END)
    digest = hashlib.sha256(CERTIFICATE).digest()
    (event,) = [e for e in outcome.events if e.name == "SigningCertificateDeclared"]
    assert bytes(event.args["certificateHash"]) == digest
    assert bytes(event.args["certificate"]) == CERTIFICATE  # the DER travels in the event
    assert event.args["account"] == world.ptb_admin.account.address
    record = world.outsider.get_signing_certificate(PTB, digest)
    assert record is not None
    assert (record.kind, record.valid_from, record.valid_until, record.withdrawn_at) == \
        (SigningCertificateKind.SIGNER, START, END, 0)
    assert world.outsider.get_signing_certificate(LAB, digest) is None
    assert world.outsider.get_signing_certificate(PTB, hashlib.sha256(OTHER).digest()) is None
    # A re-declaration changes the period and keeps one entry in the list.
    world.ptb_admin.declare_signing_certificate(PTB, CERTIFICATE,
                                                SigningCertificateKind.SIGNER, START, END + 1)
    world.ptb_admin.declare_signing_certificate(PTB, OTHER, SigningCertificateKind.AUTHORITY,
                                                START, END)
    listed = world.outsider.signing_certificates(PTB)
    assert [(r.certificate_hash, r.kind, r.valid_until) for r in listed] == [
        (digest, SigningCertificateKind.SIGNER, END + 1),
        (hashlib.sha256(OTHER).digest(), SigningCertificateKind.AUTHORITY, END)]
    with pytest.raises(ContractCustomError) as raised:
        world.outsider.contract.functions.signingCertificateAt(PTB, 3).call()
    assert world.outsider.revert_decoder.decode(raised.value.data).error_name == \
        "SigningCertificateUnknown"


def test_signing_certificate_refused_to_anyone_but_the_admin(world: RegistryWorld) -> None:
    for client in (world.ptb_operator, world.lab_admin, world.outsider, world.governors[0]):
        with reverts("IssuerUnauthorizedAdmin"):
            client.declare_signing_certificate(PTB, CERTIFICATE, SigningCertificateKind.SIGNER,
                                               START, END)
    world.ptb_admin.declare_signing_certificate(PTB, CERTIFICATE, SigningCertificateKind.SIGNER,
                                                START, END)
    with reverts("IssuerUnauthorizedAdmin"):
        world.lab_admin.withdraw_signing_certificate(PTB, hashlib.sha256(CERTIFICATE).digest())
    assert world.outsider.signing_certificates(PTB)[0].withdrawn_at == 0


def test_signing_certificate_invalid_declarations_are_rejected(world: RegistryWorld) -> None:
    admin = world.ptb_admin
    with reverts("SigningCertificateInvalid"):
        admin.declare_signing_certificate(PTB, b"", SigningCertificateKind.SIGNER, START, END)
    with reverts("SigningCertificateInvalid"):
        admin.declare_signing_certificate(PTB, CERTIFICATE, SigningCertificateKind.NONE,
                                          START, END)
    with reverts("SigningCertificateInvalid"):
        admin.declare_signing_certificate(PTB, CERTIFICATE, SigningCertificateKind.SIGNER,
                                          END, START)
    with reverts("SigningCertificateUnknown"):
        admin.withdraw_signing_certificate(PTB, hashlib.sha256(CERTIFICATE).digest())
    assert world.outsider.signing_certificates(PTB) == []


def test_signing_certificate_withdrawal_is_final(world: RegistryWorld) -> None:
    digest = hashlib.sha256(CERTIFICATE).digest()
    world.ptb_admin.declare_signing_certificate(PTB, CERTIFICATE, SigningCertificateKind.SIGNER,
                                                START, END)
    outcome = world.ptb_admin.withdraw_signing_certificate(PTB, digest)
    assert [e.name for e in outcome.events] == ["SigningCertificateWithdrawn"]
    record = world.outsider.get_signing_certificate(PTB, digest)
    assert record is not None and record.withdrawn_at > 0
    with reverts("SigningCertificateWithdrawnAlready"):
        world.ptb_admin.withdraw_signing_certificate(PTB, digest)
    with reverts("SigningCertificateWithdrawnAlready"):
        world.ptb_admin.declare_signing_certificate(PTB, CERTIFICATE,
                                                    SigningCertificateKind.SIGNER, START, END)


def test_signing_certificate_by_governance_needs_the_threshold(world: RegistryWorld) -> None:
    digest = hashlib.sha256(CERTIFICATE).digest()
    action = GovernanceAction.declare_signing_certificate(
        PTB, CERTIFICATE, SigningCertificateKind.AUTHORITY, START, END)
    proposal_id, outcome = world.governors[0].propose(action)
    assert not any(e.name == "SigningCertificateDeclared" for e in outcome.events)
    assert world.outsider.get_signing_certificate(PTB, digest) is None  # one governor: nothing
    outcome = world.governors[1].approve(proposal_id)
    (event,) = [e for e in outcome.events if e.name == "SigningCertificateDeclared"]
    assert event.args["account"] == world.governors[1].account.address
    record = world.outsider.get_signing_certificate(PTB, digest)
    assert record is not None and record.kind is SigningCertificateKind.AUTHORITY
    world.govern(GovernanceAction.withdraw_signing_certificate(PTB, digest))
    assert world.outsider.get_signing_certificate(PTB, digest).withdrawn_at > 0


def test_signing_certificate_governance_refuses_bad_actions(world: RegistryWorld) -> None:
    from eth_abi import encode

    bad_kind = GovernanceAction(GovernanceAction.declare_signing_certificate(
        PTB, CERTIFICATE, SigningCertificateKind.SIGNER, START, END).kind, encode(
        ["bytes32", "bytes", "uint8", "uint64", "uint64"], [PTB, CERTIFICATE, 7, START, END]))
    proposal_id, _ = world.governors[0].propose(bad_kind)
    with reverts("GovernanceInvalidAction"):
        world.governors[1].approve(proposal_id)
    unknown = GovernanceAction.declare_signing_certificate(
        b"NOBODY".ljust(32, b"\0"), CERTIFICATE, SigningCertificateKind.SIGNER, START, END)
    proposal_id, _ = world.governors[0].propose(unknown)
    with reverts("IssuerUnknown"):
        world.governors[1].approve(proposal_id)


def test_signing_certificates_of_a_retired_issuer_are_frozen(world: RegistryWorld) -> None:
    world.lab_admin.declare_signing_certificate(LAB, CERTIFICATE, SigningCertificateKind.SIGNER,
                                                START, END)
    world.govern(GovernanceAction.set_issuer_status(LAB, IssuerStatus.RETIRED))
    with reverts("SigningCertificateIssuerRetired"):
        world.lab_admin.declare_signing_certificate(LAB, OTHER, SigningCertificateKind.SIGNER,
                                                    START, END)
    with reverts("SigningCertificateIssuerRetired"):
        world.lab_admin.withdraw_signing_certificate(LAB, hashlib.sha256(CERTIFICATE).digest())
    assert len(world.outsider.signing_certificates(LAB)) == 1
