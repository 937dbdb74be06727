"""MI classifier and group cards: directory documents accepted, malformed directories
refused, and cited codes checked against the version in force (a pure check here; the
projection-backed look-up is exercised end to end in test_document_kinds_chain.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from registry.db.search import search_fields
from registry.documents.directories import check_codes
from registry.documents.kinds import CodeUse, DirectoryContent, KindMetadata
from registry.documents.model import DocumentType
from registry.documents.validate import load_document
from registry.errors import ClassifierCodeUnknownError, DocumentError

DOCS = Path(__file__).resolve().parents[3] / "docs" / "examples"
CLASSIFIERS = DOCS / "mi-classifier"
CARDS = DOCS / "mi-group-card"


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _metadata(path: Path) -> KindMetadata:
    metadata = load_document(path.read_bytes(), DocumentType.DCC).metadata
    assert isinstance(metadata, KindMetadata)
    return metadata


def _directory(version: str) -> DirectoryContent:
    directory = _metadata(CLASSIFIERS / f"coomet-mi-kinds-{version}.json").directory
    assert directory is not None
    return directory


REGISTERED = {"COOMET-MI-KINDS": [_directory("2025.1"), _directory("2026.1")]}


def _versions(directory_id: str) -> list[DirectoryContent]:
    return REGISTERED.get(directory_id, [])


def _refused(document: dict[str, Any]) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        load_document(json.dumps(document).encode(), DocumentType.MI_CLASSIFIER)
    return caught.value


@pytest.mark.parametrize("path", sorted(CLASSIFIERS.glob("*.json")) + sorted(
    CARDS.glob("*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_published_examples_are_accepted(path: Path) -> None:
    metadata = _metadata(path)
    assert metadata.document_type in (DocumentType.MI_CLASSIFIER, DocumentType.MI_GROUP_CARD)
    assert KindMetadata.from_json(json.loads(json.dumps(metadata.to_json()))) == metadata


def test_three_examples_of_each() -> None:
    assert len(list(CLASSIFIERS.glob("*.json"))) >= 3
    assert len(list(CARDS.glob("*.json"))) >= 3


def test_a_classifier_version_is_its_own_document_found_by_id() -> None:
    metadata = _metadata(CLASSIFIERS / "coomet-mi-kinds-2026.1.json")
    assert metadata.identifier == "COOMET-MI-KINDS@2026.1"
    assert metadata.directory is not None and metadata.directory.version == "2026.1"
    assert len(metadata.directory.codes) == 11
    identifiers = search_fields(metadata.to_json(), encrypted=False).identifiers
    assert ("number", "coomet-mi-kinds") in identifiers
    assert ("number", "coomet-mi-kinds@2026.1") in identifiers


@pytest.mark.parametrize(("change", "code"), [
    (lambda d: d["codes"].append(dict(d["codes"][0])), "document-content-invalid"),
    (lambda d: d["codes"][1].update(parent="99"), "document-content-invalid"),
    (lambda d: d["codes"][0].update(parent="03.01"), "document-content-invalid"),  # cycle
    (lambda d: d["codes"][2].update(names=d["codes"][2]["names"][:1]),
     "document-content-invalid"),  # no Russian name
    (lambda d: d.update(valid_until="2025-06-30"), "document-dates-invalid"),
    (lambda d: d["codes"][3].update(valid_from="2027-01-01", valid_until="2026-01-01"),
     "document-dates-invalid"),
    (lambda d: d.pop("version"), "document-schema-invalid"),
    (lambda d: d.update(codes=[]), "document-schema-invalid"),
])
def test_malformed_directories_are_refused(change: Any, code: str) -> None:
    document = _json(CLASSIFIERS / "coomet-mi-kinds-2026.1.json")
    change(document)
    assert _refused(document).code == code


def _card(code: str, version: str | None = None, issued: str = "2026-03-01") -> KindMetadata:
    document = _json(CARDS / "nawi-class-iii.json")
    document["codes"] = [{"directory": "COOMET-MI-KINDS", "code": code}
                         | ({"version": version} if version else {})]
    document["issue_date"] = issued
    metadata = load_document(json.dumps(document).encode(), DocumentType.MI_GROUP_CARD).metadata
    assert isinstance(metadata, KindMetadata)
    return metadata


def _check_error(metadata: KindMetadata) -> ClassifierCodeUnknownError:
    with pytest.raises(ClassifierCodeUnknownError) as caught:
        check_codes(metadata, _versions)
    assert caught.value.code == "classifier-code-unknown"
    return caught.value


def test_codes_in_the_version_in_force_pass() -> None:
    for path in sorted(CARDS.glob("*.json")):
        check_codes(_metadata(path), _versions)


def test_a_code_missing_from_the_version_in_force_is_unknown() -> None:
    error = _check_error(_card("03.01.09"))
    assert error.details["code"] == "03.01.09" and error.details["field"] == "/codes/0"
    assert "not in directory COOMET-MI-KINDS version 2026.1" in error.message


def test_the_version_in_force_is_chosen_by_the_documents_date() -> None:
    # 17.02.01 was added in 2026.1: unknown to a card issued while 2025.1 was in force.
    check_codes(_card("17.02.01", issued="2026-01-01"), _versions)
    error = _check_error(_card("17.02.01", issued="2025-12-31"))
    assert "version 2025.1" in error.message


def test_a_code_withdrawn_inside_a_version_is_unknown_after_its_end() -> None:
    check_codes(_card("13.01.01", issued="2026-06-30"), _versions)
    error = _check_error(_card("13.01.01", issued="2026-07-01"))
    assert "not valid on 2026-07-01" in error.message


def test_a_named_version_must_be_in_force_and_registered() -> None:
    check_codes(_card("03.01.01", version="2026.1"), _versions)
    assert "not in force on 2026-03-01" in _check_error(
        _card("03.01.01", version="2025.1")).message
    assert "2027.1 of directory COOMET-MI-KINDS is not registered" in _check_error(
        _card("03.01.01", version="2027.1")).message


def test_no_version_in_force_or_no_directory_at_all() -> None:
    assert "no version of directory COOMET-MI-KINDS is in force on 2024-06-01" in _check_error(
        _card("03.01.01", issued="2024-06-01")).message
    card = _card("03.01.01")
    unknown = replace(card, codes=(CodeUse("NO-SUCH-DIRECTORY", None, "1", "/codes/0"),))
    assert "no version of directory NO-SUCH-DIRECTORY" in _check_error(unknown).message


def test_a_verification_is_checked_on_its_verification_date() -> None:
    document = _json(DOCS / "verification" / "water-meter-non-conforming.json")
    document["instrument"]["classifier_code"]["code"] = "13.01.01"
    document["verification"]["date"] = "2026-07-02"
    document["issue_date"] = "2026-07-03"
    metadata = load_document(json.dumps(document).encode(), DocumentType.DCC).metadata
    assert isinstance(metadata, KindMetadata)
    assert metadata.reference_date == date(2026, 7, 2)
    assert _check_error(metadata).details["field"] == "/instrument/classifier_code"
