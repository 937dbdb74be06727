"""DCCs older than `schemaVersion`: the version from xsi:schemaLocation, the enveloped
signature set aside for the schema and still verified.

The corpus holds no signed 2.x DCC without schemaVersion, so the vectors are built
from its 2.x examples the way such institutes write them: the attribute dropped,
xsi:schemaLocation naming the version, an enveloped XAdES signature as the root's
last child (which their schema does not allow).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from registry.documents.keys import create_test_signing_identity
from registry.documents.model import DocumentType
from registry.documents.signing import SignatureStatus, sign_document, verify_signature
from registry.documents.validate import dcc_document_warnings, load_document
from registry.errors import DocumentError

# Valid under DCC 2.2.0 (which has no schemaVersion attribute) and under 2.3.0.
EXAMPLE_2_3 = "examples/ptb_example_v2.3.0.xml"
EXAMPLE_2_4 = "examples/siliziumkugel_2_4_0.xml"
SILICON_SPHERE_2_3 = "examples/ptb_siliziumkugel_v2.3.0.xml"  # not valid under 2.2.0


def without_schema_version(data: bytes, schema_location: str | None) -> bytes:
    data, dropped = re.subn(rb'\s+schemaVersion="[^"]*"', b"", data, count=1)
    assert dropped == 1
    replacement = (b"" if schema_location is None
                   else b' xsi:schemaLocation="' + schema_location.encode() + b'"')
    data, replaced = re.subn(rb'\s+xsi:schemaLocation="[^"]*"', replacement, data, count=1)
    assert replaced == 1
    return data


def refusal(shared_dcc: Path, example: str, schema_location: str | None) -> DocumentError:
    """The error a 2.x example gets without schemaVersion, with this schemaLocation."""
    data = without_schema_version((shared_dcc / example).read_bytes(), schema_location)
    with pytest.raises(DocumentError) as refused:
        load_document(data, DocumentType.DCC)
    return refused.value


def codes(document) -> list[str]:
    return [w.code for w in document.warnings if w.code != "dsi-unit-invalid"]


@pytest.mark.parametrize(("example", "schema_location", "version"), [
    (EXAMPLE_2_3, "https://ptb.de/dcc https://ptb.de/dcc/v2.2.0/dcc.xsd", "2.2.0"),
    (EXAMPLE_2_3, "https://ptb.de/dcc https://ptb.de/dcc/v2.3.0/dcc.xsd", "2.3.0"),
    (EXAMPLE_2_4, "https://ptb.de/dcc http://www.ptb.de/dcc/v2.4.0/dcc.xsd", "2.4.0"),
    (EXAMPLE_2_4, "https://ptb.de/si https://ptb.de/si/v1.3.1/SI_Format.xsd "
                  "https://ptb.de/dcc https://gitlab1.ptb.de/d-ptb/dcc/xsd-dcc/-/raw/2.4.0/dcc.xsd",
     "2.4.0"),
    (EXAMPLE_2_3, "https://ptb.de/dcc ../schemas/dcc_v2.2.0.xsd", "2.2.0"),
    # A schemaLocation that forgot the namespace half of the pair.
    (EXAMPLE_2_3, "https://ptb.de/dcc/v2.3.0/dcc.xsd", "2.3.0"),
])
def test_version_is_taken_from_schema_location(shared_dcc: Path, example: str,
                                               schema_location: str, version: str) -> None:
    data = without_schema_version((shared_dcc / example).read_bytes(), schema_location)
    document = load_document(data, DocumentType.DCC)
    assert document.schema_version == version
    assert document.metadata.schema_version == version
    assert codes(document) == ["schema-version-inferred"]
    assert version in document.warnings[0].message
    assert document.raw == data  # the attribute is assumed for validation, never written


def test_the_attribute_wins_over_schema_location(shared_dcc: Path) -> None:
    data = (shared_dcc / EXAMPLE_2_3).read_bytes().replace(
        b"https://ptb.de/dcc/v2.3.0/dcc.xsd", b"https://ptb.de/dcc/v2.2.0/dcc.xsd", 1)
    document = load_document(data, DocumentType.DCC)
    assert document.schema_version == "2.3.0" and codes(document) == []


@pytest.mark.parametrize("schema_location", [
    None,  # the namespace alone names no version
    "https://ptb.de/si https://ptb.de/si/v1.3.1/SI_Format.xsd",
    "https://ptb.de/dcc https://example.org/certificate.xsd",
])
def test_namespace_without_a_versioned_location_is_unsupported(
        shared_dcc: Path, schema_location: str | None) -> None:
    refused = refusal(shared_dcc, EXAMPLE_2_3, schema_location)
    assert refused.code == "dcc-version-unsupported"
    assert "no schemaVersion attribute" in refused.message
    assert "xsi:schemaLocation" in refused.message


def test_an_unbundled_version_keeps_its_clear_error(shared_dcc: Path) -> None:
    refused = refusal(shared_dcc, EXAMPLE_2_4,
                      "https://ptb.de/dcc https://ptb.de/dcc/v2.1.0/dcc.xsd")
    assert refused.code == "dcc-version-unsupported"
    assert refused.details["schema_version"] == "2.1.0"
    assert "2.2.0" in refused.details["supported"]


def test_invalid_content_is_refused_with_the_schemas_reason(shared_dcc: Path) -> None:
    # The 2.3.0 silicon sphere has dcc:identifications, which 2.2.0 does not know.
    refused = refusal(shared_dcc, SILICON_SPHERE_2_3,
                      "https://ptb.de/dcc https://ptb.de/dcc/v2.2.0/dcc.xsd")
    assert refused.code == "dcc-schema-invalid"
    assert refused.details["schema_version"] == "2.2.0"
    first = refused.details["violations"][0]
    assert "dcc:identifications" in first["message"] and first["line"]
    # The same document with its missing required element removed from the content.
    broken = without_schema_version((shared_dcc / EXAMPLE_2_3).read_bytes(),
                                    "https://ptb.de/dcc https://ptb.de/dcc/v2.3.0/dcc.xsd")
    broken = re.sub(rb"<dcc:uniqueIdentifier>[^<]*</dcc:uniqueIdentifier>", b"", broken, count=1)
    with pytest.raises(DocumentError) as missing:
        load_document(broken, DocumentType.DCC)
    assert missing.value.code == "dcc-schema-invalid"
    assert "schemaVersion" not in missing.value.message  # the assumed attribute is no reason
    assert "uniqueIdentifier" in str(missing.value.details["violations"])


@pytest.fixture(scope="module")
def institute():
    return create_test_signing_identity("NMI 2.x signer", "Some NMI", "DE")


@pytest.mark.parametrize(("example", "version"), [(EXAMPLE_2_3, "2.2.0"), (EXAMPLE_2_4, "2.4.0")])
def test_signed_old_dcc_validates_with_the_signature_set_aside_and_verifies(
        shared_dcc: Path, institute, example: str, version: str) -> None:
    unsigned = without_schema_version(
        (shared_dcc / example).read_bytes(),
        f"https://ptb.de/dcc https://ptb.de/dcc/v{version}/dcc.xsd")
    signed = sign_document(unsigned, institute).data
    document = load_document(signed, DocumentType.DCC)
    assert document.schema_version == version
    assert codes(document) == ["schema-version-inferred", "signature-outside-schema"]
    assert verify_signature(signed).status is SignatureStatus.VALID
    assert [w.code for w in dcc_document_warnings(signed)] == [
        "schema-version-inferred", "signature-outside-schema"]

    tampered = signed.replace(b"</dcc:uniqueIdentifier>", b"X</dcc:uniqueIdentifier>", 1)
    assert tampered != signed
    load_document(tampered, DocumentType.DCC)  # still schema-valid content...
    assert verify_signature(tampered).status is SignatureStatus.INVALID  # ...but forged


def test_document_warnings_are_empty_for_current_and_unreadable_documents(
        shared_dcc: Path) -> None:
    assert dcc_document_warnings((shared_dcc / EXAMPLE_2_4).read_bytes()) == ()
    assert dcc_document_warnings(b"%PDF-1.7 not xml") == ()
    assert dcc_document_warnings(b"<other/>") == ()
