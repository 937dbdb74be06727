"""The embedded development registry that `certreg up` runs with nothing configured.

An anvil chain whose state survives restarts (and SIGKILL, minus the last second),
the registry contract deployed with anvil's public development accounts as 2-of-3
governors, and one issuer, "DEV-NMI", whose operator is development account 5.
These keys are public: `registry.context` accepts them on chain id 31337 only.

It also gets a TEST X.509 signing identity under data_dir/dev-signing, so the first
`certreg issue` signs at once: its subject says "TEST — not for real certificates",
its key is encrypted with a random password kept beside it (0600), and it is refused
on any chain but the development one. When a signing identity is configured (that
one, or the institute's CERTREG_SIGNING_*), DEV-NMI declares its certificate (as its admin),
so documents the dev registry signs verify as the issuer's (step 8, signer-is-issuer).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from anchor.accounts import DEV_CHAIN_IDS
from anchor.chain import (
    GovernanceAction,
    IssuerKind,
    RegistryClient,
    SigningCertificateKind,
    account_from_key,
    connect,
    issuer_id_from_name,
)
from anchor.files import write_atomically, write_private
from anchor.services.anvil import AnvilNode, dev_private_key
from registry.context import DEV_OPERATOR_INDEX
from registry.documents.keys import (
    SigningIdentity,
    create_test_signing_identity,
    load_signing_identity_from_pem,
    write_signing_identity,
)
from registry.errors import DevSigningIdentityRefusedError
from registry.settings import Settings

DEV_DEPLOYER_INDEX = 0
DEV_GOVERNOR_INDEXES = (1, 2, 3)
DEV_THRESHOLD = 2
DEV_ISSUER_ADMIN_INDEX = 4
DEV_ISSUER_CODE = "DEV-NMI"
DEV_ISSUER_COUNTRY = "ZZ"  # ISO 3166 user-assigned: never a real country


def start_dev_chain(settings: Settings) -> AnvilNode:
    chain_dir = settings.data_dir / "chain"
    chain_dir.mkdir(parents=True, exist_ok=True)
    return AnvilNode.start(port=settings.chain_port, chain_id=settings.chain_id,
                           workdir=chain_dir, state_file=chain_dir / "anvil-state.json")


def _dev_account(index: int):
    return account_from_key(dev_private_key(index))


def ensure_dev_registry(settings: Settings) -> dict:
    """Deploy and bootstrap the dev registry unless the recorded one is live on the chain."""
    w3 = connect(settings.effective_rpc_url)
    recorded = settings.deployment
    if recorded and w3.eth.get_code(recorded["address"]) not in (b"", b"\x00"):
        return recorded
    governors = [_dev_account(i) for i in DEV_GOVERNOR_INDEXES]
    deployer, deployment = RegistryClient.deploy(
        w3, _dev_account(DEV_DEPLOYER_INDEX), [g.address for g in governors], DEV_THRESHOLD)
    issuer_id = issuer_id_from_name(DEV_ISSUER_CODE)
    action = GovernanceAction.register_issuer(
        issuer_id, DEV_ISSUER_COUNTRY, IssuerKind.NATIONAL_METROLOGY_INSTITUTE,
        _dev_account(DEV_ISSUER_ADMIN_INDEX).address, "")
    proposal_id, _ = deployer.as_account(governors[0]).propose(action)
    deployer.as_account(governors[1]).approve(proposal_id)
    deployer.as_account(_dev_account(DEV_ISSUER_ADMIN_INDEX)).add_operator(
        issuer_id, _dev_account(DEV_OPERATOR_INDEX).address)
    record = {
        "address": deployment.address,
        "chain_id": deployment.chain_id,
        "block_number": deployment.block_number,
        "transaction_hash": deployment.transaction_hash,
        "governors": [g.address for g in governors],
        "threshold": DEV_THRESHOLD,
        "dev_issuer": DEV_ISSUER_CODE,
    }
    write_deployment(settings.deployment_path, record)
    settings.__dict__.pop("deployment", None)  # drop the cached value
    return record


def ensure_dev_signer_declared(settings: Settings, certificate: x509.Certificate) -> bool:
    """Declare `certificate` as DEV-NMI's signing certificate for its validity, unless it
    is declared already (or was withdrawn, which is final). True when it declared now.
    Call it whenever the dev registry gets a (new) signing identity."""
    deployment = settings.require_deployment()
    admin = RegistryClient(connect(settings.effective_rpc_url), deployment["address"],
                           account=_dev_account(DEV_ISSUER_ADMIN_INDEX))
    der = certificate.public_bytes(serialization.Encoding.DER)
    issuer_id = issuer_id_from_name(DEV_ISSUER_CODE)
    if admin.get_signing_certificate(issuer_id, hashlib.sha256(der).digest()) is not None:
        return False
    admin.declare_signing_certificate(
        issuer_id, der, SigningCertificateKind.SIGNER,
        int(certificate.not_valid_before_utc.timestamp()),
        int(certificate.not_valid_after_utc.timestamp()))
    return True


def write_deployment(path: Path, record: dict) -> None:
    write_atomically(path, (json.dumps(record, indent=2) + "\n").encode())


# ------------------------------------------------------------ TEST signing identity

DEV_SIGNING_DIR = "dev-signing"
DEV_SIGNING_STEM = "dev-signing"
DEV_SIGNING_RECORD = "identity.json"
DEV_SIGNING_PASSWORD = "password"
DEV_SIGNER_COMMON_NAME = f"{DEV_ISSUER_CODE} signer, TEST — not for real certificates"
DEV_SIGNER_ORGANIZATION = "certreg development registry (TEST)"
# A development registry may run for years on a laptop: do not let its signer expire first.
_DEV_SIGNER_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class DevSigningIdentity:
    """Where `certreg up`'s TEST signing identity lives, and which certificate it is."""

    directory: Path
    private_key_pem: Path
    certificate_pem: Path
    password_file: Path
    subject: str
    sha256_fingerprint: str
    chain_ids: tuple[int, ...]


