"""Builds the registry's collaborators (chain client, content store) from Settings.

One place decides "embedded default or real service", so the CLI, the API and the
issuance pipeline all run against the same configuration.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from anchor.accounts import DEV_CHAIN_IDS, load_keystore
from anchor.chain import RegistryClient, account_from_key, connect
from anchor.services.anvil import dev_private_key
from anchor.store import ContentStore, EmbeddedStore, KuboStore, SpoolingStore
from registry.documents.signer_trust import TrustAnchors
from registry.errors import ConfigurationError
from registry.settings import Settings

# On the embedded dev chain, `certreg up` makes anvil's public account 5 PTB-like issuer
# "DEV-NMI"'s operator (see registry.devnet); real chains need a keystore.
DEV_OPERATOR_INDEX = 5


def content_store(settings: Settings) -> ContentStore:
    """Kubo with a local spool when CERTREG_IPFS_API is set, else the embedded store."""
    if settings.ipfs_api:
        return SpoolingStore(KuboStore(settings.ipfs_api), settings.data_dir / "spool")
    return EmbeddedStore(settings.blob_dir)


def trust_anchors(settings: Settings) -> TrustAnchors | None:
    """The anchors signers must chain to (CERTREG_TRUST_ANCHORS); None when not configured."""
    if settings.trust_anchors is None:
        return None
    return TrustAnchors.from_path(settings.trust_anchors)


def operator_account(settings: Settings, chain_id: int) -> LocalAccount:
    """The operator's key: its encrypted keystore, or anvil's dev key on a dev chain only."""
    if settings.operator_keystore is not None:
        if settings.operator_password is None:
            raise ConfigurationError("CERTREG_OPERATOR_PASSWORD is required to unlock "
                                     "CERTREG_OPERATOR_KEYSTORE")
        return load_keystore(settings.operator_keystore,
                             settings.operator_password.get_secret_value())
    if chain_id in DEV_CHAIN_IDS:
        return account_from_key(dev_private_key(DEV_OPERATOR_INDEX))
    raise ConfigurationError("no operator key: set CERTREG_OPERATOR_KEYSTORE and "
                             "CERTREG_OPERATOR_PASSWORD (create one with `certreg keys eth`)")


def registry_client(settings: Settings, account: LocalAccount | None = None) -> RegistryClient:
    """A client for the configured contract; read-only unless `account` is given."""
    deployment = settings.require_deployment()
    w3 = connect(settings.effective_rpc_url)
    return RegistryClient(w3, deployment["address"], account=account,
                          confirmations=settings.confirmations,
                          deployment_block=int(deployment.get("block_number", 0)))
