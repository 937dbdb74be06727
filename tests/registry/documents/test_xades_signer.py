"""Our XAdES-BES signer (registry.documents.xades_signer) against the signxml path it replaced.

`sign_document` signed with signxml's XAdES signer (`_FixedTimeXAdESSigner`) and then
checked the result by parsing the bytes again (`check_own_signature`); `signxml_signed`
(in _sign_fixtures) is that path, kept as the reference. Given the same Ids (one
deterministic sequence on both sides) the two give the same bytes: exactly with RSA
PKCS#1 v1.5, which is deterministic, and with ECDSA, which is not, everything but the
SignatureValue. Every output verifies under xmlsec1, verify_signature and
check_own_signature. The in-process check that replaced the re-parse refuses what the
re-parse refused.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree

from registry.documents import xades_signer
from registry.documents.keys import KeyType, SigningIdentity, create_test_signing_identity
from registry.documents.parse import parse_xml
from registry.documents.signing import (
    check_own_signature,
    default_signature_algorithm,
    sign_document,
    verify_signature,
)
from registry.documents.xades_signer import build_signature, check_attached_signature
from registry.documents.xmldsig import DS_NS
from registry.errors import SigningError
from tests.registry.documents._sign_fixtures import (
    DCC_NS,
    reshape,
    signxml_signed,
    tokens,
    xmlsec1_verify,
)

EXAMPLE = "examples/ptb_example_v3.0.0.xml"
SHAPES = ("root-id", "comments", "after-the-root", "processing-instruction", "trailing-whitespace",
          "ds-declared-on-root", "non-ascii-comment", "latin-1-standalone")


@pytest.fixture(scope="module", params=[KeyType.RSA_3072, KeyType.EC_P256], ids=str)
def identity(request: pytest.FixtureRequest) -> SigningIdentity:
    return create_test_signing_identity("Signer Lab", "Test NMI", "DE", key_type=request.param)


@pytest.fixture(scope="module")
def other_identity() -> SigningIdentity:
    return create_test_signing_identity("Other Lab", "Test NMI", "DE")


def _without_signature_value(data: bytes) -> bytes:
    return re.sub(rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>", b"", data)


def _signed_both_ways(document: bytes, identity: SigningIdentity,
                      monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, bytes]:
    when = dt.datetime.now(dt.UTC).replace(microsecond=0)
    monkeypatch.setattr(xades_signer, "new_token", tokens())
    new = sign_document(document, identity, signing_time=when).data
    return new, signxml_signed(document, identity, when)


def _assert_verifies_everywhere(data: bytes, identity: SigningIdentity, workdir: Path,
                                root_id: bool = False) -> None:
    verdict = verify_signature(data, trusted_certs=[identity.certificate])
    assert verdict.is_valid and verdict.chains_to_trusted_anchor, verdict.reason
    assert verdict.signing_time is not None
    check_own_signature(data, identity.certificate, verdict.signing_time)
    result = xmlsec1_verify(data, workdir, trusted=[identity.certificate],
                            root_id_element=(f"{DCC_NS}:digitalCalibrationCertificate"
                                             if root_id else None))
    assert result.returncode == 0, result.stderr


def _assert_same_signature(new: bytes, old: bytes, identity: SigningIdentity) -> None:
    if default_signature_algorithm(identity).value.startswith("rsa"):
        assert new == old
    else:
        assert new != old  # two ECDSA signatures of the same SignedInfo
        assert _without_signature_value(new) == _without_signature_value(old)


def test_every_corpus_example_signs_to_the_bytes_signxml_gave(
        dcc_example: dict[str, Any], identity: SigningIdentity,
        read_corpus: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    new, old = _signed_both_ways(read_corpus(dcc_example["file"]), identity, monkeypatch)
    _assert_same_signature(new, old, identity)
    _assert_verifies_everywhere(new, identity, tmp_path)


@pytest.mark.parametrize("shape", SHAPES)
def test_document_shapes_sign_to_the_bytes_signxml_gave(
        shape: str, identity: SigningIdentity, read_corpus: Callable[[str], bytes],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    document = reshape(read_corpus(EXAMPLE), shape)
    new, old = _signed_both_ways(document, identity, monkeypatch)
    _assert_same_signature(new, old, identity)
    _assert_verifies_everywhere(new, identity, tmp_path, root_id=shape == "root-id")


def test_signing_hands_the_validated_tree_back_unchanged(
        identity: SigningIdentity, read_corpus: Callable[[str], bytes]) -> None:
    tree = parse_xml(read_corpus(EXAMPLE))
    before = etree.tostring(tree)
    first = sign_document(read_corpus(EXAMPLE), identity, parsed=tree)
    assert etree.tostring(tree) == before
    assert tree.getroot().find(f".//{{{DS_NS}}}Signature") is None
    # The same tree signs again, to a document that verifies just as well.
    second = sign_document(read_corpus(EXAMPLE), identity, parsed=tree)
    for signed in (first, second):
        assert verify_signature(signed.data, trusted_certs=[identity.certificate]).is_valid


# ---------------------------------------------------------------- the in-process check

def _signature_value(signature: etree._Element, _other: SigningIdentity) -> None:
    value = signature.find(f"{{{DS_NS}}}SignatureValue")
    assert value is not None and value.text
    value.text = ("B" if value.text[0] != "B" else "C") + value.text[1:]


def _signing_time(signature: etree._Element, _other: SigningIdentity) -> None:
    (element,) = signature.iter("{http://uri.etsi.org/01903/v1.3.2#}SigningTime")
    element.text = "1999-01-01T00:00:00Z"


def _key_info_certificate(signature: etree._Element, other: SigningIdentity) -> None:
    (element,) = signature.iter(f"{{{DS_NS}}}X509Certificate")
    element.text = other.certificate.public_bytes(serialization.Encoding.PEM).decode()


def _document_digest(signature: etree._Element, _other: SigningIdentity) -> None:
    element = signature.find(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference/"
                             f"{{{DS_NS}}}DigestValue")
    assert element is not None and element.text
    element.text = ("B" if element.text[0] != "B" else "C") + element.text[1:]


def _key_info_reference_dropped(signature: etree._Element, _other: SigningIdentity) -> None:
    references = signature.findall(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference")
    references[-1].getparent().remove(references[-1])


DAMAGES: dict[str, Callable[[etree._Element, SigningIdentity], None]] = {
    "signature-value": _signature_value,
    "signing-time": _signing_time,
    "key-info-certificate": _key_info_certificate,
    "document-digest": _document_digest,
    "key-info-reference-dropped": _key_info_reference_dropped,
}


def _built(identity: SigningIdentity, read_corpus: Callable[[str], bytes]
           ) -> tuple[etree._Element, etree._Element, bytes]:
    root = parse_xml(read_corpus(EXAMPLE)).getroot()
    signature, signed_info_c14n = build_signature(
        root, identity.private_key, [identity.certificate],
        default_signature_algorithm(identity).xmldsig_method,
        dt.datetime.now(dt.UTC).replace(microsecond=0))
    return root, signature, signed_info_c14n


def _check(root: etree._Element, signature: etree._Element, signed_info_c14n: bytes,
           identity: SigningIdentity) -> None:
    check_attached_signature(root, signature, signed_info_c14n, identity.certificate,
                             default_signature_algorithm(identity).xmldsig_method)


def test_the_in_process_check_passes_what_it_built(
        identity: SigningIdentity, read_corpus: Callable[[str], bytes]) -> None:
    root, signature, signed_info_c14n = _built(identity, read_corpus)
    root.append(signature)
    _check(root, signature, signed_info_c14n, identity)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_the_in_process_check_refuses_what_the_reparse_refuses(
        damage: str, identity: SigningIdentity, other_identity: SigningIdentity,
        read_corpus: Callable[[str], bytes]) -> None:
    root, signature, signed_info_c14n = _built(identity, read_corpus)
    DAMAGES[damage](signature, other_identity)
    root.append(signature)
    with pytest.raises(SigningError, match="the new signature does not verify"):
        _check(root, signature, signed_info_c14n, identity)
    # The re-parsing check it replaced refuses the same bytes.
    with pytest.raises(SigningError):
        check_own_signature(etree.tostring(root), identity.certificate,
                            dt.datetime.now(dt.UTC).replace(microsecond=0))


def test_the_in_process_check_refuses_another_certificate_and_a_detached_signature(
        identity: SigningIdentity, other_identity: SigningIdentity,
        read_corpus: Callable[[str], bytes]) -> None:
    root, signature, signed_info_c14n = _built(identity, read_corpus)
    with pytest.raises(SigningError, match="last child"):
        _check(root, signature, signed_info_c14n, identity)
    root.append(signature)
    with pytest.raises(SigningError, match="signature value"):
        check_attached_signature(root, signature, signed_info_c14n, other_identity.certificate,
                                 default_signature_algorithm(identity).xmldsig_method)
