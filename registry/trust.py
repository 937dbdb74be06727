"""The metrological checks behind verification steps 10 and 11, over the projection and
the content store: traceability (registry.verify.traceability) and the accreditation
scope (registry.documents.accreditation). The API, the CLI and the benchmarks use it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import issuer_name
from anchor.cid import Cid
from anchor.errors import AnchorError
from anchor.store import ContentStore
from registry.db.models import ChainAccreditation
from registry.db.traceability import ProjectionTraceabilityView, accreditation_at
from registry.documents.accreditation import AccreditationDocument, check_scope
from registry.documents.parse import parse_xml
from registry.documents.results import extract_results
from registry.errors import RegistryError
from registry.verify.model import ScopeEvidence
from registry.verify.steps import IndexedAnchoring
from registry.verify.traceability import TraceabilityResult, trace

NOT_ACCREDITED = "not-accredited"
UNCHECKED = "unchecked"


def calibration_date_of(metadata: dict[str, Any] | None) -> dt.date | None:
    """The day a DCC's calibration ended (or began, or was issued): the date its
    standards were used and the scope that applied."""
    if not isinstance(metadata, dict):
        return None
    for key in ("end_performance_date", "begin_performance_date", "issue_date"):
        value = metadata.get(key)
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value[:10])
            except ValueError:
                continue
    return None


def _accreditation_summary(row: ChainAccreditation) -> dict[str, Any]:
    document = row.document or {}
    return {"issuer": issuer_name(bytes.fromhex(row.issuer_id)), "version": row.version,
            "body": document.get("body"), "number": document.get("number"),
            "effective_from": row.effective_from.isoformat(),
            "document_sha256": None if row.document_sha256 is None
            else "0x" + row.document_sha256,
            "document_cid": row.document_cid or None, "block_number": row.block_number,
            "transaction_hash": row.tx_hash}


@dataclass(frozen=True)
class AccreditationInForce:
    """The accreditation version that applied on a calibration date, as read from the
    projection or, offline, from the contract plus a bundled document."""

    summary: dict[str, Any]
    effective_from: dt.date
    withdrawn: bool
    document: dict[str, Any] | None  # the JSON document, checked against its on-chain hash
    unavailable: str | None = None  # why `document` is None when not withdrawn


def assess_scope(issuer: str, day: dt.date, in_force: AccreditationInForce | None,
                 document: Callable[[], bytes]) -> ScopeEvidence:
    """Step 10 once the accreditation in force is known: every result of the DCC
    (`document` supplies its bytes) against that scope."""
    if in_force is None:
        return ScopeEvidence(NOT_ACCREDITED, f"governance has recorded no accreditation "
                             f"of {issuer} in force on {day}", None, ())
    if in_force.withdrawn:
        return ScopeEvidence("outside-scope", f"the accreditation of {issuer} was withdrawn "
                             f"with effect from {in_force.effective_from}, before the "
                             f"calibration on {day}", in_force.summary, ())
    if in_force.document is None:
        return ScopeEvidence(UNCHECKED, in_force.unavailable or "the accreditation document "
                             "is not available", in_force.summary, ())
    try:
        # Re-validated: a document can be well-formed JSON yet not a valid accreditation.
        accreditation = AccreditationDocument.from_json(json.dumps(in_force.document))
        results = extract_results(parse_xml(document()))
    except (RegistryError, AnchorError, ValueError) as exc:
        return ScopeEvidence(UNCHECKED, f"scope not checked: {exc}", in_force.summary, ())
    assessment = check_scope(results, accreditation, day)
    return ScopeEvidence(assessment.verdict.value, assessment.reason, in_force.summary,
                         tuple(a.to_dict() for a in assessment.results))


class RegistryTrustChecks:
    """registry.verify.steps.TrustChecks over the projection and the content store."""

    def __init__(self, sessions: sessionmaker[Session], store: ContentStore | None) -> None:
        self.sessions = sessions
        self.store = store

    def traceability(self, sha256: str) -> TraceabilityResult | None:
        return trace(sha256, ProjectionTraceabilityView(self.sessions))

    def accreditation_scope(self, anchoring: IndexedAnchoring,
                            document: bytes | None) -> ScopeEvidence:
        if anchoring.document_type != "dcc":
            return ScopeEvidence(UNCHECKED, f"a {anchoring.document_type} states no "
                                 "measurement results to check against a scope", None, ())
        if anchoring.encrypted and document is None:
            return ScopeEvidence(UNCHECKED, "the document is confidential: upload it to "
                                 "check its results against the scope", None, ())
        day = calibration_date_of(anchoring.metadata)
        issuer = issuer_name(bytes.fromhex(anchoring.issuer_id))
        if day is None:
            return ScopeEvidence(UNCHECKED, "the certificate states no calibration date",
                                 None, ())
        row = self._accreditation_at(anchoring.issuer_id, day)
        in_force = None if row is None else AccreditationInForce(
            summary=_accreditation_summary(row), effective_from=row.effective_from.date(),
            withdrawn=row.document_sha256 is None, document=row.document,
            unavailable=None if row.document is not None else
            f"the accreditation document {row.document_cid} is {row.document_status} on IPFS")
        return assess_scope(issuer, day, in_force, lambda: (
            document if document is not None else self._document(anchoring.cid)))

    def _accreditation_at(self, issuer_id: str, day: dt.date) -> ChainAccreditation | None:
        return accreditation_at(self.sessions, issuer_id, day)

    def _document(self, cid: str) -> bytes:
        if self.store is None:
            raise ValueError("no content store to read the document from")
        return self.store.get(Cid.parse(cid))
