"""XAdES-BES enveloped signatures on DCCs: signing ours, verifying anyone's.

Signing produces the exact bytes we hash, store and anchor: the returned
`SignedDocument.data` is never re-serialised afterwards, and its `sha256` is
the hash of those bytes. No timestamp authority is reachable, so signatures are
XAdES-BES (signer-claimed SigningTime); the on-chain anchor is what later
proves *when* a document existed.

Verification keeps an already-signed document as it is and only judges it.
Against signature wrapping it accepts exactly one ds:Signature, a direct child
of the root, whose single data reference covers the whole document (URI="" or
the root's own Id, enveloped transform), plus the XAdES SignedProperties and
optionally the KeyInfo. What the signature covers is taken from signxml's
verified result (`signed_content`), not from the input tree.

Defaults are chosen for independent verification with Debian's xmlsec1 1.2.x:
exclusive C14N, SHA-256, RSA PKCS#1 v1.5 or ECDSA P-256. RSA-PSS is available on
request but xmlsec1 < 1.3 cannot verify it.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from base64 import b64decode, b64encode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification as x509_verification
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidSignature, SignXMLException
from signxml.util import add_pem_header
from signxml.xades import (
    XAdESSignatureConfiguration,
    XAdESSigner,
    XAdESVerifier,
    XAdESVerifyResult,
)

from registry.documents.keys import CertificateInfo, SigningIdentity
from registry.documents.parse import parse_xml
from registry.errors import (
    DocumentAlreadySignedError,
    SignatureInvalidError,
    SigningError,
    SigningKeyError,
)

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
XPATH_FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
_NS = {"ds": DS_NS, "xades": XADES_NS, "dsig-filter2": XPATH_FILTER2}
_ID_ATTRIBUTES = ("Id", "ID", "id", "{http://www.w3.org/XML/1998/namespace}id")

# What a foreign signature may use. SHA-1 and HMAC are out; so are transforms we
# cannot evaluate exactly (signxml would silently skip an unknown transform).
ACCEPTED_SIGNATURE_METHODS = frozenset({
    SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512,
    SignatureMethod.SHA256_RSA_MGF1, SignatureMethod.SHA384_RSA_MGF1,
    SignatureMethod.SHA512_RSA_MGF1,
    SignatureMethod.ECDSA_SHA256, SignatureMethod.ECDSA_SHA384, SignatureMethod.ECDSA_SHA512,
})
ACCEPTED_DIGEST_ALGORITHMS = frozenset({
    DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512,
})
_C14N_TRANSFORMS = frozenset(method.value for method in CanonicalizationMethod)
_ENVELOPED = SignatureConstructionMethod.enveloped.value
# XPath Filter 2.0 "subtract every ds:Signature" is what some DCC tools (DSS) write
# instead of the enveloped transform; with exactly one signature it is the same.
_FILTER2_SUBTRACT_SIGNATURES = "/descendant::ds:Signature"


class SignatureAlgorithm(StrEnum):
    RSA_PKCS1_SHA256 = "rsa-sha256"
    RSA_PSS_SHA256 = "rsa-pss-sha256"
    ECDSA_P256_SHA256 = "ecdsa-p256-sha256"

    @property
    def xmldsig_method(self) -> SignatureMethod:
        return _XMLDSIG_METHODS[self]


_XMLDSIG_METHODS = {
    SignatureAlgorithm.RSA_PKCS1_SHA256: SignatureMethod.RSA_SHA256,
    SignatureAlgorithm.RSA_PSS_SHA256: SignatureMethod.SHA256_RSA_MGF1,
    SignatureAlgorithm.ECDSA_P256_SHA256: SignatureMethod.ECDSA_SHA256,
}


class SignatureStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNSIGNED = "unsigned"


@dataclass(frozen=True)
class SignedDocument:
    """A document we signed. `data` are the exact bytes to store and anchor."""

    data: bytes = field(repr=False)
    sha256: str
    signer: CertificateInfo
    signing_time: dt.datetime
    signature_algorithm: SignatureAlgorithm


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

    @property
    def is_valid(self) -> bool:
        return self.status is SignatureStatus.VALID

    def require_valid(self) -> SignatureVerification:
        """Return self if valid, else raise SignatureInvalidError (code `signature-invalid`)."""
        if not self.is_valid:
            raise SignatureInvalidError(f"signature {self.status.value}: {self.reason}",
                                        status=self.status.value)
        return self


def default_signature_algorithm(identity: SigningIdentity) -> SignatureAlgorithm:
    if isinstance(identity.private_key, ec.EllipticCurvePrivateKey):
        return SignatureAlgorithm.ECDSA_P256_SHA256
    # PKCS#1 v1.5 rather than PSS by default: Debian's xmlsec1 1.2 has no PSS.
    return SignatureAlgorithm.RSA_PKCS1_SHA256


def sign_document(data: bytes, identity: SigningIdentity, *,
                  algorithm: SignatureAlgorithm | None = None,
                  signing_time: dt.datetime | None = None) -> SignedDocument:
    """Sign a DCC with an enveloped XAdES-BES signature over the whole document.

    Raises DocumentError subclasses for hostile or malformed XML,
    DocumentAlreadySignedError if the document carries a ds:Signature already,
    SigningKeyError if the key cannot make `algorithm` or its certificate is not
    valid at the signing time. The result has verified before it is returned.
    """
    root = parse_xml(data).getroot()
    if root.find(f".//{{{DS_NS}}}Signature") is not None:
        raise DocumentAlreadySignedError(
            "the document is signed already; verify it and keep it as it is")
    algorithm = algorithm or default_signature_algorithm(identity)
    _check_key_matches_algorithm(identity, algorithm)
    signing_time = (signing_time or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(
        microsecond=0)
    certificate = identity.certificate
    if not certificate.not_valid_before_utc <= signing_time <= certificate.not_valid_after_utc:
        raise SigningKeyError(
            f"the signing certificate is valid from {certificate.not_valid_before_utc:%Y-%m-%d} "
            f"to {certificate.not_valid_after_utc:%Y-%m-%d}, not at {signing_time:%Y-%m-%d}",
            certificate_subject=certificate.subject.rfc4514_string())

    signer = _FixedTimeXAdESSigner(
        signing_time,
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=algorithm.xmldsig_method,
        digest_algorithm=DigestAlgorithm.SHA256,
        # Exclusive C14N: the signature's digests do not depend on namespaces
        # declared on the DCC root, and xmlsec1 1.2 implements it.
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    try:
        signed_root = signer.sign(root, key=identity.private_key,
                                  cert=[certificate, *identity.chain],
                                  always_add_key_value=False)
    except (SignXMLException, ValueError, TypeError) as exc:
        raise SigningError(f"signing failed: {exc}") from None
    # The XML declaration keeps the encoding explicit; these bytes are final.
    signed_bytes = etree.tostring(signed_root, xml_declaration=True, encoding="UTF-8")

    # Never hand out (and later anchor) a signature that does not verify.
    self_check = verify_signature(signed_bytes, trusted_certs=[certificate])
    if not self_check.is_valid or not self_check.chains_to_trusted_anchor:
        raise SigningError(f"the new signature does not verify: {self_check.reason}")
    return SignedDocument(
        data=signed_bytes,
        sha256=hashlib.sha256(signed_bytes).hexdigest(),
        signer=identity.certificate_info,
        signing_time=signing_time,
        signature_algorithm=algorithm,
    )


def verify_signature(
    data: bytes, trusted_certs: Iterable[x509.Certificate] | None = None,
) -> SignatureVerification:
    """Judge the XAdES/XMLDSig enveloped signature of `data` without changing it.

    Returns UNSIGNED if there is no ds:Signature, INVALID with a reason for any
    failed check, VALID otherwise. With `trusted_certs`, also reports whether the
    signer's certificate chains to one of them at the signing time. Malformed or
    hostile XML raises the parser's DocumentError instead of a verdict.
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
        results = _RegistryXAdESVerifier().verify(
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
        SignatureCheck("certificate-valid-at-signing-time", True,
                       f"checked at {verification_time.isoformat()}"),
    ])

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
        chains, trust_detail = _chains_to_trusted_anchor(
            signer_certificate,
            [cert for cert in key_info_certificates if cert != signer_certificate],
            list(trusted_certs), verification_time)
        checks.append(SignatureCheck("certificate-chain", chains, trust_detail))

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
    )


