"""The metrological checks behind verification steps 9 and 10, over the projection and
the content store: traceability (registry.verify.traceability) and the accreditation
scope (registry.documents.accreditation). The API, the CLI and the benchmarks use it.
"""

from __future__ import annotations

import datetime as dt
import json
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
        row = accreditation_at(self.sessions, anchoring.issuer_id, day)
        if row is None:
            return ScopeEvidence(NOT_ACCREDITED, f"governance has recorded no accreditation "
                                 f"of {issuer} in force on {day}", None, ())
        summary = _accreditation_summary(row)
        if row.document_sha256 is None:
            return ScopeEvidence("outside-scope", f"the accreditation of {issuer} was "
                                 f"withdrawn with effect from {row.effective_from.date()}, "
                                 f"before the calibration on {day}", summary, ())
        if row.document is None:
            return ScopeEvidence(UNCHECKED, f"the accreditation document "
                                 f"{row.document_cid} is {row.document_status} on IPFS",
                                 summary, ())
        try:
            # The indexer checked these bytes against the on-chain hash; re-validated here
            # because a document can be well-formed JSON yet not a valid accreditation.
            accreditation = AccreditationDocument.from_json(json.dumps(row.document))
            data = document if document is not None else self._document(anchoring.cid)
            results = extract_results(parse_xml(data))
        except (RegistryError, AnchorError, ValueError) as exc:
            return ScopeEvidence(UNCHECKED, f"scope not checked: {exc}", summary, ())
        assessment = check_scope(results, accreditation, day)
        return ScopeEvidence(assessment.verdict.value, assessment.reason, summary,
                             tuple(a.to_dict() for a in assessment.results))

    def _document(self, cid: str) -> bytes:
        if self.store is None:
            raise ValueError("no content store to read the document from")
        return self.store.get(Cid.parse(cid))
