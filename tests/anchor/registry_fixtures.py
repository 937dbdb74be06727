"""A deployed CertificateRegistry with governors, two issuers and their operators.

Roles use anvil's public development accounts:
0 deployer, 1-3 governors (2 of 3), 4 PTB admin, 5 PTB operator,
6 LAB admin, 7 LAB operator, 8 outsider, 9 spare.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from anchor.chain import (
    GovernanceAction,
    IssuerKind,
    RegistryClient,
    account_from_key,
    connect,
    issuer_id_from_name,
)
from anchor.cid import raw_cid
from anchor.services.anvil import AnvilNode, dev_private_key

PTB = issuer_id_from_name("PTB")
LAB = issuer_id_from_name("DAkkS-D-K-15070")


@dataclass
class RegistryWorld:
    anvil: AnvilNode
    deployer: RegistryClient
    governors: list[RegistryClient]
    ptb_admin: RegistryClient
    ptb_operator: RegistryClient
    lab_admin: RegistryClient
    lab_operator: RegistryClient
    outsider: RegistryClient
    spare: LocalAccount

    def govern(self, action: GovernanceAction) -> int:
        """Pass an action with the 2-of-3 governors; returns the proposal id."""
        proposal_id, _ = self.governors[0].propose(action)
        self.governors[1].approve(proposal_id)
        return proposal_id


def account(index: int) -> LocalAccount:
    return account_from_key(dev_private_key(index))


def deploy_world(anvil: AnvilNode, *, register_issuers: bool = True) -> RegistryWorld:
    w3 = connect(anvil.rpc_url)
    governors = [account(i) for i in (1, 2, 3)]
    deployer, _ = RegistryClient.deploy(w3, account(0), [g.address for g in governors], 2,
                                        poll_interval=0.005)
    client = deployer.as_account
    world = RegistryWorld(anvil, deployer, [client(g) for g in governors], client(account(4)),
                          client(account(5)), client(account(6)), client(account(7)),
                          client(account(8)), account(9))
    if register_issuers:
        world.govern(GovernanceAction.register_issuer(
            PTB, "DE", IssuerKind.NATIONAL_METROLOGY_INSTITUTE, account(4).address, "bafy-ptb"))
        world.govern(GovernanceAction.register_issuer(
            LAB, "BY", IssuerKind.ACCREDITED_LABORATORY, account(6).address, "bafy-lab"))
        world.ptb_admin.add_operator(PTB, account(5).address)
        world.lab_admin.add_operator(LAB, account(7).address)
    return world


def cid_of(label: str) -> str:
    """A real CIDv1 (raw block) to name a manifest in tests: the contract stores its digest."""
    return str(raw_cid(label.encode()))


CID = cid_of("manifest")
