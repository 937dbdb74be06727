"""Verifying XAdES/XMLDSig enveloped signatures: anyone's, and our own just made.

Verification keeps an already-signed document as it is and only judges it.
Against signature wrapping it accepts exactly one ds:Signature, a direct child
of the root, whose single data reference covers the whole document (URI="" or
the root's own Id, enveloped transform), plus the XAdES SignedProperties and
optionally the KeyInfo. What the signature covers is taken from signxml's
verified result (`signed_content`), not from the input tree.
"""

from __future__ import annotations

import datetime as dt
from base64 import b64decode
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature as InvalidSignatureValue
from cryptography.hazmat.primitives import hashes, serialization
from lxml import etree
from signxml.algorithms import SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidSignature, SignXMLException
from signxml.util import _remove_sig
from signxml.xades import (
    XAdESSignatureConfiguration,
    XAdESVerifyResult,
)

from registry.documents.keys import CertificateInfo
from registry.documents.parse import parse_xml
from registry.documents.signer_trust import (
    EmbeddedValidationData,
    SignerTrust,
    TrustAnchors,
    assess_signer,
    build_chain,
    read_validation_data,
)
from registry.documents.xmldsig import (
    _C14N_TRANSFORMS,
    _ENVELOPED,
    _NS,
    ACCEPTED_DIGEST_ALGORITHMS,
    ACCEPTED_SIGNATURE_METHODS,
    DS_NS,
    XADES_NS,
    _algorithm_of,
    _c14n_by_uri,
    _check_reference_digest,
    _check_references,
    _claimed_signing_time,
    _element_ids,
    _hardened_parser,
    _key_info_certificates,
    _parse_xs_datetime,
    _RegistryXAdESVerifier,
    _signer_certificate,
    _StructureError,
)
from registry.errors import (
    SignatureInvalidError,
    SigningError,
)


class SignatureStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNSIGNED = "unsigned"



@dataclass(frozen=True)
class SignatureCheck:
    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class SignatureVerification:
    """The verdict on a document's signature.

    `status` is about the signature itself (cryptography, coverage, certificate
    validity at the signing time). Trust in the signer is separate:
    `chains_to_trusted_anchor` is None when no anchors were given.
    `signing_time` is claimed by the signer (XAdES-BES has no timestamp token).
    """

    status: SignatureStatus
    reason: str
    checks: tuple[SignatureCheck, ...]
    signer: CertificateInfo | None = None
    signing_time: dt.datetime | None = None
    signature_method: str | None = None
    chains_to_trusted_anchor: bool | None = None
    trust_detail: str | None = None
    # The canonical bytes the signature covers, from the verified result; read
    # the certificate's content from here, not from the submitted tree.
    signed_content: bytes | None = field(default=None, repr=False)
    # The verified signer's certificate and every X.509 certificate of the KeyInfo (the
    # signer's among them), for checks of who signed: whose the signer is, which CA issued it.
    signer_certificate: x509.Certificate | None = field(default=None, repr=False)
    key_info_certificates: tuple[x509.Certificate, ...] = field(default=(), repr=False)
    # PKI validity of the signer at the signing time (registry.documents.signer_trust):
    # set for every valid signature, `unchecked` when no trust anchors were given.
    signer_trust: SignerTrust | None = None

    @property
    def is_valid(self) -> bool:
        return self.status is SignatureStatus.VALID

    def require_valid(self) -> SignatureVerification:
        """Return self if valid, else raise SignatureInvalidError (code `signature-invalid`)."""
        if not self.is_valid:
            raise SignatureInvalidError(f"signature {self.status.value}: {self.reason}",
                                        status=self.status.value)
        return self



