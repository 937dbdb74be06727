"""load_document: DCCs describe themselves; other COOMET documents need issuer metadata."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date

import pytest

from registry.documents.metadata import DccMetadata
from registry.documents.model import DocumentType, IssuerMetadata
from registry.documents.validate import load_document
from registry.errors import DocumentError

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
ISSUER = {"identifier": "VC-2024-0042", "issuer": "BelGIM", "issue_date": "2024-03-01",
          "title": "Verification certificate, gas meter", "meter_class": "G4"}


def test_dcc_pdf_verification_certificate_is_accepted_with_issuer_metadata() -> None:
    document = load_document(PDF, DocumentType.VERIFICATION_CERTIFICATE, ISSUER)
    assert document.media_type == "application/pdf"
    assert document.sha256 == hashlib.sha256(PDF).hexdigest()
    assert document.schema_version is None
    metadata = document.metadata
    assert isinstance(metadata, IssuerMetadata)
    assert (metadata.identifier, metadata.issuer, metadata.issue_date) == (
        "VC-2024-0042", "BelGIM", date(2024, 3, 1))
    assert metadata.attributes == (("meter_class", "G4"),)
    assert IssuerMetadata.from_json(metadata.to_json()) == metadata


@pytest.mark.parametrize("document_type", [t for t in DocumentType if t is not DocumentType.DCC])
def test_dcc_other_types_need_issuer_metadata(document_type: DocumentType) -> None:
    with pytest.raises(DocumentError) as rejected:
        load_document(PDF, document_type, None)
    assert rejected.value.code == "document-metadata-invalid"


@pytest.mark.parametrize(("supplied", "key"), [
    ({"issuer": "BelGIM"}, "identifier"),
    ({"identifier": "X-1", "issuer": "  "}, "issuer"),
    ({"identifier": "X-1", "issuer": "BelGIM", "issue_date": "01.03.2024"}, "issue_date"),
    ({"identifier": "X-1", "issuer": "BelGIM", "nested": {"a": 1}}, "nested"),
])
def test_dcc_malformed_issuer_metadata_names_the_key(
        supplied: dict[str, object], key: str) -> None:
    with pytest.raises(DocumentError) as rejected:
        load_document(PDF, DocumentType.TYPE_APPROVAL, supplied)
    assert rejected.value.details["key"] == key


def test_dcc_pdf_is_not_a_dcc(read_corpus: Callable[[str], bytes]) -> None:
    with pytest.raises(DocumentError) as rejected:
        load_document(read_corpus("invalid/not_xml.xml"), DocumentType.DCC, ISSUER)
    assert rejected.value.code == "xml-malformed"


def test_dcc_hostile_xml_is_refused_whatever_the_declared_type(
        read_corpus: Callable[[str], bytes]) -> None:
    for document_type in (DocumentType.REFERENCE_MATERIAL_CERTIFICATE, DocumentType.OTHER):
        with pytest.raises(DocumentError) as rejected:
            load_document(read_corpus("invalid/xxe_file.xml"), document_type, ISSUER)
        assert rejected.value.code == "xml-forbidden-construct"


def test_dcc_xml_type_description_is_parsed_and_kept_verbatim() -> None:
    data = b'<?xml version="1.0"?>\n<typeDescription id="TD-7"><name>Scale</name></typeDescription>'
    document = load_document(data, "type-description", ISSUER)
    assert document.media_type == "application/xml"
    assert document.raw == data


def test_dcc_binary_document_is_size_limited() -> None:
    with pytest.raises(DocumentError) as rejected:
        load_document(PDF + bytes(2048), DocumentType.OTHER, ISSUER, max_bytes=1024)
    assert rejected.value.code == "document-too-large"


def test_dcc_issuer_identifier_must_match_the_dcc(read_corpus: Callable[[str], bytes]) -> None:
    data = read_corpus("examples/ptb_vacuumlab_SRG_v3.1.1.xml")
    accepted = load_document(data, DocumentType.DCC, {"identifier": "75998PTB20"})
    assert isinstance(accepted.metadata, DccMetadata)
    with pytest.raises(DocumentError) as rejected:
        load_document(data, DocumentType.DCC, {"identifier": "75998PTB21"})
    assert rejected.value.code == "document-metadata-invalid"


def test_dcc_unknown_document_type_is_refused() -> None:
    with pytest.raises(ValueError):
        load_document(PDF, "passport", ISSUER)
