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
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import AccreditationRecord, RegistryClient, connect, issuer_name
from anchor.cid import Cid
from anchor.errors import AnchorError
from anchor.evidence import KIND_MIGRATION, EvidenceRecord, verify_evidence_record
from anchor.receipt import Receipt, ReceiptVerification, Verdict, verify_receipt
from anchor.store import ContentStore
from registry.db.search import normalise
from registry.db.traceability import ProjectionTraceabilityView, accreditation_at
from registry.documents.citations import Citation, citations_of
from registry.documents.model import DocumentType
from registry.documents.validate import load_document
from registry.errors import ReceiptBundleError, RegistryError
from registry.evidence_records import indexed_contract, projected_record
from registry.issuance import find_receipt
from registry.trust import AccreditationInForce, assess_scope, calibration_date_of
from registry.verify.model import ScopeEvidence
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
    # The receipt's evidence record when it was renewed or migrated: checked in place of
    # the receipt (docs/evidence-records.md), so the bundle outlives the receipt's chain.
    evidence: EvidenceRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"receipt": self.receipt.to_dict(),
                "document": None if self.document is None
                else base64.b64encode(self.document).decode("ascii"),
                "evidence": None if self.evidence is None else self.evidence.to_dict()}


@dataclass(frozen=True)
class TraceBundle:
    sha256: str  # 64 hex: the certificate traced
    certificates: tuple[BundledCertificate, ...]  # the certificate traced first
    # Accreditation documents (exact bytes) in force at the bundled certificates'
    # calibration dates; the chain says which one applied and what it must hash to.
    accreditation_documents: tuple[bytes, ...] = ()

    def to_json(self) -> str:
        return json.dumps({"format": BUNDLE_FORMAT, "sha256": "0x" + self.sha256,
                           "certificates": [c.to_dict() for c in self.certificates],
                           "accreditation_documents": [
                               base64.b64encode(d).decode("ascii")
                               for d in self.accreditation_documents]},
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
                                   else base64.b64decode(item["document"], validate=True),
                                   None if item.get("evidence") is None
                                   else EvidenceRecord.from_dict(item["evidence"]))
                for item in value["certificates"])
            if any(c.evidence is not None and c.evidence.receipt != c.receipt
                   for c in certificates):
                raise ValueError("an evidence record is of another receipt")
            sha256 = str(value["sha256"]).lower().removeprefix("0x")
            accreditations = tuple(base64.b64decode(d, validate=True)
                                   for d in value.get("accreditation_documents") or [])
        except (ValueError, KeyError, TypeError) as exc:
            raise ReceiptBundleError(f"unreadable trace bundle: {exc}") from None
        except (RegistryError, AnchorError) as exc:
            raise ReceiptBundleError(f"unreadable trace bundle: {exc.message}") from None
        if not certificates:
            raise ReceiptBundleError("the trace bundle holds no certificate")
        return cls(sha256, certificates, accreditations)


def build_trace_bundle(sessions: sessionmaker[Session], client: RegistryClient,
                       store: ContentStore, sha256: str) -> TraceBundle | None:
    """The bundle of `sha256` and every certificate in its traceability tree."""
    result = trace(sha256, ProjectionTraceabilityView(sessions))
    if result is None:
        return None
    certificates = []
    accreditations: dict[str, bytes] = {}
    with sessions() as session:
        contract = indexed_contract(session)
        for node in result.nodes:
            day = node.facts.calibration_date
            row = None if day is None else accreditation_at(sessions, node.facts.issuer_id, day)
            if row is not None and row.document_sha256 is not None \
                    and row.document_sha256 not in accreditations:
                # Unreadable now: offline, that scope is then reported unchecked.
                with contextlib.suppress(AnchorError):
                    accreditations[row.document_sha256] = store.get(Cid.parse(row.document_cid))
            record = None if contract is None else projected_record(session, contract,
                                                                    node.facts.sha256)
            if record is not None and record.renewals and \
                    record.receipt.issuer_id == "0x" + node.facts.issuer_id:
                receipt, evidence = record.receipt, record
            else:
                receipt = find_receipt(session, client, node.facts.sha256,
                                       issuer_hex=node.facts.issuer_id)
                evidence = None
            if receipt is None:
                continue
            document = None
            if not receipt.encrypted:
                try:
                    document = store.get(Cid.parse(receipt.cid))
                except AnchorError:
                    document = None  # the receipt still proves anchoring and revocation
            certificates.append(BundledCertificate(receipt, document, evidence))
    return TraceBundle(sha256, tuple(certificates), tuple(accreditations.values()))


@dataclass(frozen=True)
class BundleVerification:
    receipts: dict[str, ReceiptVerification]  # by SHA-256 (64 hex)
    traceability: TraceabilityResult | None  # None: the traced receipt itself is invalid
    accreditation_scope: dict[str, ScopeEvidence]  # by SHA-256, for the valid receipts

    def to_dict(self) -> dict[str, Any]:
        return {"receipts": {"0x" + sha: v.to_dict() for sha, v in self.receipts.items()},
                "traceability": None if self.traceability is None
                else self.traceability.to_dict(),
                "accreditation_scope": {"0x" + sha: dataclasses.asdict(scope)
                                        for sha, scope in self.accreditation_scope.items()}}


class _ChainAccreditations:
    """Which accreditation version applied on a day, read from the contract; its
    document from the bundle, by the hash the contract records."""

    def __init__(self, documents: tuple[bytes, ...]) -> None:
        self.documents = {hashlib.sha256(d).hexdigest(): d for d in documents}
        self._versions: dict[tuple[str, str], list[AccreditationRecord]] = {}

    def in_force(self, client: RegistryClient, issuer: bytes,
                 day: dt.date) -> AccreditationInForce | None:
        key = (client.address, issuer.hex())
        if key not in self._versions:
            # Off chain, so reading every version is fine: there are a handful per issuer.
            self._versions[key] = [client.get_accreditation(issuer, v) for v in
                                   range(1, client.accreditation_count(issuer) + 1)]
        end_of_day = dt.datetime.combine(day, dt.time.max, dt.UTC).timestamp()
        applicable = [r for r in self._versions[key] if r.effective_from <= end_of_day]
        if not applicable:
            return None
        record = max(applicable, key=lambda r: (r.effective_from, r.version))
        summary = {"issuer": issuer_name(issuer), "version": record.version,
                   "effective_from": dt.datetime.fromtimestamp(record.effective_from,
                                                               dt.UTC).isoformat(),
                   "document_sha256": None if record.document_hash is None
                   else "0x" + record.document_hash.hex(),
                   "document_cid": record.document_cid or None,
                   "block_number": record.recorded_block}
        effective = dt.datetime.fromtimestamp(record.effective_from, dt.UTC).date()
        if record.document_hash is None:
            return AccreditationInForce(summary, effective, True, None)
        data = self.documents.get(record.document_hash.hex())
        if data is None:
            return AccreditationInForce(summary, effective, False, None,
                                        "the bundle carries no accreditation document with "
                                        "the hash the chain records")
        document = json.loads(data)
        summary |= {"body": document.get("body"), "number": document.get("number")}
        return AccreditationInForce(summary, effective, False, document)


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
    return validated.metadata.to_json_dict()


def verify_trace_bundle(bundle: TraceBundle, rpc_url: str) -> BundleVerification:
    """Replay every receipt against the chain, then trace from what they prove."""
    receipts: dict[str, ReceiptVerification] = {}
    facts: dict[str, CertificateFacts] = {}
    scopes: dict[str, ScopeEvidence] = {}
    accreditations = _ChainAccreditations(bundle.accreditation_documents)
    w3 = connect(rpc_url)
    clients: dict[str, RegistryClient] = {}
    for item in bundle.certificates:
        receipt = item.receipt
        sha256 = receipt.document_sha256.removeprefix("0x")
        # The contract holding the latest evidence: the receipt's, or a migration's.
        address = receipt.contract_address if item.evidence is None else next(
            (r.anchorings[0].contract_address for r in reversed(item.evidence.renewals)
             if r.kind == KIND_MIGRATION), receipt.contract_address)
        client = clients.setdefault(address, RegistryClient(w3, address))
        if item.evidence is not None:
            verification = verify_evidence_record(item.evidence, item.document, [client])
        else:
            verification = verify_receipt(receipt, client, item.document)
        receipts[sha256] = verification
        if verification.verdict is Verdict.INVALID:
            continue
        # The anchoring time and block are the receipt's: the evidence covers them (and
        # the receipt's own chain may be gone).
        batch = client.get_batch(receipt.batch_id) if item.evidence is None else None
        issuer_bytes = bytes.fromhex(receipt.issuer_id.removeprefix("0x"))
        issuer = client.get_issuer(issuer_bytes)
        metadata = _document_metadata(item.document)
        revocation = verification.revocation
        facts[sha256] = CertificateFacts(
            sha256=sha256, issuer_id=issuer_bytes.hex(), issuer_code=issuer_name(issuer_bytes),
            issuer_kind=issuer.kind.name.lower(),
            unique_identifier=None if metadata is None else metadata.get("unique_identifier"),
            anchored_at=dt.datetime.fromtimestamp(
                batch.anchored_at if batch else receipt.anchored_at, dt.UTC),
            anchored_block=batch.block_number if batch else receipt.block_number,
            calibration_date=calibration_date_of(metadata),
            revocation=None if revocation is None else RevocationFacts(
                revocation.reason.replace("_", "-"),
                dt.datetime.fromtimestamp(revocation.revoked_at, dt.UTC),
                dt.datetime.fromtimestamp(revocation.effective_from, dt.UTC)),
            citations=citations_of(metadata))
        day = calibration_date_of(metadata)
        if metadata is not None and day is not None and item.document is not None:
            document = item.document
            scopes[sha256] = assess_scope(issuer_name(issuer_bytes), day,
                                          accreditations.in_force(client, issuer_bytes, day),
                                          lambda document=document: document)
    return BundleVerification(receipts, trace(bundle.sha256, _BundleView(facts)), scopes)