def verify_signature(
    data: bytes, trusted_certs: Iterable[x509.Certificate] | None = None, *,
    anchors: TrustAnchors | None = None,
) -> SignatureVerification:
    """Judge the XAdES/XMLDSig enveloped signature of `data` without changing it.

    Returns UNSIGNED if there is no ds:Signature, INVALID with a reason for any
    failed check, VALID otherwise. With `trusted_certs`, also reports whether the
    signer's certificate chains to one of them at the signing time. With `anchors`,
    `signer_trust` judges the signer's chain, key usage, validity and embedded
    revocation data at the signing time; the signer certificate's validity period is
    then part of that judgement rather than of the signature's. Malformed or hostile
    XML raises the parser's DocumentError instead of a verdict.
    """
    root = parse_xml(data).getroot()
    checks: list[SignatureCheck] = []

    def invalid(check: str, reason: str, **extra: Any) -> SignatureVerification:
        checks.append(SignatureCheck(check, False, reason))
        return SignatureVerification(status=SignatureStatus.INVALID, reason=reason,
                                     checks=tuple(checks), **extra)

    signatures = root.findall(f".//{{{DS_NS}}}Signature")
    if root.tag == f"{{{DS_NS}}}Signature":
        return invalid("single-enveloped-signature",
                       "the document is a bare signature, not a signed certificate")
    if not signatures:
        return SignatureVerification(status=SignatureStatus.UNSIGNED,
                                     reason="the document carries no XML signature", checks=())
    if len(signatures) > 1:
        return invalid("single-enveloped-signature",
                       f"{len(signatures)} signatures found; exactly one is accepted")
    signature = signatures[0]
    if signature.getparent() is not root:
        return invalid("single-enveloped-signature",
                       "the signature is not a direct child of the root element")
    checks.append(SignatureCheck("single-enveloped-signature", True))

    try:
        _check_references(root, signature)
    except _StructureError as exc:
        return invalid("reference-covers-whole-document", str(exc))
    checks.append(SignatureCheck("reference-covers-whole-document", True))

    signature_method = signature.find("ds:SignedInfo/ds:SignatureMethod", namespaces=_NS)
    method_uri = signature_method.get("Algorithm") if signature_method is not None else None
    try:
        key_info_certificates = _key_info_certificates(signature)
        signer_certificate = _signer_certificate(signature, key_info_certificates)
        claimed_signing_time = _claimed_signing_time(signature)
    except _StructureError as exc:
        return invalid("signing-certificate", str(exc), signature_method=method_uri)
    signer_info = CertificateInfo.from_certificate(signer_certificate)
    details: dict[str, Any] = {"signer": signer_info, "signature_method": method_uri,
                               "signing_time": claimed_signing_time}

    # The certificate must be valid when the signer says it signed; without a
    # timestamp token that claim is all XAdES-BES offers (the anchor adds proof).
    verification_time = claimed_signing_time or dt.datetime.now(dt.UTC)
    config = XAdESSignatureConfiguration(
        expect_references=True,  # counted and typed by _check_references above
        signature_methods=ACCEPTED_SIGNATURE_METHODS,
        digest_algorithms=ACCEPTED_DIGEST_ALGORITHMS,
        verification_time=verification_time,
    )
    try:
        results = _RegistryXAdESVerifier(validity_judged_by_chain=anchors is not None).verify(
            root, x509_cert=signer_certificate, expect_config=config, parser=_hardened_parser())
    except InvalidCertificate as exc:
        return invalid("certificate-valid-at-signing-time", str(exc), **details)
    except InvalidDigest as exc:
        return invalid("reference-digests", f"content changed after signing ({exc})", **details)
    except InvalidSignature as exc:
        return invalid("signature-value", f"signature value does not verify ({exc})", **details)
    except (SignXMLException, etree.DocumentInvalid, ValueError) as exc:
        return invalid("signature-structure", f"unusable signature: {exc}", **details)
    checks.extend([
        SignatureCheck("signature-value", True),
        SignatureCheck("reference-digests", True),
        SignatureCheck("signing-certificate-binding", True, "XAdES SigningCertificate digest"),
    ])
    if anchors is None:
        checks.append(SignatureCheck("certificate-valid-at-signing-time", True,
                                     f"checked at {verification_time.isoformat()}"))

    # Only what signxml verified counts from here on.
    document_results = [result for result in results
                        if result.signed_xml is not None and result.signed_xml.tag == root.tag]
    if len(document_results) != 1:
        return invalid("reference-covers-whole-document",
                       "the verified references do not cover the certificate's root element",
                       **details)
    signed_properties = next((result.signed_properties for result in results
                              if isinstance(result, XAdESVerifyResult)), None)
    verified_time_text = (signed_properties.findtext("xades:SigningTime", namespaces=_NS)
                          if signed_properties is not None else None)
    verified_signing_time = _parse_xs_datetime(verified_time_text) if verified_time_text else None
    if verified_signing_time != claimed_signing_time:
        return invalid("signing-time",
                       "the signed SigningTime differs from the one in the document", **details)

    chains: bool | None = None
    trust_detail: str | None = None
    if trusted_certs is not None:
        chain, trust_detail = build_chain(
            signer_certificate,
            [cert for cert in key_info_certificates if cert != signer_certificate],
            list(trusted_certs), verification_time)
        chains = chain is not None
        checks.append(SignatureCheck("certificate-chain", chains, trust_detail))
    # Without anchors nothing is judged, so the unsigned properties are not even read.
    embedded = (read_validation_data(signature) if anchors is not None
                else EmbeddedValidationData())
    signer_trust = assess_signer(signer_certificate, key_info_certificates, embedded, anchors,
                                 verified_signing_time)
    if anchors is not None:
        checks.append(SignatureCheck("signer-trust", not signer_trust.refuses,
                                     signer_trust.detail))

    return SignatureVerification(
        status=SignatureStatus.VALID,
        reason="the signature covers the whole document and verifies",
        checks=tuple(checks),
        signer=signer_info,
        signing_time=verified_signing_time,
        signature_method=method_uri,
        chains_to_trusted_anchor=chains,
        trust_detail=trust_detail,
        signed_content=document_results[0].signed_data,
        signer_certificate=signer_certificate,
        key_info_certificates=tuple(key_info_certificates),
        signer_trust=signer_trust,
    )


