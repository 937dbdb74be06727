"""The real documents of scripts/bench_trace.py: an accredited laboratory registered on
the dev registry (governance, an operator, an accreditation whose scope covers the DCC
template's results), whose DCCs cite synthetic laboratory standards."""

from __future__ import annotations

import datetime as dt
import hashlib

from anchor.accounts import create_keystore
from anchor.chain import (
    GovernanceAction,
    IssuerKind,
    RegistryClient,
    account_from_key,
    connect,
    issuer_id_from_name,
)
from anchor.services.anvil import dev_private_key
from registry.context import content_store
from registry.devnet import DEV_GOVERNOR_INDEXES
from registry.documents.accreditation import AccreditationDocument, ScopeEntry
from registry.settings import Settings

KEYSTORE_PASSWORD = "benchmark operator keystore"
LAB_CODE = "BENCH-LAB"
LAB_ADMIN_INDEX, LAB_OPERATOR_INDEX = 6, 7  # anvil dev accounts the dev registry leaves free


def register_laboratory(rpc_url: str, address: str, settings: Settings) -> bytes:
    """An accredited laboratory with an operator and an accreditation whose scope covers
    the template's temperature results (recorded by governance, document on IPFS)."""
    w3 = connect(rpc_url)
    governors = [account_from_key(dev_private_key(i)) for i in DEV_GOVERNOR_INDEXES]
    admin = account_from_key(dev_private_key(LAB_ADMIN_INDEX))
    operator = account_from_key(dev_private_key(LAB_OPERATOR_INDEX))
    client = RegistryClient(w3, address, account=governors[0])
    lab_id = issuer_id_from_name(LAB_CODE)

    def govern(action: GovernanceAction) -> None:
        proposal_id, _ = client.propose(action)
        client.as_account(governors[1]).approve(proposal_id)

    govern(GovernanceAction.register_issuer(lab_id, "DE", IssuerKind.ACCREDITED_LABORATORY,
                                            admin.address, ""))
    client.as_account(admin).add_operator(lab_id, operator.address)
    accreditation = AccreditationDocument(
        issuer=LAB_CODE, body="DAkkS", number="D-K-99999-01-00",
        valid_from=dt.date(2020, 1, 1), valid_until=dt.date(2099, 12, 31), scope=(
            ScopeEntry("temperature", r"\degreecelsius", "-40", "350", "30",
                       r"\milli\kelvin"),
            ScopeEntry("temperature deviation", r"\kelvin", "-1", "1", "0.05",
                       ref_types=("basic_measurementError",))))
    data = accreditation.to_bytes()
    cid = content_store(settings).put(data)
    govern(GovernanceAction.set_accreditation(
        lab_id, hashlib.sha256(data).digest(), str(cid),
        int(dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp())))
    keystore = settings.data_dir / "lab-operator.json"
    create_keystore(keystore, KEYSTORE_PASSWORD, dev_private_key(LAB_OPERATOR_INDEX))
    return lab_id


def chain_day(client: RegistryClient) -> dt.date:
    head = client.w3.eth.get_block("latest")
    return dt.datetime.fromtimestamp(head["timestamp"], dt.UTC).date()
