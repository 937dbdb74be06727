"""The projection of signing-certificate declarations: latest declaration and withdrawal
per (issuer, certificate), rebuilt by a reindex and rolled back by a reorg."""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from anchor.chain import GovernanceAction, SigningCertificateKind
from anchor.services.anvil import AnvilNode
from registry.db.models import ChainSigningCertificate
from registry.issuance import Issuer
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld

FIRST = b"\x30\x03\x02\x01\x01"  # not a certificate: projected, with no subject
START, END = 1_700_000_000, 1_800_000_000


def _rows(issuer: Issuer) -> dict[tuple[str, str], tuple]:
    with issuer.sessions() as session:
        return {(r.issuer_id, r.certificate_sha256): (
            r.kind, r.certificate, r.subject, r.valid_from, r.valid_until, r.declared_by,
            r.withdrawn_block is not None, r.withdrawn_by)
            for r in session.scalars(select(ChainSigningCertificate))}


def test_index_projects_declarations_and_rebuilds_them(issuer: Issuer, world: RegistryWorld,
                                                        signing_files) -> None:
    certificate = x509.load_pem_x509_certificate(signing_files.certificate_pem.read_bytes())
    der = certificate.public_bytes(serialization.Encoding.DER)
    world.ptb_admin.declare_signing_certificate(PTB, FIRST, SigningCertificateKind.SIGNER,
                                                START, END)
    world.ptb_admin.declare_signing_certificate(PTB, FIRST, SigningCertificateKind.SIGNER,
                                                START, END + 5)  # the latest period applies
    world.govern(GovernanceAction.declare_signing_certificate(
        LAB, der, SigningCertificateKind.AUTHORITY, START, 2**64 - 1))
    world.ptb_admin.withdraw_signing_certificate(PTB, hashlib.sha256(FIRST).digest())
    issuer.indexer.catch_up()
    rows = _rows(issuer)
    assert rows == {
        (PTB.hex(), hashlib.sha256(FIRST).hexdigest()): (
            "signer", FIRST, None, dt.datetime.fromtimestamp(START, dt.UTC),
            dt.datetime.fromtimestamp(END + 5, dt.UTC), world.ptb_admin.account.address,
            True, world.ptb_admin.account.address),
        (LAB.hex(), hashlib.sha256(der).hexdigest()): (
            "authority", der, certificate.subject.rfc4514_string(),
            dt.datetime.fromtimestamp(START, dt.UTC),
            dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
            world.governors[1].account.address, False, None)}
    issuer.indexer.rebuild()
    assert _rows(issuer) == rows


def test_index_rolls_declarations_back_after_a_reorg(anvil: AnvilNode, issuer: Issuer,
                                                     world: RegistryWorld) -> None:
    world.ptb_admin.declare_signing_certificate(PTB, FIRST, SigningCertificateKind.SIGNER,
                                                START, END)
    issuer.indexer.catch_up()
    kept = _rows(issuer)
    fork = anvil.snapshot()
    world.ptb_admin.withdraw_signing_certificate(PTB, hashlib.sha256(FIRST).digest())
    world.ptb_admin.declare_signing_certificate(PTB, b"\x30\x00", SigningCertificateKind.SIGNER,
                                                START, END)
    issuer.indexer.catch_up()
    assert len(_rows(issuer)) == 2
    anvil.revert(fork)
    anvil.mine(5)
    assert issuer.indexer.catch_up().reorg_rolled_back_to is not None
    assert _rows(issuer) == kept
