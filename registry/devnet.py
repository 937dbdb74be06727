"""The embedded development registry that `certreg up` runs with nothing configured.

An anvil chain whose state survives restarts (and SIGKILL, minus the last second),
the registry contract deployed with anvil's public development accounts as 2-of-3
governors, and one issuer, "DEV-NMI", whose operator is development account 5.
These keys are public: `registry.context` accepts them on chain id 31337 only.
When a signing identity is configured, DEV-NMI declares its certificate (as its admin),
so documents the dev registry signs verify as the issuer's (step 8, signer-is-issuer).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from anchor.chain import (
    GovernanceAction,
    IssuerKind,
    RegistryClient,
    SigningCertificateKind,
    account_from_key,
    connect,
    issuer_id_from_name,
)
from anchor.files import write_atomically
from anchor.services.anvil import AnvilNode, dev_private_key
from registry.context import DEV_OPERATOR_INDEX
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
