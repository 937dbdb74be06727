"""Certificates a document cites: the input of traceability.

A DCC cites other certificates through the schema's hashType, in three places:
`coreData/previousReport` (the item's previous calibration), every
`measuringEquipment/certificate` (the standards used) and every
`influenceCondition/certificate`; each may chain further `linkedReport`s. The fields:
`referral` (free text naming the certificate), `referralID` (its identifier, the cited
DCC's uniqueIdentifier), `procedure` (the hash algorithm) and `value` (the hash).

Typed non-DCC documents (`certreg.kind-metadata/1`, see `registry.documents.kinds`) list
their citations with a role each; a verification certificate's reference standards carry
traceability like a DCC's measuring equipment, so the cascade reaches them too.

Citations are read from a document's PUBLIC metadata as stored in its batch manifest
(`DccMetadata.to_json()`), so they are exactly what the anchored document says and can
be re-derived by anyone from chain + IPFS. They never raise on odd input: metadata
comes from IPFS, and what cannot be read is simply not a citation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from registry.documents.kinds import KIND_METADATA_FORMAT
from registry.documents.metadata import METADATA_FORMAT as DCC_METADATA_FORMAT

_HEX64 = re.compile(r"^(?:0x)?([0-9a-fA-F]{64})$")
# `procedure` values that name SHA-256 (free text in the schema); empty means unstated.
_SHA256_NAMES = frozenset({"", "sha256", "sha-256", "sha2-256", "sha_256", "sha2", "sha-2"})
REFERENCE_MAX_LENGTH = 255


class CitationRole(StrEnum):
    """Why a certificate is cited, which decides whether it carries traceability."""

    MEASURING_EQUIPMENT = "measuring-equipment"  # a standard used: traceability
    INFLUENCE_CONDITION = "influence-condition"  # an instrument for conditions: traceability
    PREVIOUS_REPORT = "previous-report"  # the item's history: shown, not traceability
    LINKED_REPORT = "linked-report"  # a report the cited one links to (same role chain)
    # Typed non-DCC documents (registry.documents.kinds):
    REFERENCE_STANDARD = "reference-standard"  # a standard a verification used: traceability
    TYPE_APPROVAL = "type-approval"  # the approval an instrument or description belongs to
    TYPE_DESCRIPTION = "type-description"  # the description a type approval approves
    PROCEDURE = "procedure"  # the verification procedure followed

    @property
    def carries_traceability(self) -> bool:
        return self in _TRACEABILITY_ROLES


_TRACEABILITY_ROLES = frozenset({
    CitationRole.MEASURING_EQUIPMENT, CitationRole.INFLUENCE_CONDITION,
    CitationRole.LINKED_REPORT, CitationRole.REFERENCE_STANDARD})


@dataclass(frozen=True)
class Citation:
    """One certificate a document cites, as written, with the SHA-256 when it gives one."""

    position: int  # order in the document (0-based), stable across re-indexing
    role: CitationRole
    referral: str  # the referral text, languages joined with " / "
    referral_id: str
    procedure: str
    value: str
    # The cited document's SHA-256 (64 lowercase hex) when `value` is one and
    # `procedure` names SHA-256 or nothing; None when it cites by number only or by
    # another algorithm.
    cited_sha256: str | None

    @property
    def carries_traceability(self) -> bool:
        return self.role.carries_traceability

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "role": self.role.value, "referral": self.referral,
                "referral_id": self.referral_id, "procedure": self.procedure,
                "value": self.value, "cited_sha256": self.cited_sha256}


def cited_sha256(procedure: str, value: str) -> str | None:
    """The SHA-256 a hashType names, or None if it names another algorithm or none."""
    match = _HEX64.match(value.strip())
    name = procedure.strip().lower().replace(" ", "")
    if match is None or name not in _SHA256_NAMES:
        return None
    return match.group(1).lower()


def _text(value: Any) -> str:
    return str(value).strip()[:REFERENCE_MAX_LENGTH] if isinstance(value, str | int) else ""


def _referral_text(referral: Any) -> str:
    if not isinstance(referral, list):
        return ""
    texts = [str(t.get("text")) for t in referral if isinstance(t, Mapping) and t.get("text")]
    return " / ".join(dict.fromkeys(texts))[:REFERENCE_MAX_LENGTH]


def _append(found: list[Citation], role: CitationRole, referral: str,
            reference: Mapping[str, Any]) -> None:
    """Add the citation `reference` makes, if it names a number or a hash."""
    procedure, value = _text(reference.get("procedure")), _text(reference.get("value"))
    citation = Citation(position=len(found), role=role, referral=referral,
                        referral_id=_text(reference.get("referral_id")),
                        procedure=procedure, value=value,
                        cited_sha256=cited_sha256(procedure, value))
    if citation.referral_id or citation.value:
        found.append(citation)


def _walk(reference: Any, role: CitationRole, found: list[Citation]) -> None:
    depth = 0
    while isinstance(reference, Mapping) and depth < 16:  # linked reports, bounded
        _append(found, role, _referral_text(reference.get("referral")), reference)
        reference = reference.get("linked_report")
        role = CitationRole.LINKED_REPORT if role.carries_traceability else role
        depth += 1


def _kind_citations(metadata: Mapping[str, Any]) -> tuple[Citation, ...]:
    """The `citations` of `certreg.kind-metadata/1` (roles this registry does not know
    are skipped: they would carry no meaning for traceability)."""
    found: list[Citation] = []
    for cited in metadata.get("citations") or []:
        if isinstance(cited, Mapping) and cited.get("role") in _ROLE_VALUES:
            _append(found, CitationRole(cited["role"]), _text(cited.get("referral")), cited)
    return tuple(found)


_ROLE_VALUES = frozenset(role.value for role in CitationRole)


def citations_of(metadata: Mapping[str, Any] | None, encrypted: bool = False
                 ) -> tuple[Citation, ...]:
    """Every certificate a document's public metadata cites, in document order."""
    if encrypted or not isinstance(metadata, Mapping):
        return ()
    if metadata.get("format") == KIND_METADATA_FORMAT:
        return _kind_citations(metadata)
    if metadata.get("format") != DCC_METADATA_FORMAT:
        return ()
    found: list[Citation] = []
    _walk(metadata.get("previous_report"), CitationRole.PREVIOUS_REPORT, found)
    for equipment in metadata.get("measuring_equipment") or []:
        if isinstance(equipment, Mapping):
            _walk(equipment.get("certificate"), CitationRole.MEASURING_EQUIPMENT, found)
    for reference in metadata.get("influence_condition_certificates") or []:
        _walk(reference, CitationRole.INFLUENCE_CONDITION, found)
    return tuple(found)