# --- internals -------------------------------------------------------------------------------

class _StructureError(Exception):
    """A signature shape we refuse before any cryptography runs."""


class _FixedTimeXAdESSigner(XAdESSigner):
    """signxml's XAdES signer stamps `now()`; we need the time we report and validate against."""

    def __init__(self, signing_time: dt.datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._signing_time = signing_time

    def add_signing_time(self, signed_signature_properties: etree._Element, sig_root: Any,
                         signing_settings: Any) -> None:
        element = etree.SubElement(signed_signature_properties, f"{{{XADES_NS}}}SigningTime",
                                   nsmap=self.namespaces)
        element.text = self._signing_time.isoformat(timespec="seconds").replace("+00:00", "Z")

    def _add_reference_to_signed_info(self, sig_root: etree._Element,
                                      node_to_reference: etree._Element, **attrs: str) -> None:
        # signxml digests SignedProperties/KeyInfo with our C14N but writes no
        # Transforms, so verifiers fall back to inclusive C14N and (since the DCC
        # root declares namespaces) compute a different digest. State it explicitly.
        signed_info = self._find(sig_root, "SignedInfo")
        reference = etree.SubElement(signed_info, f"{{{DS_NS}}}Reference",
                                     URI=f"#{node_to_reference.get('Id')}", **attrs)
        transforms = etree.SubElement(reference, f"{{{DS_NS}}}Transforms")
        etree.SubElement(transforms, f"{{{DS_NS}}}Transform", Algorithm=self.c14n_alg.value)
        etree.SubElement(reference, f"{{{DS_NS}}}DigestMethod", Algorithm=self.digest_alg.value)
        digest = self._get_digest(self._c14n(node_to_reference, algorithm=self.c14n_alg),
                                  algorithm=self.digest_alg)
        etree.SubElement(reference, f"{{{DS_NS}}}DigestValue").text = b64encode(digest).decode()


class _RegistryXAdESVerifier(XAdESVerifier):
    """signxml's verifier, refusing (not skipping) transforms it cannot evaluate."""

    def _apply_transforms(self, payload: Any, *, transforms_node: etree._Element | None,
                          signature: etree._Element) -> Any:
        if transforms_node is not None:
            transforms_node = copy.deepcopy(transforms_node)
            for transform in transforms_node.findall("ds:Transform", namespaces=_NS):
                if _is_filter2_subtract_signatures(transform):
                    # Exactly one signature exists (checked before), so removing every
                    # ds:Signature is removing this one: the enveloped transform.
                    transform.set("Algorithm", _ENVELOPED)
                    for child in list(transform):
                        transform.remove(child)
        return super()._apply_transforms(payload, transforms_node=transforms_node,
                                         signature=signature)


def _hardened_parser() -> etree.XMLParser:
    # signxml re-parses copies internally; give it the same refusals as parse_xml.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False)


def _check_key_matches_algorithm(identity: SigningIdentity, algorithm: SignatureAlgorithm) -> None:
    is_ec = isinstance(identity.private_key, ec.EllipticCurvePrivateKey)
    is_rsa = isinstance(identity.private_key, rsa.RSAPrivateKey)
    if (algorithm is SignatureAlgorithm.ECDSA_P256_SHA256 and not is_ec) or (
            algorithm is not SignatureAlgorithm.ECDSA_P256_SHA256 and not is_rsa):
        raise SigningKeyError(f"a {identity.key_description} key cannot sign with {algorithm}",
                              algorithm=str(algorithm))


def _is_filter2_subtract_signatures(transform: etree._Element) -> bool:
    if transform.get("Algorithm") != XPATH_FILTER2:
        return False
    xpaths = transform.findall("dsig-filter2:XPath", namespaces=_NS)
    return (len(xpaths) == 1 and len(transform) == 1
            and xpaths[0].get("Filter") == "subtract"
            and (xpaths[0].text or "").strip() == _FILTER2_SUBTRACT_SIGNATURES
            and xpaths[0].nsmap.get("ds") == DS_NS)


def _element_ids(element: etree._Element) -> list[str]:
    return [value for name in _ID_ATTRIBUTES if (value := element.get(name)) is not None]


def _check_references(root: etree._Element, signature: etree._Element) -> None:
    """Allow only: one whole-document reference, one SignedProperties, optionally KeyInfo."""
    references = signature.findall("ds:SignedInfo/ds:Reference", namespaces=_NS)
    ids: dict[str, list[etree._Element]] = {}
    for element in root.iter(etree.Element):
        for value in _element_ids(element):
            ids.setdefault(value, []).append(element)

    def target(uri: str) -> etree._Element:
        elements = ids.get(uri[1:], [])
        if len(elements) != 1:
            raise _StructureError(f"reference {uri} matches {len(elements)} elements; "
                                  "it must match exactly one")
        return elements[0]

    document_references = signed_properties_references = 0
    key_info = signature.find("ds:KeyInfo", namespaces=_NS)
    for reference in references:
        uri = reference.get("URI")
        if uri is None:
            raise _StructureError("a reference without URI is not accepted")
        if reference.get("Type") == SIGNED_PROPERTIES_TYPE:
            element = target(uri) if uri.startswith("#") else None
            if (element is None or element.tag != f"{{{XADES_NS}}}SignedProperties"
                    or signature not in element.iterancestors()):
                raise _StructureError("the SignedProperties reference must point into the "
                                      "signature's own QualifyingProperties")
            signed_properties_references += 1
        elif uri == "" or (uri.startswith("#") and target(uri) is root):
            _check_document_transforms(reference)
            document_references += 1
        elif uri.startswith("#") and key_info is not None and target(uri) is key_info:
            pass  # signxml's XAdES signer also signs KeyInfo; harmless and covered.
        else:
            raise _StructureError(f"reference {uri!r} does not cover the whole document; "
                                  "only the signed root counts")
    if document_references != 1:
        raise _StructureError(f"{document_references} references cover the whole document; "
                              "exactly one is required")
    if signed_properties_references != 1:
        raise _StructureError("a XAdES signature needs exactly one SignedProperties reference")


def _check_document_transforms(reference: etree._Element) -> None:
    transforms = reference.findall("ds:Transforms/ds:Transform", namespaces=_NS)
    removes_signature = False
    for transform in transforms:
        algorithm = transform.get("Algorithm")
        if algorithm == _ENVELOPED or _is_filter2_subtract_signatures(transform):
            removes_signature = True
        elif algorithm not in _C14N_TRANSFORMS:
            raise _StructureError(
                f"transform {algorithm} is not accepted on the document reference")
    if not removes_signature:
        raise _StructureError("the document reference has no enveloped-signature transform")


def _key_info_certificates(signature: etree._Element) -> list[x509.Certificate]:
    certificates = []
    for element in signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=_NS):
        try:
            certificates.append(x509.load_pem_x509_certificate(add_pem_header(element.text or "")))
        except ValueError:
            raise _StructureError("an X509Certificate in KeyInfo is not a certificate") from None
    if not certificates:
        raise _StructureError("the signature carries no X.509 certificate in KeyInfo")
    return certificates