def check_own_signature(data: bytes, certificate: x509.Certificate,
                        signing_time: dt.datetime) -> None:
    """Raise SigningError unless `data`, which we just signed, verifies under `certificate`.

    Judges the bytes, not the tree they came from: they are parsed again, and every
    reference digest and the signature value are recomputed with the same transforms
    (enveloped, then the stated C14N) and the same public-key check as verify_signature.
    Our signer's fixed shape is demanded instead of tolerated: one ds:Signature as the
    root's child, one document reference, one SignedProperties reference, the
    SigningCertificate digest and first KeyInfo certificate of `certificate`, and the
    SigningTime we stamped. The certificate's validity at `signing_time` and trust in it
    are settled before signing, so they are not repeated here.
    """
    def refuse(reason: str) -> SigningError:
        return SigningError(reason)

    try:
        root = etree.fromstring(data, _hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise refuse(f"the signed bytes do not parse: {exc}") from None
    signatures = root.findall(f".//{{{DS_NS}}}Signature")
    if len(signatures) != 1 or signatures[0].getparent() is not root:
        raise refuse("not exactly one ds:Signature as a child of the root")
    signature = signatures[0]
    signed_info = signature.find("ds:SignedInfo", namespaces=_NS)
    if signed_info is None:
        raise refuse("the signature has no SignedInfo")
    signed_info_c14n = _c14n_by_uri(
        signed_info, _algorithm_of(signed_info, "ds:CanonicalizationMethod"))
    # Digests inside the signature first: the enveloped transform detaches it last.
    document_reference: tuple[etree._Element, str] | None = None
    signed_properties = 0
    for reference in signed_info.findall("ds:Reference", namespaces=_NS):
        uri = reference.get("URI")
        transforms = [t.get("Algorithm") or "" for t in
                      reference.findall("ds:Transforms/ds:Transform", namespaces=_NS)]
        c14n = [algorithm for algorithm in transforms if algorithm in _C14N_TRANSFORMS]
        if len(c14n) != 1:
            raise refuse(f"reference {uri!r} does not state exactly one canonicalisation")
        if uri == "" or (uri and uri[1:] in _element_ids(root)):
            if _ENVELOPED not in transforms or document_reference is not None:
                raise refuse("the document reference is not the one enveloped reference")
            document_reference = (reference, c14n[0])
            continue
        targets = [element for element in signature.iter(etree.Element)
                   if uri and uri.startswith("#") and uri[1:] in _element_ids(element)]
        if len(targets) != 1 or set(transforms) != set(c14n):
            raise refuse(f"reference {uri!r} does not point at one element of the signature")
        if targets[0].tag == f"{{{XADES_NS}}}SignedProperties":
            signed_properties += 1
        _check_reference_digest(reference, _c14n_by_uri(targets[0], c14n[0]))
    if document_reference is None or signed_properties != 1:
        raise refuse("the signature lacks its document or SignedProperties reference")

    try:
        key_info_certificate = b64decode(signature.findtext(
            "ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=_NS) or "")
        cert_digest = b64decode(signature.findtext(
            "ds:Object/xades:QualifyingProperties/xades:SignedProperties/"
            "xades:SignedSignatureProperties/*/xades:Cert/xades:CertDigest/ds:DigestValue",
            namespaces=_NS) or "")
        claimed_time = _claimed_signing_time(signature)
        raw_signature = b64decode(signature.findtext("ds:SignatureValue", namespaces=_NS) or "")
        method = SignatureMethod(_algorithm_of(signed_info, "ds:SignatureMethod"))
    except (ValueError, _StructureError) as exc:
        raise refuse(f"unreadable signature: {exc}") from None
    if key_info_certificate != certificate.public_bytes(serialization.Encoding.DER):
        raise refuse("the first KeyInfo certificate is not the signing certificate")
    if cert_digest != certificate.fingerprint(hashes.SHA256()):
        raise refuse("the XAdES SigningCertificate digest is not the signing certificate's")
    if claimed_time != signing_time:
        raise refuse("the SigningTime is not the one stamped")
    if method not in ACCEPTED_SIGNATURE_METHODS:
        raise refuse(f"signature method {method.value} is not accepted")
    try:
        _RegistryXAdESVerifier()._verify_signature_with_pubkey(
            signed_info_c14n=signed_info_c14n, raw_signature=raw_signature,
            signature_alg=method, signing_certificate=certificate)
    except (InvalidSignatureValue, SignXMLException, ValueError) as exc:
        raise refuse(f"the signature value does not verify ({type(exc).__name__})") from None

    reference, c14n_uri = document_reference
    _remove_sig(signature)
    _check_reference_digest(reference, _c14n_by_uri(root, c14n_uri))
