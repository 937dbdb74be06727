"""The re-parsing check of our own signatures (`check_own_signature`) against the full verifier.

`sign_document` ran `check_own_signature` instead of `verify_signature` on what it had just
signed, until the in-process `check_attached_signature` replaced both (test_xades_signer
compares those two). These tests prove `check_own_signature` reaches the full verifier's
verdict on our own output: on every corpus example (valid), on shapes a DCC may have (root
Id, comments and processing instructions), and on damaged copies of a signed DCC (each
refused by both).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.xades import XAdESSigner

from registry.documents.keys import KeyType, SigningIdentity, create_test_signing_identity
from registry.documents.parse import parse_xml
from registry.documents.signing import (
    SignedDocument,
    check_own_signature,
    sign_document,
    verify_signature,
)
from registry.documents.xmldsig import _FixedTimeXAdESSigner
from registry.errors import SigningError
from tests.registry.documents._sign_fixtures import reshape

EXAMPLE = "examples/ptb_example_v3.0.0.xml"


@pytest.fixture(scope="module", params=[KeyType.EC_P256, KeyType.RSA_3072])
def identity(request: pytest.FixtureRequest) -> SigningIdentity:
    return create_test_signing_identity("Self-check Lab", "Test NMI", "DE",
                                        key_type=request.param)


@pytest.fixture(scope="module")
def other_identity() -> SigningIdentity:
    return create_test_signing_identity("Other Lab", "Test NMI", "DE")


def _fully_valid(data: bytes, identity: SigningIdentity) -> bool:
    verdict = verify_signature(data, trusted_certs=[identity.certificate])
    return verdict.is_valid and verdict.chains_to_trusted_anchor is True


def _self_check_passes(data: bytes, signed: SignedDocument, identity: SigningIdentity) -> bool:
    try:
        check_own_signature(data, identity.certificate, signed.signing_time)
    except SigningError:
        return False
    return True


def test_every_corpus_example_passes_both(dcc_example: dict[str, Any],
                                          identity: SigningIdentity,
                                          read_corpus: Callable[[str], bytes]) -> None:
    signed = sign_document(read_corpus(dcc_example["file"]), identity)
    assert _fully_valid(signed.data, identity)
    assert _self_check_passes(signed.data, signed, identity)


@pytest.mark.parametrize("shape", ["root-id", "comments", "processing-instruction",
                                   "trailing-whitespace"])
def test_document_shapes_give_the_same_verdict(shape: str, identity: SigningIdentity,
                                               read_corpus: Callable[[str], bytes]) -> None:
    signed = sign_document(reshape(read_corpus(EXAMPLE), shape), identity)
    assert _self_check_passes(signed.data, signed, identity) == _fully_valid(
        signed.data, identity) is True


def _replace_once(pattern: bytes, replacement: Callable[[re.Match[bytes]], bytes]
                  ) -> Callable[[bytes, SigningIdentity], bytes]:
    def damage(data: bytes, _other: SigningIdentity) -> bytes:
        damaged, count = re.subn(pattern, replacement, data, count=1)
        assert count == 1 and damaged != data, pattern
        return damaged
    return damage


def _swap_certificate(data: bytes, other: SigningIdentity) -> bytes:
    from base64 import b64encode

    from cryptography.hazmat.primitives import serialization
    der = other.certificate.public_bytes(serialization.Encoding.DER)
    return _replace_once(rb"(<ds:X509Certificate>)[^<]+",
                         lambda m: m.group(1) + b64encode(der))(data, other)


def _flip(match: re.Match[bytes]) -> bytes:
    text = match.group(0)
    last = text[-1:]
    return text[:-1] + (b"B" if last != b"B" else b"C")


DAMAGES: dict[str, Callable[[bytes, SigningIdentity], bytes]] = {
    "measured-value": _replace_once(rb"(<si:value>\s*-?)(\d)",
                                    lambda m: m.group(1) + str((int(m.group(2)) + 1) % 10)
                                    .encode()),
    "signature-value": _replace_once(rb"<ds:SignatureValue>[A-Za-z0-9+/]{8}", _flip),
    "document-digest": _replace_once(rb"<ds:DigestValue>[A-Za-z0-9+/]{8}", _flip),
    "signed-info-whitespace": _replace_once(rb"<ds:SignedInfo>", lambda m: m.group(0) + b" "),
    "signing-time": _replace_once(rb"(<xades:SigningTime>\d{4})", lambda m: b"<xades:"
                                  b"SigningTime>1999"),
    "key-info-certificate": _swap_certificate,
    "signature-removed": _replace_once(rb"(?s)<ds:Signature\b.*</ds:Signature>", lambda m: b""),
    "root-attribute-added": _replace_once(rb"(<dcc:digitalCalibrationCertificate)",
                                          lambda m: m.group(1) + b' extra="1"'),
    "enveloped-transform-dropped": _replace_once(
        rb'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>',
        lambda m: b""),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_output_is_refused_by_both(damage: str, identity: SigningIdentity,
                                           other_identity: SigningIdentity,
                                           read_corpus: Callable[[str], bytes]) -> None:
    signed = sign_document(read_corpus(EXAMPLE), identity,
                           signing_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    damaged = DAMAGES[damage](signed.data, other_identity)
    assert _fully_valid(damaged, identity) is False
    assert _self_check_passes(damaged, signed, identity) is False


def test_another_certificate_is_refused(identity: SigningIdentity,
                                        other_identity: SigningIdentity,
                                        read_corpus: Callable[[str], bytes]) -> None:
    signed = sign_document(read_corpus(EXAMPLE), identity)
    assert _fully_valid(signed.data, other_identity) is False
    assert _self_check_passes(signed.data, signed, other_identity) is False


class _RoundTripSigner(_FixedTimeXAdESSigner):
    """Our signer with signxml's own copy of the document (serialise, then parse)."""

    def get_root(self, data: Any) -> Any:
        return XAdESSigner.get_root(self, data)


