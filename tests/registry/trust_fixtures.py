"""A traceability chain issued through the real pipeline on anvil, by three issuers.

NMI (PTB, a national metrology institute) -> accredited reference laboratory (LAB) ->
working-standard laboratory (WSL) -> customer instrument (WSL again, citing its own
working standard's certificate). Every certificate is PTB's typical temperature DCC
(`../shared/dcc/examples/dcc_gp_temperature_typical_v12.xml`, LGPL-3.0, read in place)
with its number, calibration date and reference-standard certificate filled in.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from anchor.accounts import create_keystore
from anchor.chain import GovernanceAction, IssuerKind, issuer_id_from_name
from anchor.services.anvil import dev_private_key
from registry.issuance import Issuer
from registry.settings import Settings
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld, account

TEMPLATE = "dcc_gp_temperature_typical_v12.xml"
WSL = issuer_id_from_name("WSL")
KEYSTORE_PASSWORD = "trust chain keystore password"
_OPERATORS = {PTB: 5, LAB: 7, WSL: 8}


@dataclass(frozen=True)
class Cite:
    """A reference-standard certificate to cite: by SHA-256 and/or number."""

    number: str
    sha256: str = ""
    referral: str = "Calibration certificate of the reference standard"


def certificate_xml(cite: Cite) -> str:
    procedure = "SHA-256" if cite.sha256 else ""
    return (f"<dcc:certificate><dcc:referral><dcc:content lang=\"en\">{cite.referral}"
            f"</dcc:content></dcc:referral><dcc:referralID>{cite.number}</dcc:referralID>"
            f"<dcc:procedure>{procedure}</dcc:procedure><dcc:value>{cite.sha256}</dcc:value>"
            "</dcc:certificate>")


def chain_dcc(template: bytes, number: str, calibrated: dt.date, cite: Cite | None) -> bytes:
    text = template.decode("utf-8")
    text, n = re.subn(r"(<dcc:uniqueIdentifier>)[^<]*(</dcc:uniqueIdentifier>)",
                      rf"\g<1>{number}\g<2>", text, count=1)
    assert n == 1
    for tag in ("beginPerformanceDate", "endPerformanceDate"):
        text, n = re.subn(rf"(<dcc:{tag}>)[^<]*(</dcc:{tag}>)",
                          rf"\g<1>{calibrated.isoformat()}\g<2>", text, count=1)
        assert n == 1
    if cite is not None:
        # hashType sits after the equipment's name (schema order: name, class, description,
        # certificate, ...); the template's equipment has a name and identifications.
        start = text.index("<dcc:measuringEquipment ")
        end_of_name = text.index("</dcc:name>", start) + len("</dcc:name>")
        text = text[:end_of_name] + certificate_xml(cite) + text[end_of_name:]
    return text.encode("utf-8")


class TrustChain:
    """Issues certificates as PTB, LAB or WSL into one registry (shared data directory,
    content store and database), each through its own operator key."""

    def __init__(self, world: RegistryWorld, settings: Settings, shared_dcc: Path,
                 tmp_path: Path) -> None:
        self.world = world
        self.settings = settings
        self.template = (shared_dcc / "examples" / TEMPLATE).read_bytes()
        world.govern(GovernanceAction.register_issuer(
            WSL, "DE", IssuerKind.ACCREDITED_LABORATORY, account(9).address, "bafy-wsl"))
        world.deployer.as_account(account(9)).add_operator(WSL, account(8).address)
        self._issuers: dict[bytes, Issuer] = {}
        self._tmp = tmp_path

    @property
    def today(self) -> dt.date:
        """The chain's day (its latest block's), which anchoring times are compared in."""
        head = self.world.deployer.block_header(self.world.deployer.head_block_number())
        assert head is not None
        return dt.datetime.fromtimestamp(head.timestamp, dt.UTC).date()

    def issuer(self, issuer_id: bytes) -> Issuer:
        if issuer_id not in self._issuers:
            keystore = self._tmp / f"operator-{_OPERATORS[issuer_id]}.json"
            create_keystore(keystore, KEYSTORE_PASSWORD, dev_private_key(_OPERATORS[issuer_id]))
            settings = self.settings.model_copy(update={
                "operator_keystore": keystore,
                "operator_password": SecretStr(KEYSTORE_PASSWORD),
                "database_url": self.settings.effective_database_url})
            self._issuers[issuer_id] = Issuer.from_settings(settings)
        return self._issuers[issuer_id]

    def issue(self, issuer_id: bytes, number: str, calibrated: dt.date,
              cite: Cite | None = None) -> str:
        """Issue one certificate (signed, stored, anchored, indexed); its SHA-256."""
        report = self.issuer(issuer_id).run(
            [chain_dcc(self.template, number, calibrated, cite)], batch_size=1)
        return report.submissions[0].sha256

    def four_levels(self, prefix: str, *, nmi_calibrated: dt.date | None = None,
                    ref_calibrated: dt.date | None = None) -> dict[str, str]:
        """NMI -> reference lab -> working standard -> customer instrument; SHA-256s."""
        day = self.today
        nmi = self.issue(PTB, f"{prefix}-NMI", nmi_calibrated or day)
        ref = self.issue(LAB, f"{prefix}-REF", ref_calibrated or day,
                         Cite(f"{prefix}-NMI", nmi))
        work = self.issue(WSL, f"{prefix}-WORK", day, Cite(f"{prefix}-REF", ref))
        customer = self.issue(WSL, f"{prefix}-CUSTOMER", day, Cite(f"{prefix}-WORK", work))
        return {"nmi": nmi, "ref": ref, "work": work, "customer": customer}
