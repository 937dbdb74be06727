"""XAdES-BES enveloped signatures on DCCs: signing ours, verifying anyone's.

Signing produces the exact bytes we hash, store and anchor: the returned
`SignedDocument.data` is never re-serialised afterwards, and its `sha256` is
the hash of those bytes. No timestamp authority is reachable, so signatures are
XAdES-BES (signer-claimed SigningTime); the on-chain anchor is what later
proves *when* a document existed.

Verification lives in registry.documents.signature_verification and the shared
XMLDSig/XAdES structure in registry.documents.xmldsig; their public names are
re-exported here, where callers have always imported them from.

Defaults are chosen for independent verification with Debian's xmlsec1 1.2.x:
exclusive C14N, SHA-256, RSA PKCS#1 v1.5 or ECDSA P-256. RSA-PSS is available on
request but xmlsec1 < 1.3 cannot verify it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import SignatureMethod

from registry.documents.keys import CertificateInfo, SigningIdentity
from registry.documents.parse import parse_xml

# Re-exported: callers import the verification side from here too.
from registry.documents.signature_verification import (
    SignatureCheck,
    SignatureStatus,
    SignatureVerification,
    check_own_signature,
    verify_signature,
)
from registry.documents.xades_signer import build_signature, check_attached_signature
from registry.documents.xmldsig import (
    ACCEPTED_DIGEST_ALGORITHMS,
    ACCEPTED_SIGNATURE_METHODS,
    DS_NS,
    SIGNED_PROPERTIES_TYPE,
    XADES_NS,
    XPATH_FILTER2,
)
from registry.errors import (
    DocumentAlreadySignedError,
    SigningError,
    SigningKeyError,
)

__all__ = [
    "ACCEPTED_DIGEST_ALGORITHMS",
    "ACCEPTED_SIGNATURE_METHODS",
    "DS_NS",
    "SIGNED_PROPERTIES_TYPE",
    "XADES_NS",
    "XPATH_FILTER2",
    "SignatureAlgorithm",
    "SignatureCheck",
    "SignatureStatus",
    "SignatureVerification",
    "SignedDocument",
    "check_own_signature",
    "default_signature_algorithm",
    "sign_document",
    "verify_signature",
]


class SignatureAlgorithm(StrEnum):
    RSA_PKCS1_SHA256 = "rsa-sha256"
    RSA_PSS_SHA256 = "rsa-pss-sha256"
    ECDSA_P256_SHA256 = "ecdsa-p256-sha256"

    @property
    def xmldsig_method(self) -> SignatureMethod:
        return _XMLDSIG_METHODS[self]


_SIGNATURE_TAG = f"{{{DS_NS}}}Signature"

_XMLDSIG_METHODS = {
    SignatureAlgorithm.RSA_PKCS1_SHA256: SignatureMethod.RSA_SHA256,
    SignatureAlgorithm.RSA_PSS_SHA256: SignatureMethod.SHA256_RSA_MGF1,
    SignatureAlgorithm.ECDSA_P256_SHA256: SignatureMethod.ECDSA_SHA256,
}


@dataclass(frozen=True)
class SignedDocument:
    """A document we signed. `data` are the exact bytes to store and anchor."""

    data: bytes = field(repr=False)
    sha256: str
    signer: CertificateInfo
    signing_time: dt.datetime
    signature_algorithm: SignatureAlgorithm



def default_signature_algorithm(identity: SigningIdentity) -> SignatureAlgorithm:
    if isinstance(identity.private_key, ec.EllipticCurvePrivateKey):
        return SignatureAlgorithm.ECDSA_P256_SHA256
    # PKCS#1 v1.5 rather than PSS by default: Debian's xmlsec1 1.2 has no PSS.
    return SignatureAlgorithm.RSA_PKCS1_SHA256


def sign_document(data: bytes, identity: SigningIdentity, *,
                  algorithm: SignatureAlgorithm | None = None,
                  signing_time: dt.datetime | None = None,
                  parsed: etree._ElementTree | None = None) -> SignedDocument:
    """Sign a DCC with an enveloped XAdES-BES signature over the whole document.

    Raises DocumentError subclasses for hostile or malformed XML,
    DocumentAlreadySignedError if the document carries a ds:Signature already,
    SigningKeyError if the key cannot make `algorithm` or its certificate is not
    valid at the signing time. The result has been checked (`check_attached_signature`)
    before it is returned. `parsed`: `parse_xml(data)` if the caller made it already
    (validation does); it is read, not changed.
    """
    root = (parse_xml(data) if parsed is None else parsed).getroot()
    # libxml2's tag filter instead of an ElementPath search (`.//`, in Python); the root
    # itself does not count, as it did not for `.//`.
    if any(element is not root for element in root.iter(_SIGNATURE_TAG)):
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

    try:
        signature, signed_info_c14n = build_signature(
            root, identity.private_key, [certificate, *identity.chain],
            algorithm.xmldsig_method, signing_time)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"signing failed: {exc}") from None
    # The signature goes into the caller's tree only for as long as it takes to serialise
    # and check it (copying a 25 KB DCC to sign cost a fifth of signing): the tree is
    # handed back as it came, and the signature stays out of what it canonicalises.
    root.append(signature)
    try:
        # The XML declaration keeps the encoding explicit; these bytes are final.
        signed_bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        # Never hand out (and later anchor) a signature that does not verify; what this
        # checks, and why it stands for parsing the bytes again: check_attached_signature.
        check_attached_signature(root, signature, signed_info_c14n, certificate,
                                 algorithm.xmldsig_method)
    finally:
        root.remove(signature)
    return SignedDocument(
        data=signed_bytes,
        sha256=hashlib.sha256(signed_bytes).hexdigest(),
        signer=identity.certificate_info,
        signing_time=signing_time,
        signature_algorithm=algorithm,
    )



def _check_key_matches_algorithm(identity: SigningIdentity, algorithm: SignatureAlgorithm) -> None:
    is_ec = isinstance(identity.private_key, ec.EllipticCurvePrivateKey)
    is_rsa = isinstance(identity.private_key, rsa.RSAPrivateKey)
    if (algorithm is SignatureAlgorithm.ECDSA_P256_SHA256 and not is_ec) or (
            algorithm is not SignatureAlgorithm.ECDSA_P256_SHA256 and not is_rsa):
        raise SigningKeyError(f"a {identity.key_description} key cannot sign with {algorithm}",
                              algorithm=str(algorithm))