def dev_signing_dir(settings: Settings) -> Path:
    return settings.data_dir / DEV_SIGNING_DIR


def ensure_dev_signing_identity(settings: Settings) -> DevSigningIdentity:
    """The TEST signing identity of the embedded registry, created on first call.

    It is written into a fresh private directory renamed into place, so a crash leaves
    either no identity or a complete one, never a key without its password.
    """
    existing = read_dev_signing_identity(settings)
    if existing is not None:
        return existing
    target = dev_signing_dir(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dev-signing-", dir=settings.data_dir))  # 0700
    try:
        password = secrets.token_urlsafe(32)
        identity = create_test_signing_identity(
            DEV_SIGNER_COMMON_NAME, DEV_SIGNER_ORGANIZATION, DEV_ISSUER_COUNTRY,
            valid_for=_DEV_SIGNER_VALIDITY)
        write_signing_identity(identity, staging, DEV_SIGNING_STEM, password)
        write_private(staging / DEV_SIGNING_PASSWORD, password.encode())
        info = identity.certificate_info
        record = {"test_only": True, "chain_ids": sorted(DEV_CHAIN_IDS),
                  "subject": info.subject, "sha256_fingerprint": info.sha256_fingerprint,
                  "warning": "TEST signing identity of the development registry: "
                             "not for real certificates"}
        (staging / DEV_SIGNING_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        try:
            os.rename(staging, target)
        except OSError:
            if read_dev_signing_identity(settings) is None:  # not a concurrent `up`
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    created = read_dev_signing_identity(settings)
    assert created is not None
    return created


def read_dev_signing_identity(settings: Settings) -> DevSigningIdentity | None:
    """The TEST signing identity's files and certificate, or None if there is none."""
    directory = dev_signing_dir(settings)
    try:
        record = json.loads((directory / DEV_SIGNING_RECORD).read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        raise DevSigningIdentityRefusedError(
            f"{directory / DEV_SIGNING_RECORD} is not valid JSON; remove {directory} and run "
            "`certreg up` again", path=str(directory)) from None
    return DevSigningIdentity(
        directory=directory, private_key_pem=directory / f"{DEV_SIGNING_STEM}.key.pem",
        certificate_pem=directory / f"{DEV_SIGNING_STEM}.cert.pem",
        password_file=directory / DEV_SIGNING_PASSWORD, subject=record["subject"],
        sha256_fingerprint=record["sha256_fingerprint"],
        chain_ids=tuple(record["chain_ids"]))


def load_dev_signing_identity(settings: Settings, chain_id: int) -> SigningIdentity | None:
    """The TEST signing identity for signing on chain `chain_id`; None if `certreg up`
    made none. Refused, whatever its files say, on a chain that is not a development one."""
    files = read_dev_signing_identity(settings)
    if files is None:
        return None
    if chain_id not in DEV_CHAIN_IDS or chain_id not in files.chain_ids:
        raise DevSigningIdentityRefusedError(
            f"refusing the TEST signing identity in {files.directory} on chain id {chain_id}: "
            f"it signs on the development chain ({', '.join(map(str, files.chain_ids))}) only. "
            "Set CERTREG_SIGNING_KEY, CERTREG_SIGNING_CERTIFICATE and "
            "CERTREG_SIGNING_PASSWORD to the institute's identity",
            chain_id=chain_id, path=str(files.directory))
    return load_signing_identity_from_pem(files.private_key_pem, files.certificate_pem,
                                          password_file=files.password_file)