def _body_and_document_digest(signed: etree._Element) -> tuple[bytes, str | None]:
    """The signed tree without its signature, and the document reference's digest: what
    the copy of the document decides (the signature's Ids are random per signing)."""
    signature = signed.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    assert signature is not None
    digest = None
    for reference in signature.iterfind("{*}SignedInfo/{*}Reference"):
        if reference.get("URI") in ("", f"#{signed.get('Id')}"):
            digest = reference.findtext("{*}DigestValue")
    signed.remove(signature)
    return etree.tostring(signed.getroottree(), xml_declaration=True, encoding="UTF-8"), digest


@pytest.mark.parametrize("shape", ["as-is", "root-id", "comments", "processing-instruction"])
def test_copying_the_root_signs_exactly_what_the_round_trip_signs(
        shape: str, dcc_example: dict[str, Any], read_corpus: Callable[[str], bytes]) -> None:
    identity = _ec_identity()
    document = read_corpus(dcc_example["file"])
    if shape != "as-is":
        document = reshape(document, shape)
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    outcomes = []
    for signer_class in (_FixedTimeXAdESSigner, _RoundTripSigner):
        signer = signer_class(
            when, method=SignatureConstructionMethod.enveloped,
            signature_algorithm=SignatureMethod.ECDSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
        signed = signer.sign(parse_xml(document).getroot(), key=identity.private_key,
                             cert=[identity.certificate], always_add_key_value=False)
        outcomes.append(_body_and_document_digest(signed))
    (copied_body, copied_digest), (round_trip_body, round_trip_digest) = outcomes
    # The same digest: what the signature covers is identical.
    assert copied_digest is not None and copied_digest == round_trip_digest
    # The copy keeps the root element as parsed (both ways drop what lies outside it);
    # signxml's round trip serialises to ASCII, which turns a non-ASCII character in a
    # comment into the literal text "&#228;". Comments are outside the signed C14N, so
    # that is the only difference.
    root = parse_xml(document).getroot()
    assert copied_body == etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assert _without_comments(copied_body) == _without_comments(round_trip_body)


def _without_comments(data: bytes) -> bytes:
    tree = parse_xml(data)
    for comment in tree.xpath("//comment()"):
        if comment.getparent() is not None:
            comment.getparent().remove(comment)
    return etree.tostring(tree, method="c14n", with_comments=False)


_EC: list[SigningIdentity] = []


def _ec_identity() -> SigningIdentity:
    if not _EC:
        _EC.append(create_test_signing_identity("Round-trip Lab", "Test NMI", "DE"))
    return _EC[0]
