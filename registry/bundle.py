"""Trace bundles: a certificate's receipt together with the receipts (and public
documents) of every certificate its traceability rests on, so the chain can be checked
offline, with nothing but an RPC endpoint.

`certreg receipt HASH --with-chain` writes one; `certreg trace --bundle FILE` checks it:
every receipt is replayed against the chain (anchor.receipt.verify_receipt), every
document must hash to its receipt, the citations and calibration dates are re-read from
the documents themselves, the issuers' kinds and the batches' anchoring times come from
the contract, and the same traceability rules as the registry's
(registry.verify.traceability) decide. Nothing from the registry's database is trusted.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import RegistryClient, connect, issuer_name
from anchor.cid import Cid
from anchor.errors import AnchorError
from anchor.receipt import Receipt, ReceiptVerification, Verdict, verify_receipt
from anchor.store import ContentStore
from registry.db.search import normalise
from registry.db.traceability import ProjectionTraceabilityView
from registry.documents.citations import Citation, citations_of
from registry.documents.model import DocumentType
from registry.documents.validate import load_document
from registry.errors import ReceiptBundleError, RegistryError
from registry.issuance import find_receipt
from registry.trust import calibration_date_of
from registry.verify.traceability import (
    CertificateFacts,
    Resolution,
    RevocationFacts,
    TraceabilityResult,
    trace,
)

BUNDLE_FORMAT = "certreg-trace-bundle/1"


@dataclass(frozen=True)
class BundledCertificate:
    receipt: Receipt
    document: bytes | None  # the public document; None for a confidential one

    def to_dict(self) -> dict[str, Any]:
        return {"receipt": self.receipt.to_dict(),
                "document": None if self.document is None
                else base64.b64encode(self.document).decode("ascii")}


@dataclass(frozen=True)
class TraceBundle:
    sha256: str  # 64 hex: the certificate traced
    certificates: tuple[BundledCertificate, ...]  # the certificate traced first

    def to_json(self) -> str:
        return json.dumps({"format": BUNDLE_FORMAT, "sha256": "0x" + self.sha256,
                           "certificates": [c.to_dict() for c in self.certificates]},
                          indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> TraceBundle:
        try:
            value = json.loads(text)
            if not isinstance(value, Mapping) or value.get("format") != BUNDLE_FORMAT:
                raise ValueError(f"not a {BUNDLE_FORMAT} document")
            certificates = tuple(
                BundledCertificate(Receipt.from_dict(item["receipt"]),
                                   None if item.get("document") is None
                                   else base64.b64decode(item["document"], validate=True))
                for item in value["certificates"])
            sha256 = str(value["sha256"]).lower().removeprefix("0x")
        except (ValueError, KeyError, TypeError) as exc:
            raise ReceiptBundleError(f"unreadable trace bundle: {exc}") from None
        except (RegistryError, AnchorError) as exc:
            raise ReceiptBundleError(f"unreadable trace bundle: {exc.message}") from None
        if not certificates:
            raise ReceiptBundleError("the trace bundle holds no certificate")
        return cls(sha256, certificates)


def build_trace_bundle(sessions: sessionmaker[Session], client: RegistryClient,
                       store: ContentStore, sha256: str) -> TraceBundle | None:
    """The bundle of `sha256` and every certificate in its traceability tree."""
    result = trace(sha256, ProjectionTraceabilityView(sessions))
    if result is None:
        return None
    certificates = []
    with sessions() as session:
        for node in result.nodes:
            receipt = find_receipt(session, client, node.facts.sha256,
                                   issuer_hex=node.facts.issuer_id)
            if receipt is None:
                continue
            document = None
            if not receipt.encrypted:
                try:
                    document = store.get(Cid.parse(receipt.cid))
                except AnchorError:
                    document = None  # the receipt still proves anchoring and revocation
            certificates.append(BundledCertificate(receipt, document))
    return TraceBundle(sha256, tuple(certificates))


@dataclass(frozen=True)
class BundleVerification:
    receipts: dict[str, ReceiptVerification]  # by SHA-256 (64 hex)
    traceability: TraceabilityResult | None  # None: the traced receipt itself is invalid

    def to_dict(self) -> dict[str, Any]:
        return {"receipts": {"0x" + sha: v.to_dict() for sha, v in self.receipts.items()},
                "traceability": None if self.traceability is None
                else self.traceability.to_dict()}


class _BundleView:
    """The traceability view over the certificates a bundle proves (and only those)."""

    def __init__(self, facts: dict[str, CertificateFacts]) -> None:
        self.facts = facts

    def certificate(self, sha256: str) -> CertificateFacts | None:
        return self.facts.get(sha256)

    def resolve(self, citation: Citation, citing: CertificateFacts) -> Resolution:
        if citation.cited_sha256 is not None:
            if citation.cited_sha256 in self.facts:
                return Resolution(citation.cited_sha256, "hash", "found in the bundle")
            return Resolution(None, "hash", "the bundle carries no valid receipt for this "
                              "SHA-256")
        key = normalise(citation.referral_id)
        matches = [f.sha256 for f in self.facts.values()
                   if key and normalise(f.unique_identifier or "") == key
                   and f.sha256 != citing.sha256]
        if len(matches) == 1:
            return Resolution(matches[0], "number", "found in the bundle by its number")
        return Resolution(None, "number", f"the bundle carries no single certificate "
                          f"numbered {citation.referral_id!r}")


def _document_metadata(document: bytes | None) -> dict[str, Any] | None:
    if document is None:
        return None
    try:
        validated = load_document(document, DocumentType.DCC)
    except RegistryError:
        return None
    return json.loads(validated.metadata.to_json())


def verify_trace_bundle(bundle: TraceBundle, rpc_url: str) -> BundleVerification:
    """Replay every receipt against the chain, then trace from what they prove."""
    receipts: dict[str, ReceiptVerification] = {}
    facts: dict[str, CertificateFacts] = {}
    w3 = connect(rpc_url)
    clients: dict[str, RegistryClient] = {}
    for item in bundle.certificates:
        receipt = item.receipt
        sha256 = receipt.document_sha256.removeprefix("0x")
        client = clients.setdefault(receipt.contract_address,
                                    RegistryClient(w3, receipt.contract_address))
        verification = verify_receipt(receipt, client, item.document)
        receipts[sha256] = verification
        if verification.verdict is Verdict.INVALID:
            continue
        batch = client.get_batch(receipt.batch_id)
        issuer_bytes = bytes.fromhex(receipt.issuer_id.removeprefix("0x"))
        issuer = client.get_issuer(issuer_bytes)
        metadata = _document_metadata(item.document)
        revocation = verification.revocation
        facts[sha256] = CertificateFacts(
            sha256=sha256, issuer_id=issuer_bytes.hex(), issuer_code=issuer_name(issuer_bytes),
            issuer_kind=issuer.kind.name.lower(),
            unique_identifier=None if metadata is None else metadata.get("unique_identifier"),
            anchored_at=dt.datetime.fromtimestamp(batch.anchored_at if batch else 0, dt.UTC),
            anchored_block=batch.block_number if batch else 0,
            calibration_date=calibration_date_of(metadata),
            revocation=None if revocation is None else RevocationFacts(
                revocation.reason.replace("_", "-"),
                dt.datetime.fromtimestamp(revocation.revoked_at, dt.UTC),
                dt.datetime.fromtimestamp(revocation.effective_from, dt.UTC)),
            citations=citations_of(metadata))
    return BundleVerification(receipts, trace(bundle.sha256, _BundleView(facts)))
