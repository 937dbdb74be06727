"""certreg.reference-material/1 (property values, uncertainties, units) and the refusal
of DRMD XML, whose schema is not bundled."""

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

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples" / "reference-material"
WATER = EXAMPLES / "lead-in-drinking-water.json"
# Written for this test from the structure of the public DRMD 0.3.0 schema (root element,
# namespace, schemaVersion); not a copy of a BAM certificate.
DRMD = b"""<?xml version="1.0" encoding="UTF-8"?>
<drmd:digitalReferenceMaterialDocument xmlns:drmd="https://example.org/drmd"
    xmlns:dcc="https://ptb.de/dcc" schemaVersion="0.3.0">
  <drmd:administrativeData><drmd:coreData>
    <drmd:titleOfTheDocument>referenceMaterialCertificate</drmd:titleOfTheDocument>
    <drmd:uniqueIdentifier>RM-TEST-1</drmd:uniqueIdentifier>
  </drmd:coreData></drmd:administrativeData>
</drmd:digitalReferenceMaterialDocument>
"""


def _water() -> dict[str, Any]:
    return json.loads(WATER.read_text(encoding="utf-8"))


def _refused(document: dict[str, Any]) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        load_document(json.dumps(document).encode(), DocumentType.REFERENCE_MATERIAL_CERTIFICATE)
    return caught.value


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_published_examples_are_accepted(path: Path) -> None:
    document = load_document(path.read_bytes(), DocumentType.DCC)
    assert document.document_type is DocumentType.REFERENCE_MATERIAL_CERTIFICATE
    assert KindMetadata.from_json(json.loads(json.dumps(document.metadata.to_json()))) \
        == document.metadata
    assert len(list(EXAMPLES.glob("*.json"))) >= 3


def test_material_is_searchable_and_standards_carry_traceability() -> None:
    metadata = load_document(WATER.read_bytes(), DocumentType.DCC).metadata.to_json()
    identifiers = search_fields(metadata, encrypted=False).identifiers
    assert {("number", "bam-w021"), ("identification", "w021-2026-01"),
            ("number", "bam-cert-2026-w021")} <= set(identifiers)
    (standard,) = citations_of(metadata)
    assert standard.role is CitationRole.REFERENCE_STANDARD and standard.carries_traceability
    assert standard.cited_sha256 == _water()["reference_standards"][0]["certificate"]["sha256"]


def test_a_certified_value_needs_an_uncertainty() -> None:
    document = _water()
    del document["properties"][0]["uncertainty"]
    error = _refused(document)
    assert error.code == "document-schema-invalid"
    assert error.details["violations"][0]["path"] == "/properties/0"


@pytest.mark.parametrize(("field", "value"), [("expanded", "0"), ("coverage_factor", "-2"),
                                              ("coverage_probability", "95")])
def test_uncertainty_must_make_sense(field: str, value: str) -> None:
    document = _water()
    document["properties"][1]["uncertainty"][field] = value
    error = _refused(document)
    assert error.code == "document-content-invalid"
    assert error.details["field"] == f"/properties/1/uncertainty/{field}"


def test_validity_is_exactly_one_of_its_forms() -> None:
    document = _water()
    document["validity"] = {"until": "2030-01-01", "until_revoked": True}
    assert _refused(document).code == "document-schema-invalid"
    document["validity"] = {"until": "2026-04-07"}  # before it was issued
    assert _refused(document).code == "document-dates-invalid"


def test_a_malformed_dsi_unit_is_refused() -> None:
    document = _water()
    document["properties"][0]["unit"]["dsi"] = "\\microgram\\litre"
    assert _refused(document).code == "document-content-invalid"


def test_drmd_xml_is_recognised_and_refused_with_its_own_code() -> None:
    with pytest.raises(DocumentError) as caught:
        load_document(DRMD, DocumentType.DCC)
    assert caught.value.code == "drmd-schema-unavailable"
    assert caught.value.details["schema_version"] == "0.3.0"
    assert "certreg.reference-material/1" in caught.value.message


def test_hostile_drmd_is_refused_by_the_hardened_parser_first() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]>'
            + DRMD.split(b"?>", 1)[1])
    with pytest.raises(DocumentError) as caught:
        load_document(bomb, DocumentType.DCC)
    assert caught.value.code == "xml-forbidden-construct"


@pytest.mark.parametrize(("ucum", "why"), [
    ("ug/l.", "a unit is expected"),  # not UCUM
    ("UG/L", "'UG' is not a UCUM unit"),
    ("mg/L", "is not the unit \\micro\\gram\\litre\\tothe{-1} (that is ug/L)"),
])
def test_a_ucum_unit_must_be_valid_and_the_same_as_its_dsi(ucum: str, why: str) -> None:
    document = _water()
    document["properties"][0]["unit"]["ucum"] = ucum
    refused = _refused(document)
    assert refused.code == "document-content-invalid"
    assert refused.details["field"].endswith("/unit/ucum") and why in refused.message
