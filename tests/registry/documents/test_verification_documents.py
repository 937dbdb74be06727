"""certreg.verification/1: the published examples are accepted, each defect refused with
its stable code, and the metadata feeds search and traceability."""

from __future__ import annotations

import copy
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

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples" / "verification"
FUEL = EXAMPLES / "fuel-dispenser-periodic.json"


def _example(path: Path = FUEL) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _refused(document: dict[str, Any]) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        load_document(json.dumps(document).encode(), DocumentType.VERIFICATION_CERTIFICATE)
    return caught.value


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_published_examples_are_accepted_and_their_metadata_round_trips(path: Path) -> None:
    document = load_document(path.read_bytes(), DocumentType.DCC)
    assert document.document_type is DocumentType.VERIFICATION_CERTIFICATE
    assert document.media_type == "application/json"
    assert document.schema_version == "certreg.verification/1"
    source = _example(path)
    metadata = document.metadata
    assert isinstance(metadata, KindMetadata)
    assert metadata.identifier == source["number"]
    assert metadata.performed_on.isoformat() == source["verification"]["date"]
    stored = json.loads(json.dumps(metadata.to_json()))
    assert KindMetadata.from_json(stored) == metadata


def test_at_least_three_examples_are_published() -> None:
    assert len(list(EXAMPLES.glob("*.json"))) >= 3


def test_instrument_fields_are_searchable() -> None:
    metadata = load_document(FUEL.read_bytes(), DocumentType.DCC).metadata.to_json()
    fields = search_fields(json.loads(json.dumps(metadata)), encrypted=False)
    assert ("serial", "qt510-2019-088213") in fields.identifiers
    assert ("manufacturer", "tokheim dispensers gmbh") in fields.identifiers
    assert ("model", "quantium 510 h 4p") in fields.identifiers
    assert ("approval-number", "de-21-mi005-ptb014") in fields.identifiers
    assert ("number", "lme-by-2026-vc-004512") in fields.identifiers
    assert ("classifier-code", "17.02.01") in fields.identifiers
    assert fields.calibrated_from == fields.calibrated_to
    assert fields.calibrated_from.isoformat() == "2026-03-17"
    assert fields.issued_on.isoformat() == "2026-03-18"
    assert search_fields(metadata, encrypted=True).identifiers == ()


def test_reference_standards_are_citations_that_carry_traceability() -> None:
    metadata = load_document(FUEL.read_bytes(), DocumentType.DCC).metadata.to_json()
    citations = citations_of(json.loads(json.dumps(metadata)))
    standards = [c for c in citations if c.role is CitationRole.REFERENCE_STANDARD]
    assert [c.referral_id for c in standards] == ["DAkkS-D-K-15026-2025-0871",
                                                 "DAkkS-D-K-15070-2025-1204"]
    assert standards[0].cited_sha256 == _example()["reference_standards"][0][
        "certificate"]["sha256"]
    assert standards[1].cited_sha256 is None  # cited by number only
    assert all(c.carries_traceability for c in standards)
    others = [c for c in citations if c.role is not CitationRole.REFERENCE_STANDARD]
    assert {c.role for c in others} == {CitationRole.PROCEDURE, CitationRole.TYPE_APPROVAL}
    assert not any(c.carries_traceability for c in others)
    assert citations_of(metadata, encrypted=True) == ()


def test_non_conforming_instrument_states_the_reason() -> None:
    path = EXAMPLES / "water-meter-non-conforming.json"
    metadata = load_document(path.read_bytes(), DocumentType.DCC).metadata
    facts = dict(metadata.facts)
    assert facts["conformity"] == "does-not-conform"
    assert "exceeds the maximum permissible error" in facts["reason"]
    assert metadata.valid_until is None


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    document = _example()
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return document


@pytest.mark.parametrize("path", [("number",), ("instrument", "serial_number"),
                                  ("verification", "date"), ("reference_standards",),
                                  ("verifier",), ("verification_mark",),
                                  ("verification", "valid_until")])
def test_a_missing_field_is_a_schema_violation(path: tuple[str, ...]) -> None:
    error = _refused(_without(path))
    assert error.code == "document-schema-invalid"
    assert error.details["kind"] == "certreg.verification/1"
    assert error.details["violations"]


def test_wrong_types_and_values_are_schema_violations_naming_the_place() -> None:
    document = _example()
    document["verification"]["kind"] = "yearly"
    document["instrument"]["serial_number"] = 88213
    document["issue_date"] = "18.03.2026"
    error = _refused(document)
    assert error.code == "document-schema-invalid"
    paths = {v["path"] for v in error.details["violations"]}
    assert {"/verification/kind", "/instrument/serial_number", "/issue_date"} <= paths


def test_an_impossible_calendar_date_is_refused() -> None:
    document = _example()
    document["verification"]["date"] = "2026-02-30"
    assert _refused(document).code == "document-schema-invalid"


def test_unknown_fields_are_refused() -> None:
    document = _example()
    document["instrument"]["colour"] = "red"
    assert _refused(document).code == "document-schema-invalid"


def test_a_non_conformity_without_reason_is_refused() -> None:
    document = json.loads((EXAMPLES / "water-meter-non-conforming.json").read_text())
    del document["result"]["reason"]
    assert _refused(document).code == "document-schema-invalid"


def test_a_non_conforming_instrument_gets_no_validity() -> None:
    document = json.loads((EXAMPLES / "water-meter-non-conforming.json").read_text())
    document["verification"]["valid_until"] = "2030-01-01"
    assert _refused(document).code == "document-schema-invalid"


@pytest.mark.parametrize("change", [
    {"verification": {"valid_until": "2026-03-16"}},  # valid before it was verified
    {"issue_date": "2026-03-16"},  # issued before the verification
])
def test_dates_out_of_order_are_refused(change: dict[str, Any]) -> None:
    document = _example()
    for key, value in change.items():
        if isinstance(value, dict):
            document[key].update(value)
        else:
            document[key] = value
    error = _refused(document)
    assert error.code == "document-dates-invalid"


def test_a_range_whose_minimum_is_above_its_maximum_is_refused() -> None:
    document = _example()
    document["instrument"]["characteristics"][0]["minimum"] = "50"
    error = _refused(document)
    assert error.code == "document-content-invalid"
    assert error.details["field"] == "/instrument/characteristics/0/minimum"


def test_a_malformed_dsi_unit_is_refused() -> None:
    document = copy.deepcopy(_example())
    document["instrument"]["characteristics"][0]["unit"]["dsi"] = "\\litre\\minute\\tothe{x}"
    error = _refused(document)
    assert error.code == "document-content-invalid"
    assert error.details["field"].endswith("/unit/dsi")


def test_a_ucum_unit_that_is_not_its_dsi_unit_is_refused() -> None:
    document = copy.deepcopy(_example())
    unit = document["instrument"]["characteristics"][0]["unit"]  # \litre\minute\tothe{-1}
    unit["ucum"] = "L/h"
    error = _refused(document)
    assert error.code == "document-content-invalid"
    assert error.details["field"].endswith("/unit/ucum") and "that is L/min" in error.message
    unit["ucum"] = "L/MIN"
    assert "case-sensitive: min" in _refused(document).message


def test_a_citation_hash_must_be_sha256_hex() -> None:
    document = _example()
    document["reference_standards"][0]["certificate"]["sha256"] = "0x1234"
    assert _refused(document).code == "document-schema-invalid"
