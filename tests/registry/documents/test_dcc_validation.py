"""Schema validation of the real corpus, offline, with stable error codes."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry.documents import validate
from registry.documents.model import DocumentType
from registry.documents.parse import parse_xml
from registry.documents.validate import SCHEMA_DIR, SUPPORTED_DCC_VERSIONS, load_document
from registry.errors import DocumentError

# The corpus states each invalid file's verdict in prose (MANIFEST "expected");
# this is the stable code that verdict means. A new corpus file without an entry
# here fails test_every_invalid_file_has_an_expected_code.
EXPECTED_CODE_BY_INVALID_FILE = {
    "xxe_file.xml": "xml-forbidden-construct",
    "xxe_network.xml": "xml-forbidden-construct",
    "billion_laughs.xml": "xml-forbidden-construct",
    "quadratic_blowup.xml": "xml-forbidden-construct",
    "xinclude.xml": "xml-forbidden-construct",
    "empty.xml": "document-empty",
    "truncated.xml": "xml-malformed",
    "not_xml.xml": "xml-malformed",
    "mismatched_tag.xml": "xml-malformed",
    "wrong_encoding.xml": "xml-encoding-invalid",
    "wrong_root.xml": "dcc-root-invalid",
    "unknown_version.xml": "dcc-version-unsupported",
    "missing_unique_identifier.xml": "dcc-schema-invalid",
    "bad_date.xml": "dcc-schema-invalid",
    "unknown_element.xml": "dcc-schema-invalid",
    "bad_country_code.xml": "dcc-schema-invalid",
}


def test_dcc_corpus_is_present(dcc_manifest: dict[str, Any]) -> None:
    assert dcc_manifest["examples"] and dcc_manifest["invalid"] and dcc_manifest["signed"]


def test_dcc_example_validates_against_its_own_version(
        dcc_example: dict[str, Any], read_corpus: Callable[[str], bytes]) -> None:
    assert dcc_example["valid"] is True
    data = read_corpus(dcc_example["file"])
    document = load_document(data, DocumentType.DCC)
    assert document.schema_version == dcc_example["schema_version"]
    assert document.sha256 == dcc_example["sha256"] == hashlib.sha256(data).hexdigest()
    assert document.raw == data
    assert not [w for w in document.warnings if w.code != "dsi-unit-invalid"]


def test_every_invalid_file_has_an_expected_code(dcc_manifest: dict[str, Any]) -> None:
    corpus_files = {Path(entry["file"]).name for entry in dcc_manifest["invalid"]}
    assert corpus_files == set(EXPECTED_CODE_BY_INVALID_FILE)


def test_dcc_invalid_file_is_rejected_with_its_code(
        dcc_invalid: dict[str, Any], read_corpus: Callable[[str], bytes]) -> None:
    with pytest.raises(DocumentError) as rejected:
        load_document(read_corpus(dcc_invalid["file"]), DocumentType.DCC)
    assert rejected.value.code == EXPECTED_CODE_BY_INVALID_FILE[Path(dcc_invalid["file"]).name]


def test_dcc_schema_errors_name_the_offending_element(
        dcc_manifest: dict[str, Any], read_corpus: Callable[[str], bytes]) -> None:
    # MANIFEST says e.g. "rejected: schema error naming beginPerformanceDate".
    cases = [(entry["file"], named.group(1)) for entry in dcc_manifest["invalid"]
             if (named := re.search(r"schema error naming (\w+)", entry["expected"]))]
    assert len(cases) >= 4
    for relative_path, element_name in cases:
        with pytest.raises(DocumentError) as rejected:
            load_document(read_corpus(relative_path), DocumentType.DCC)
        first = rejected.value.details["violations"][0]
        assert element_name in first["message"] + first["path"], relative_path
        assert element_name in rejected.value.message
        assert isinstance(first["line"], int) and first["line"] > 1
        assert first["path"].startswith("/dcc:digitalCalibrationCertificate/")


def test_dcc_hostile_files_are_refused_before_libxml2_expands_anything(
        read_corpus: Callable[[str], bytes]) -> None:
    for name in ("billion_laughs.xml", "quadratic_blowup.xml", "xxe_file.xml"):
        with pytest.raises(DocumentError) as rejected:
            parse_xml(read_corpus(f"invalid/{name}"))
        assert rejected.value.details["construct"] == "DOCTYPE"


def test_dcc_signed_before_3_2_validates_with_the_signature_set_aside(
        dcc_signed: dict[str, Any], read_corpus: Callable[[str], bytes]) -> None:
    document = load_document(read_corpus(dcc_signed["file"]), DocumentType.DCC)
    assert document.schema_version == dcc_signed["schema_version"]
    assert "signature-outside-schema" in {warning.code for warning in document.warnings}


def test_dcc_signature_in_a_3_3_document_is_validated_not_set_aside(
        read_corpus: Callable[[str], bytes]) -> None:
    signed = read_corpus("signed/dcc_gp_temperature_typical_v12_signed.xml")
    as_3_3 = signed.replace(b'schemaVersion="3.1.1"', b'schemaVersion="3.3.0"', 1)
    document = load_document(as_3_3, DocumentType.DCC)
    assert "signature-outside-schema" not in {warning.code for warning in document.warnings}


def test_dcc_unit_warnings_point_at_the_unit(read_corpus: Callable[[str], bytes]) -> None:
    # PTB's single-weight example writes "/kilogram" and "\degreeCelsius".
    document = load_document(read_corpus("examples/ptb_singleweight_v3.0.0.xml"), "dcc")
    unit_messages = {w.message for w in document.warnings if w.code == "dsi-unit-invalid"}
    assert any("/kilogram" in message for message in unit_messages)
    assert any("did you mean \\degreecelsius" in message for message in unit_messages)
    assert all(w.line and w.path and w.path.endswith("si:unit")
               for w in document.warnings if w.code == "dsi-unit-invalid")


def test_dcc_validation_opens_no_connection(
        monkeypatch: pytest.MonkeyPatch, dcc_manifest: dict[str, Any],
        read_corpus: Callable[[str], bytes]) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    # Compile every schema afresh under the patch: imports must all resolve locally.
    monkeypatch.setattr(validate, "_compiled", threading.local())
    for version in SUPPORTED_DCC_VERSIONS:
        validate.dcc_schema(version)
    for entry in dcc_manifest["examples"]:
        load_document(read_corpus(entry["file"]), DocumentType.DCC)
    with pytest.raises(DocumentError):
        load_document(read_corpus("invalid/xxe_network.xml"), DocumentType.DCC)
    assert attempts == []


def test_dcc_schema_resolver_refuses_schemas_outside_the_bundle(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.xsd"
    outside.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>')
    assert validate._bundled_schema_path("http://127.0.0.1:9/evil.xsd") is None
    assert validate._bundled_schema_path(str(outside)) is None
    assert validate._bundled_schema_path(
        "https://ptb.de/dcc/v3.3.0/dcc.xsd") == SCHEMA_DIR / "dcc" / "v3.3.0" / "dcc.xsd"


def test_dcc_unknown_version_lists_supported_versions(
        read_corpus: Callable[[str], bytes]) -> None:
    with pytest.raises(DocumentError) as rejected:
        load_document(read_corpus("invalid/unknown_version.xml"), DocumentType.DCC)
    assert rejected.value.details["schema_version"] == "9.9.9"
    assert "3.3.0" in rejected.value.details["supported"]


def test_dcc_schemas_are_bundled_for_every_published_version(
        dcc_manifest: dict[str, Any]) -> None:
    published = {entry["version"] for entry in dcc_manifest["schemas"] if entry["kind"] == "DCC"}
    assert published <= set(SUPPORTED_DCC_VERSIONS)
    assert {"2.4.0", "3.0.0", "3.1.0", "3.1.1", "3.1.2", "3.2.0", "3.3.0"} <= published


def test_dcc_bundled_schemas_match_the_attribution_sha256s(
        dcc_manifest: dict[str, Any]) -> None:
    attribution = (SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    listed = dict((path, digest) for digest, path in
                  re.findall(r"^([0-9a-f]{64})  (\S+)$", attribution, re.MULTILINE))
    bundled = {str(path.relative_to(SCHEMA_DIR)): hashlib.sha256(path.read_bytes()).hexdigest()
               for path in SCHEMA_DIR.rglob("*.xsd")}
    assert listed == bundled
    corpus = {entry["file"].removeprefix("schemas/"): entry["sha256"]
              for entry in dcc_manifest["schemas"] if "sha256" in entry}
    assert {path: bundled[path] for path in corpus} == corpus
    assert (SCHEMA_DIR / "LGPL-3.0.txt").is_file()


def test_dcc_concurrent_validation_reports_each_documents_own_errors(
        read_corpus: Callable[[str], bytes]) -> None:
    # Same 3.1.1 schema, different defects: errors must not leak between threads.
    expected = {"invalid/bad_date.xml": "beginPerformanceDate",
                "invalid/bad_country_code.xml": "countryCodeISO3166_1",
                "invalid/unknown_element.xml": "favouriteColour"}
    documents = {path: read_corpus(path) for path in expected}
    mismatches: list[str] = []

    def validate_repeatedly(path: str) -> None:
        for _ in range(30):
            try:
                load_document(documents[path], DocumentType.DCC)
                mismatches.append(f"{path} accepted")
            except DocumentError as exc:
                if expected[path] not in exc.details["violations"][0]["path"]:
                    mismatches.append(f"{path}: {exc.message}")

    threads = [threading.Thread(target=validate_repeatedly, args=(path,))
               for path in expected for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []
