"""certreg.type-approval/1 and certreg.type-description/1: examples accepted, defects
refused with stable codes, approval numbers searchable, the description cited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registry.db.search import search_fields
from registry.documents.citations import CitationRole, citations_of
from registry.documents.kinds import KindMetadata
from registry.documents.model import DocumentType
from registry.documents.validate import load_document
from registry.errors import DocumentError

DOCS = Path(__file__).resolve().parents[3] / "docs" / "examples"
APPROVALS = DOCS / "type-approval"
DESCRIPTIONS = DOCS / "type-description"
NAWI = APPROVALS / "nawi-oiml-r76-class-iii.json"


def _load(document: dict[str, Any], declared: DocumentType = DocumentType.DCC):
    return load_document(json.dumps(document).encode(), declared)


def _refused(document: dict[str, Any]) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        _load(document)
    return caught.value


def _nawi() -> dict[str, Any]:
    return json.loads(NAWI.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", sorted(APPROVALS.glob("*.json")) + sorted(
    DESCRIPTIONS.glob("*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_published_examples_are_accepted(path: Path) -> None:
    document = load_document(path.read_bytes(), DocumentType.DCC)
    expected = (DocumentType.TYPE_APPROVAL if path.parent == APPROVALS
                else DocumentType.TYPE_DESCRIPTION)
    assert document.document_type is expected
    assert document.metadata.identifier == json.loads(path.read_text())["number"]
    assert KindMetadata.from_json(json.loads(json.dumps(document.metadata.to_json()))) \
        == document.metadata


def test_three_examples_of_each() -> None:
    assert len(list(APPROVALS.glob("*.json"))) >= 3
    assert len(list(DESCRIPTIONS.glob("*.json"))) >= 3


def test_type_approval_metadata_for_search_and_its_description_cited() -> None:
    metadata = load_document(NAWI.read_bytes(), DocumentType.TYPE_APPROVAL).metadata
    assert (metadata.valid_from.isoformat(), metadata.valid_until.isoformat()) == (
        "2022-04-14", "2032-04-13")
    assert ("accuracy_class", "III") in metadata.facts
    assert ("verification_interval_months", "25") in metadata.facts
    fields = search_fields(metadata.to_json(), encrypted=False)
    assert ("approval-number", "pl 22 001") in fields.identifiers
    assert ("manufacturer", "radwag wagi elektroniczne") in fields.identifiers
    assert {("model", "ps r2"), ("model", "ps 15/30.r2")} <= set(fields.identifiers)
    citations = citations_of(metadata.to_json())
    description = next(c for c in citations if c.role is CitationRole.TYPE_DESCRIPTION)
    assert description.referral_id == "PL 22 001 TD-1"
    assert description.cited_sha256 == _nawi()["type_description"]["sha256"]
    assert not description.carries_traceability


def test_type_description_is_found_by_the_approval_number_it_belongs_to() -> None:
    path = DESCRIPTIONS / "nawi-ps-r2.json"
    metadata = load_document(path.read_bytes(), DocumentType.TYPE_DESCRIPTION).metadata
    assert ("approval-number", "pl 22 001") in search_fields(
        metadata.to_json(), encrypted=False).identifiers
    assert [c.role for c in citations_of(metadata.to_json())] == [CitationRole.TYPE_APPROVAL]


def test_validity_ending_before_it_begins_is_refused() -> None:
    document = _nawi()
    document["valid_until"] = "2022-04-13"
    error = _refused(document)
    assert error.code == "document-dates-invalid"
    assert error.details["field"] == "valid_from"


@pytest.mark.parametrize("field", ["approving_body", "characteristics", "type_description",
                                   "valid_until", "instrument_type"])
def test_missing_required_field(field: str) -> None:
    document = _nawi()
    del document[field]
    assert _refused(document).code == "document-schema-invalid"


def test_numbers_must_be_decimal_strings_not_json_floats() -> None:
    document = _nawi()
    document["characteristics"][0]["maximum"] = 60.0
    error = _refused(document)
    assert error.code == "document-schema-invalid"
    assert error.details["violations"][0]["path"] == "/characteristics/0/maximum"


def test_inverted_range_is_refused() -> None:
    document = _nawi()
    document["characteristics"][0]["minimum"] = "61"
    assert _refused(document).code == "document-content-invalid"


def test_verification_interval_must_be_a_positive_whole_number_of_months() -> None:
    document = _nawi()
    document["verification"]["interval_months"] = 0
    assert _refused(document).code == "document-schema-invalid"


def test_a_type_description_submitted_as_a_type_approval_is_a_mismatch() -> None:
    document = json.loads((DESCRIPTIONS / "nawi-ps-r2.json").read_text())
    with pytest.raises(DocumentError) as caught:
        _load(document, DocumentType.TYPE_APPROVAL)
    assert caught.value.code == "document-type-mismatch"