def _signer_certificate(signature: etree._Element,
                        certificates: Sequence[x509.Certificate]) -> x509.Certificate:
    """The KeyInfo certificate the XAdES SigningCertificate(V2) names first.

    signxml then checks that this digest is signed and that the signature value
    verifies with this certificate's key, so the choice cannot be forged.
    """
    cert_digest = signature.find(
        "ds:Object/xades:QualifyingProperties/xades:SignedProperties/"
        "xades:SignedSignatureProperties/*/xades:Cert/xades:CertDigest", namespaces=_NS)
    if cert_digest is None:
        raise _StructureError("XAdES SigningCertificate is missing")
    method = cert_digest.find("ds:DigestMethod", namespaces=_NS)
    value = cert_digest.findtext("ds:DigestValue", namespaces=_NS) or ""
    algorithms = {DigestAlgorithm.SHA256.value: hashes.SHA256(),
                  DigestAlgorithm.SHA384.value: hashes.SHA384(),
                  DigestAlgorithm.SHA512.value: hashes.SHA512()}
    algorithm = algorithms.get(method.get("Algorithm") if method is not None else "")
    if algorithm is None:
        raise _StructureError("the SigningCertificate digest algorithm is not accepted")
    try:
        expected = b64decode(value, validate=True)
    except ValueError:
        raise _StructureError("the SigningCertificate digest is not base64") from None
    for certificate in certificates:
        if certificate.fingerprint(algorithm) == expected:
            return certificate
    raise _StructureError("no KeyInfo certificate matches the XAdES SigningCertificate")


