"""The public metadata of typed non-DCC documents (`certreg.<kind>/1`, DRMD).

One shape for every kind, so the projection (search, citations, directory look-ups)
reads them alike: `KindMetadata` is stored in batch manifests as
`certreg.kind-metadata/1` and round-trips exactly through JSON like the DCC metadata,
which is what lets `certreg reindex` rebuild everything from chain + IPFS.

- `identifiers`: (search kind, value as written) pairs: the `number`, `serial`,
  `manufacturer`, `model`, `approval-number`, `classifier-code` fields search filters on.
- `facts`: short (name, value) pairs a reader wants at a glance (verification kind,
  conformity, accuracy class ...).
- `citations`: the documents it cites (number and SHA-256 when known), with the role
  that decides whether the citation carries traceability (reference standards do).
- `codes`: the classifier codes it uses, checked at issuance against the directory
  version in force (`registry.documents.directories`).
- `directory`: for a classifier, its id, version, validity and codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from anchor.digest import canonical_json_text
from registry.documents.model import DocumentType, from_json_value, to_json_value
from registry.errors import DocumentDatesInvalidError

KIND_METADATA_FORMAT = "certreg.kind-metadata/1"

# Search kinds of `identifiers` (the names registry.db.search stores and the API filters on).
NUMBER = "number"
SERIAL = "serial"
IDENTIFICATION = "identification"
MANUFACTURER = "manufacturer"
MODEL = "model"
APPROVAL_NUMBER = "approval-number"
CLASSIFIER_CODE = "classifier-code"


@dataclass(frozen=True)
class DocumentCitation:
    """A document cited by number and, when given, SHA-256 (`procedure` "sha256")."""

    role: str  # a registry.documents.citations.CitationRole value
    referral: str
    referral_id: str
    procedure: str
    value: str


@dataclass(frozen=True)
class CodeUse:
    """A classifier code a document uses; `where` is its JSON pointer in the document."""

    directory: str
    version: str | None
    code: str
    where: str


@dataclass(frozen=True)
class DirectoryCode:
    code: str
    parent: str | None
    valid_from: date | None
    valid_until: date | None

    def valid_on(self, day: date) -> bool:
        return ((self.valid_from is None or self.valid_from <= day)
                and (self.valid_until is None or day <= self.valid_until))


@dataclass(frozen=True)
class DirectoryContent:
    """What a classifier publishes: which codes exist in which version, and when."""

    id: str
    version: str
    valid_from: date
    valid_until: date | None
    codes: tuple[DirectoryCode, ...]

    def in_force_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)


@dataclass(frozen=True)
class KindMetadata:
    kind: str  # "certreg.verification/1", "drmd/0.3.0", ...
    document_type: DocumentType
    identifier: str
    issuer: str
    country_code: str | None
    issue_date: date | None
    performed_on: date | None  # verification date; searched as the calibration period
    valid_from: date | None
    valid_until: date | None
    title: str | None
    language: str | None
    identifiers: tuple[tuple[str, str], ...] = ()
    facts: tuple[tuple[str, str], ...] = ()
    citations: tuple[DocumentCitation, ...] = ()
    codes: tuple[CodeUse, ...] = ()
    directory: DirectoryContent | None = None

    @property
    def reference_date(self) -> date | None:
        """The day a cited classifier code must be valid on."""
        return self.performed_on or self.issue_date or self.valid_from

    def to_json(self) -> dict[str, Any]:
        return {"format": KIND_METADATA_FORMAT, **to_json_value(self)}

    def to_canonical_json(self) -> str:
        return canonical_json_text(self.to_json())

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> KindMetadata:
        if value.get("format") != KIND_METADATA_FORMAT:
            raise ValueError(f"not {KIND_METADATA_FORMAT} metadata")
        return from_json_value(cls, {k: v for k, v in value.items() if k != "format"})


def parse_date(value: str | None) -> date | None:
    """A schema-checked `YYYY-MM-DD` string as a date (None stays None)."""
    return None if value is None else date.fromisoformat(value)


def require_order(earlier: tuple[str, date | None], later: tuple[str, date | None],
                  kind: str) -> None:
    """Raise DocumentDatesInvalidError unless earlier <= later (a missing date passes)."""
    (earlier_name, earlier_day), (later_name, later_day) = earlier, later
    if earlier_day is not None and later_day is not None and earlier_day > later_day:
        raise DocumentDatesInvalidError(
            f"{kind}: {earlier_name} {earlier_day.isoformat()} is after {later_name} "
            f"{later_day.isoformat()}", kind=kind, field=earlier_name)


def reference_citation(role: str, reference: Mapping[str, Any],
                       referral: str | None = None) -> DocumentCitation:
    """A citation from a schema-checked `documentReference` object."""
    sha256 = reference.get("sha256")
    return DocumentCitation(role=role, referral=referral or reference.get("title") or "",
                            referral_id=reference["number"],
                            procedure="sha256" if sha256 else "", value=sha256 or "")


def code_use(value: Mapping[str, Any] | None, where: str) -> tuple[CodeUse, ...]:
    """The classifier code of a schema-checked `classifierCode` object, if present."""
    if value is None:
        return ()
    return (CodeUse(directory=value["directory"], version=value.get("version"),
                    code=value["code"], where=where),)


def pairs(*items: tuple[str, object]) -> tuple[tuple[str, str], ...]:
    """(name, value) pairs with the absent values left out, in order, distinct."""
    return tuple(dict.fromkeys((name, str(value)) for name, value in items
                               if value is not None and str(value).strip()))


__all__ = [
    "APPROVAL_NUMBER",
    "CLASSIFIER_CODE",
    "IDENTIFICATION",
    "KIND_METADATA_FORMAT",
    "MANUFACTURER",
    "MODEL",
    "NUMBER",
    "SERIAL",
    "CodeUse",
    "DirectoryCode",
    "DirectoryContent",
    "DocumentCitation",
    "KindMetadata",
    "code_use",
    "pairs",
    "parse_date",
    "reference_citation",
    "require_order",
]
