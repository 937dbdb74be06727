"""XAdES-BES signing and verification of DCCs, cross-checked with Debian's xmlsec1."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.xades import XAdESSigner

from registry.documents.keys import (
    KeyType,
    SigningIdentity,
    create_test_certificate_authority,
    create_test_signing_identity,
)
from registry.documents.parse import parse_xml
from registry.documents.signing import (
    SignatureAlgorithm,
    SignatureStatus,
    sign_document,
    verify_signature,
)
from registry.documents.validate import validate_dcc
from registry.documents.xmldsig import _FixedTimeXAdESSigner
from registry.errors import (
    DocumentAlreadySignedError,
    SignatureInvalidError,
    SigningKeyError,
)
from tests.registry.documents._sign_fixtures import (
    CORPUS_VERDICT_CORRECTIONS,
    DCC_NS,
    DS_NS,
    xmlsec1_verify,
)

EXAMPLE_FOR_EDGE_CASES = "examples/dcc_gp_temperature_simplified_v12.xml"


@pytest.fixture(scope="module")
def ec_identity() -> SigningIdentity:
    return create_test_signing_identity("Mass Lab EC", "Test NMI", "DE", key_type=KeyType.EC_P256)


@pytest.fixture(scope="module")
def rsa_identity() -> SigningIdentity:
    return create_test_signing_identity("Mass Lab RSA", "Test NMI", "DE",
                                        key_type=KeyType.RSA_3072)


@pytest.fixture(params=["ec", "rsa"])
def identity(request: pytest.FixtureRequest, ec_identity: SigningIdentity,
             rsa_identity: SigningIdentity) -> SigningIdentity:
    return ec_identity if request.param == "ec" else rsa_identity


def _exc_c14n(root: etree._Element) -> bytes:
    # Comments are outside every XMLDSig c14n without "#WithComments".
    return etree.tostring(root, method="c14n", exclusive=True, with_comments=False)


def _first_measured_value(data: bytes) -> re.Match[bytes]:
    match = re.search(rb"<si:value>\s*(-?\d)", data)
    assert match is not None, "example has no si:value to tamper with"
    return match


def _flip_digit(data: bytes, offset: int) -> bytes:
    digit = data[offset:offset + 1]
    replacement = b"1" if digit != b"1" else b"2"
    return data[:offset] + replacement + data[offset + 1:]


def _check_names(verdict: Any) -> dict[str, bool]:
    return {check.name: check.passed for check in verdict.checks}


# --- signing real DCCs -------------------------------------------------------------------------

def test_examples_cover_dcc_2_and_3(dcc_manifest: dict[str, Any]) -> None:
    majors = {entry["schema_version"].split(".")[0] for entry in dcc_manifest["examples"]}
    assert {"2", "3"} <= majors


def test_signed_example_verifies_with_us_and_xmlsec1(
        dcc_example: dict[str, Any], identity: SigningIdentity,
        read_corpus: Callable[[str], bytes], tmp_path: Path) -> None:
    original = read_corpus(dcc_example["file"])

    signed = sign_document(original, identity)

    assert signed.sha256 == hashlib.sha256(signed.data).hexdigest()
    assert signed.signer == identity.certificate_info
    verdict = verify_signature(signed.data, trusted_certs=[identity.certificate])
    assert verdict.status is SignatureStatus.VALID, verdict.reason
    assert verdict.chains_to_trusted_anchor is True
    assert verdict.signer == identity.certificate_info
    assert verdict.signing_time == signed.signing_time
    # The signature covers exactly the submitted certificate, nothing more or less.
    assert verdict.signed_content == _exc_c14n(parse_xml(original).getroot())

    result = xmlsec1_verify(signed.data, tmp_path, trusted=[identity.certificate])
    assert result.returncode == 0, result.stderr

    # Still a valid DCC of the same version (the signature is set aside before 3.2.0).
    assert validate_dcc(parse_xml(signed.data)).schema_version == dcc_example["schema_version"]


def test_signed_bytes_are_final_and_hashable(ec_identity: SigningIdentity,
                                             read_corpus: Callable[[str], bytes]) -> None:
    signed = sign_document(read_corpus(EXAMPLE_FOR_EDGE_CASES), ec_identity)
    # What we anchor is these bytes: re-serialising is not needed to verify them,
    # and the document declares its encoding so nobody has to guess.
    assert signed.data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert verify_signature(signed.data).is_valid
    assert signed.signature_algorithm is SignatureAlgorithm.ECDSA_P256_SHA256


def test_one_byte_tamper_is_rejected_by_us_and_xmlsec1(
        identity: SigningIdentity, read_corpus: Callable[[str], bytes], tmp_path: Path) -> None:
    signed = sign_document(read_corpus(EXAMPLE_FOR_EDGE_CASES), identity)
    tampered = _flip_digit(signed.data, _first_measured_value(signed.data).start(1))
    assert len(tampered) == len(signed.data) and tampered != signed.data

    verdict = verify_signature(tampered, trusted_certs=[identity.certificate])
    assert verdict.status is SignatureStatus.INVALID
    assert _check_names(verdict)["reference-digests"] is False
    with pytest.raises(SignatureInvalidError) as raised:
        verdict.require_valid()
    assert raised.value.code == "signature-invalid"

    result = xmlsec1_verify(tampered, tmp_path, trusted=[identity.certificate])
    assert result.returncode != 0


def test_tampered_signing_time_is_rejected(ec_identity: SigningIdentity,
                                           read_corpus: Callable[[str], bytes],
                                           tmp_path: Path) -> None:
    signed = sign_document(read_corpus(EXAMPLE_FOR_EDGE_CASES), ec_identity,
                           signing_time=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30))
    stamp = signed.signing_time.isoformat().replace("+00:00", "Z").encode()
    assert signed.data.count(stamp) == 1
    earlier = (signed.signing_time - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    backdated = signed.data.replace(stamp, earlier.encode())

    assert verify_signature(backdated).status is SignatureStatus.INVALID
    assert xmlsec1_verify(backdated, tmp_path, trusted=[ec_identity.certificate]).returncode != 0


def test_rsa_pss_signature_verifies(rsa_identity: SigningIdentity,
                                    read_corpus: Callable[[str], bytes]) -> None:
    # Not cross-checked: Debian's xmlsec1 1.2 has no RSA-PSS (it arrived in 1.3).
    signed = sign_document(read_corpus(EXAMPLE_FOR_EDGE_CASES), rsa_identity,
                           algorithm=SignatureAlgorithm.RSA_PSS_SHA256)
    verdict = verify_signature(signed.data)
    assert verdict.is_valid, verdict.reason
    assert verdict.signature_method == "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
    tampered = _flip_digit(signed.data, _first_measured_value(signed.data).start(1))
    assert verify_signature(tampered).status is SignatureStatus.INVALID


def test_key_and_algorithm_must_match(ec_identity: SigningIdentity,
                                      read_corpus: Callable[[str], bytes]) -> None:
    with pytest.raises(SigningKeyError) as raised:
        sign_document(read_corpus(EXAMPLE_FOR_EDGE_CASES), ec_identity,
                      algorithm=SignatureAlgorithm.RSA_PSS_SHA256)
    assert raised.value.code == "signing-key-invalid"


def test_already_signed_document_is_never_resigned(ec_identity: SigningIdentity,
                                                   rsa_identity: SigningIdentity,
                                                   read_corpus: Callable[[str], bytes]) -> None:
    signed = sign_document(read_corpus(EXAMPLE_FOR_EDGE_CASES), ec_identity)
    with pytest.raises(DocumentAlreadySignedError) as raised:
        sign_document(signed.data, rsa_identity)
    assert raised.value.code == "document-already-signed"
    with pytest.raises(DocumentAlreadySignedError):
        sign_document(read_corpus("signed/dcc_gp_temperature_typical_v12_signed.xml"),
                      ec_identity)


def test_hostile_xml_is_refused_before_signing(ec_identity: SigningIdentity,
                                               read_corpus: Callable[[str], bytes]) -> None:
    with pytest.raises(Exception) as raised:
        sign_document(read_corpus("invalid/xxe_file.xml"), ec_identity)
    assert getattr(raised.value, "code", None) == "xml-forbidden-construct"


# --- certificate validity and trust ------------------------------------------------------------

def test_expired_certificate_cannot_sign_but_old_signatures_stay_valid(
        read_corpus: Callable[[str], bytes]) -> None:
    two_years_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=730)
    expired = create_test_signing_identity("Retired Lab", "Test NMI", "DE",
                                           not_valid_before=two_years_ago,
                                           valid_for=dt.timedelta(days=365))
    document = read_corpus(EXAMPLE_FOR_EDGE_CASES)
    with pytest.raises(SigningKeyError):
        sign_document(document, expired)

    # Signed while the certificate was valid: still valid today (checked at signing time).
    signed = sign_document(document, expired, signing_time=two_years_ago + dt.timedelta(days=30))
    verdict = verify_signature(signed.data, trusted_certs=[expired.certificate])
    assert verdict.is_valid, verdict.reason
    assert verdict.chains_to_trusted_anchor is True


def test_chain_to_a_test_ca(read_corpus: Callable[[str], bytes], tmp_path: Path) -> None:
    ca = create_test_certificate_authority("Test NMI Root CA", "Test NMI", "DE")
    other_ca = create_test_certificate_authority("Unrelated CA", "Elsewhere", "FR")
    leaf = create_test_signing_identity("Pressure Lab", "Test NMI", "DE", issuer=ca)
    signed = sign_document(read_corpus(EXAMPLE_FOR_EDGE_CASES), leaf)

    trusted = verify_signature(signed.data, trusted_certs=[ca.certificate])
    assert trusted.is_valid and trusted.chains_to_trusted_anchor is True, trusted.trust_detail
    untrusted = verify_signature(signed.data, trusted_certs=[other_ca.certificate])
    # A valid signature by an unknown signer: the verdict and the trust are separate answers.
    assert untrusted.is_valid and untrusted.chains_to_trusted_anchor is False
    assert verify_signature(signed.data).chains_to_trusted_anchor is None

    assert xmlsec1_verify(signed.data, tmp_path, trusted=[ca.certificate]).returncode == 0
    assert xmlsec1_verify(signed.data, tmp_path, trusted=[other_ca.certificate]).returncode != 0


# --- documents that arrive signed: the corpus --------------------------------------------------

def test_corpus_signed_verdicts(dcc_signed: dict[str, Any], read_corpus: Callable[[str], bytes],
                                tmp_path: Path) -> None:
    data = read_corpus(dcc_signed["file"])
    manifest_verdict = dcc_signed["signature_expected"]
    expected = CORPUS_VERDICT_CORRECTIONS.get(dcc_signed["file"], manifest_verdict)
    expected_status = (SignatureStatus.VALID if expected == "valid" else SignatureStatus.INVALID)

    verdict = verify_signature(data)

    assert verdict.status is expected_status, verdict.reason
    # An independent implementation agrees on every corpus file, corrections included.
    xmlsec1_result = xmlsec1_verify(data, tmp_path, trusted=None)
    assert (xmlsec1_result.returncode == 0) is (expected_status is SignatureStatus.VALID)
    claimed = re.search(rb"<xades:SigningTime>([^<]+)<", data)
    assert claimed is not None
    assert verdict.signing_time == dt.datetime.fromisoformat(
        claimed.group(1).decode().replace("Z", "+00:00"))
    assert verdict.signer is not None and verdict.signer.subject


def test_unsigned_document(read_corpus: Callable[[str], bytes]) -> None:
    verdict = verify_signature(read_corpus(EXAMPLE_FOR_EDGE_CASES))
    assert verdict.status is SignatureStatus.UNSIGNED
    assert not verdict.is_valid


def test_verifying_does_not_change_the_document(read_corpus: Callable[[str], bytes]) -> None:
    data = read_corpus("signed/dcc_gp_temperature_typical_v12_signed.xml")
    before = bytes(data)
    verdict = verify_signature(data)
    assert verdict.is_valid and data == before
    # What it covers is the certificate, read from the verified result.
    signed_root = etree.fromstring(verdict.signed_content)
    assert signed_root.tag == f"{{{DCC_NS}}}digitalCalibrationCertificate"
    assert signed_root.find(f"{{{DS_NS}}}Signature") is None


# --- signature wrapping and odd shapes ---------------------------------------------------------

def _signxml_signed(document: bytes, identity: SigningIdentity, **sign_args: Any) -> bytes:
    """A signature made with plain signxml, for shapes our signer never produces."""
    signer = XAdESSigner(method=SignatureConstructionMethod.enveloped,
                         signature_algorithm=SignatureMethod.ECDSA_SHA256,
                         c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    root = signer.sign(parse_xml(document).getroot(), key=identity.private_key,
                       cert=[identity.certificate], always_add_key_value=False, **sign_args)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _with_root_id(document: bytes, root_id: str) -> bytes:
    root = parse_xml(document).getroot()
    root.set("Id", root_id)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_reference_to_the_root_id_is_accepted(ec_identity: SigningIdentity,
                                              read_corpus: Callable[[str], bytes],
                                              tmp_path: Path) -> None:
    document = _with_root_id(read_corpus(EXAMPLE_FOR_EDGE_CASES), "dcc-1")
    signed = sign_document(document, ec_identity)
    assert b'URI="#dcc-1"' in signed.data
    assert verify_signature(signed.data).is_valid
    result = xmlsec1_verify(signed.data, tmp_path, trusted=[ec_identity.certificate],
                            root_id_element=f"{DCC_NS}:digitalCalibrationCertificate")
    assert result.returncode == 0, result.stderr


def test_wrapped_root_with_duplicate_id_is_invalid(ec_identity: SigningIdentity,
                                                   read_corpus: Callable[[str], bytes]) -> None:
    signed = sign_document(_with_root_id(read_corpus(EXAMPLE_FOR_EDGE_CASES), "dcc-1"),
                           ec_identity)
    original_root = parse_xml(signed.data).getroot()
    signature = original_root.find(f"{{{DS_NS}}}Signature")
    assert signature is not None
    # Attacker: a forged certificate with the same Id, the signature moved onto it,
    # the genuine signed root hidden inside.
    forged = etree.Element(original_root.tag, nsmap=original_root.nsmap, Id="dcc-1")
    hidden = etree.SubElement(forged, f"{{{DCC_NS}}}hidden")
    original_root.remove(signature)
    hidden.append(original_root)
    forged.append(signature)
    wrapped = etree.tostring(forged, xml_declaration=True, encoding="UTF-8")

    verdict = verify_signature(wrapped)
    assert verdict.status is SignatureStatus.INVALID
    assert _check_names(verdict)["reference-covers-whole-document"] is False


def test_signature_over_a_part_of_the_document_is_invalid(
        ec_identity: SigningIdentity, read_corpus: Callable[[str], bytes]) -> None:
    root = parse_xml(read_corpus(EXAMPLE_FOR_EDGE_CASES)).getroot()
    part = root.find(f"{{{DCC_NS}}}administrativeData")
    assert part is not None
    part.set("Id", "admin")
    document = etree.tostring(root)
    partially_signed = _signxml_signed(document, ec_identity, reference_uri="#admin")

    verdict = verify_signature(partially_signed)
    assert verdict.status is SignatureStatus.INVALID
    assert "whole document" in verdict.reason


def test_signature_not_under_the_root_is_invalid(ec_identity: SigningIdentity,
                                                 read_corpus: Callable[[str], bytes]) -> None:
    signed = sign_document(read_corpus(EXAMPLE_FOR_EDGE_CASES), ec_identity)
    root = parse_xml(signed.data).getroot()
    signature = root.find(f"{{{DS_NS}}}Signature")
    assert signature is not None
    administrative_data = root.find(f"{{{DCC_NS}}}administrativeData")
    assert administrative_data is not None
    root.remove(signature)
    administrative_data.append(signature)
    assert verify_signature(etree.tostring(root)).status is SignatureStatus.INVALID


def test_two_signatures_are_invalid(ec_identity: SigningIdentity,
                                    read_corpus: Callable[[str], bytes]) -> None:
    signed = sign_document(read_corpus(EXAMPLE_FOR_EDGE_CASES), ec_identity)
    root = parse_xml(signed.data).getroot()
    signature = root.find(f"{{{DS_NS}}}Signature")
    assert signature is not None
    root.insert(0, etree.fromstring(etree.tostring(signature)))
    verdict = verify_signature(etree.tostring(root))
    assert verdict.status is SignatureStatus.INVALID
    assert "exactly one" in verdict.reason


def test_xpath_filter2_enveloped_equivalent_is_understood(
        ec_identity: SigningIdentity, read_corpus: Callable[[str], bytes],
        tmp_path: Path) -> None:
    """DSS-made DCC signatures subtract ds:Signature with XPath Filter 2.0 instead of
    the enveloped transform. Written that way, a good signature must still verify."""

    class Filter2Signer(_FixedTimeXAdESSigner):
        def _build_sig(self, *args: Any, **kwargs: Any) -> Any:
            signed_info, signature_value = super()._build_sig(*args, **kwargs)
            transform = signed_info.find(
                f"{{{DS_NS}}}Reference/{{{DS_NS}}}Transforms/{{{DS_NS}}}Transform")
            assert transform.get("Algorithm").endswith("#enveloped-signature")
            filter2 = "http://www.w3.org/2002/06/xmldsig-filter2"
            transform.set("Algorithm", filter2)
            xpath = etree.SubElement(transform, f"{{{filter2}}}XPath", Filter="subtract",
                                     nsmap={"dsig-filter2": filter2, "ds": DS_NS})
            xpath.text = "/descendant::ds:Signature"
            return signed_info, signature_value

    signer = Filter2Signer(dt.datetime.now(dt.UTC), method=SignatureConstructionMethod.enveloped,
                           signature_algorithm=SignatureMethod.ECDSA_SHA256,
                           c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    root = signer.sign(parse_xml(read_corpus(EXAMPLE_FOR_EDGE_CASES)).getroot(),
                       key=ec_identity.private_key, cert=[ec_identity.certificate],
                       always_add_key_value=False)
    signed = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert b"xmldsig-filter2" in signed and b"enveloped-signature" not in signed

    assert xmlsec1_verify(signed, tmp_path, trusted=[ec_identity.certificate]).returncode == 0
    assert verify_signature(signed).is_valid
    tampered = _flip_digit(signed, _first_measured_value(signed).start(1))
    assert verify_signature(tampered).status is SignatureStatus.INVALID


def test_unknown_transform_is_refused_not_skipped(ec_identity: SigningIdentity,
                                                  read_corpus: Callable[[str], bytes]) -> None:
    signed = sign_document(read_corpus(EXAMPLE_FOR_EDGE_CASES), ec_identity)
    xslt = b'<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"/>'
    with_xslt = signed.data.replace(b"<ds:Transforms>", b"<ds:Transforms>" + xslt, 1)
    assert with_xslt != signed.data
    verdict = verify_signature(with_xslt)
    assert verdict.status is SignatureStatus.INVALID
    assert "xslt" in verdict.reason