def _claimed_signing_time(signature: etree._Element) -> dt.datetime | None:
    text = signature.findtext(
        "ds:Object/xades:QualifyingProperties/xades:SignedProperties/"
        "xades:SignedSignatureProperties/xades:SigningTime", namespaces=_NS)
    if text is None:
        return None
    try:
        return _parse_xs_datetime(text)
    except ValueError:
        raise _StructureError(f"SigningTime {text.strip()!r} is not an xs:dateTime") from None


def _parse_xs_datetime(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        # xs:dateTime without zone; XAdES requires UTC in practice.
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _accept_signing_key_usage(policy: Any, certificate: x509.Certificate,
                              key_usage: x509.KeyUsage | None) -> None:
    if key_usage is not None and not (key_usage.digital_signature or key_usage.content_commitment):
        raise ValueError("KeyUsage allows neither digitalSignature nor nonRepudiation")


def _chains_to_trusted_anchor(leaf: x509.Certificate, intermediates: list[x509.Certificate],
                              anchors: list[x509.Certificate],
                              at: dt.datetime) -> tuple[bool, str]:
    if not anchors:
        return False, "no trusted anchors were given"
    if leaf in anchors:
        # A pinned certificate (e.g. an institute's self-signed one) is its own anchor.
        return True, "the signer certificate itself is trusted"
    # Document signing is not web PKI: no EKU/SAN demands on the leaf, only a key
    # usage fit for signatures; CAs are held to the usual web-PKI CA profile.
    ee_policy = x509_verification.ExtensionPolicy.permit_all().may_be_present(
        x509.KeyUsage, x509_verification.Criticality.AGNOSTIC, _accept_signing_key_usage)
    verifier = (
        x509_verification.PolicyBuilder()
        .store(x509_verification.Store(anchors))
        .time(at)
        .extension_policies(ee_policy=ee_policy,
                            ca_policy=x509_verification.ExtensionPolicy.webpki_defaults_ca())
        .build_client_verifier())
    try:
        verified = verifier.verify(leaf, intermediates)
    except x509_verification.VerificationError as exc:
        return False, f"no chain to a trusted anchor: {exc}"
    anchor = verified.chain[-1]
    return True, f"chains to {anchor.subject.rfc4514_string()}"
