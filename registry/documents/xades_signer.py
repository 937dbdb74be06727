"""Our XAdES-BES enveloped signature, built directly with lxml.

signxml's XAdES signer made the same signature at about three times the cost: it copies
the document twice (one copy to sign, one to canonicalise), looks every element up by
XPath, and registry.documents.signing then parsed the serialised result once more to
check it. Here the document is canonicalised once, in place, the ds:Signature is built
as a small standalone tree, and the check runs on the values computed in this process
(see `check_attached_signature`).

The output is element for element, attribute for attribute the one signxml 5.2 writes
(`_FixedTimeXAdESSigner` in registry.documents.xmldsig, with our explicit Transforms on
the SignedProperties and KeyInfo references): tests sign the corpus both ways with the
same Ids and compare the bytes. Ids are random per signature, as signxml's are.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from base64 import b64decode, b64encode

from cryptography import x509
from cryptography.exceptions import InvalidSignature as InvalidSignatureValue
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import SignXMLException
from signxml.util import strip_pem_header

from registry.documents.xmldsig import (
    _ENVELOPED,
    DS_NS,
    SIGNED_PROPERTIES_TYPE,
    XADES_NS,
    _RegistryXAdESVerifier,
)
from registry.errors import SigningError

# Exclusive C14N: the signature's digests do not depend on namespaces declared on the DCC
# root, and xmlsec1 1.2 implements it.
C14N_METHOD = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0
DIGEST_METHOD = DigestAlgorithm.SHA256
_NSMAP = {"ds": DS_NS, "xades": XADES_NS}
# signxml's XAdESDataObjectFormat defaults, which every signature of ours has carried.
_DATA_OBJECT_DESCRIPTION = "Default XAdES payload description"
_DATA_OBJECT_MIME_TYPE = "text/xml"

_DS = {name: f"{{{DS_NS}}}{name}" for name in (
    "Signature", "SignedInfo", "CanonicalizationMethod", "SignatureMethod", "Reference",
    "Transforms", "Transform", "DigestMethod", "DigestValue", "SignatureValue", "KeyInfo",
    "X509Data", "X509Certificate", "Object")}
_XADES = {name: f"{{{XADES_NS}}}{name}" for name in (
    "QualifyingProperties", "SignedProperties", "SignedSignatureProperties", "SigningTime",
    "SigningCertificateV2", "Cert", "CertDigest", "SignedDataObjectProperties",
    "DataObjectFormat", "Description", "MimeType")}


def new_token() -> str:
    """An Id suffix as signxml makes them (8 upper-case hex digits)."""
    return secrets.token_hex(4).upper()


def canonical(element: etree._Element) -> bytes:
    """Exclusive C14N 1.0 without comments: the one canonicalisation our signatures state.
    It renders only the namespaces an element visibly uses, so an element's canonical
    form is the same standalone as inside the signed document."""
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def document_uri(root: etree._Element) -> str:
    """The document reference's URI: the root's Id (or ID) as signxml names it, else ""."""
    root_id = root.get("Id", root.get("ID"))
    return "" if root_id is None else f"#{root_id}"


def _digest(data: bytes) -> str:
    return b64encode(hashlib.sha256(data).digest()).decode()


@functools.lru_cache(maxsize=16)
def _certificate_texts(certificate: x509.Certificate) -> tuple[str, str]:
    """(KeyInfo text, SigningCertificateV2 digest) of a certificate: the same for every
    document one identity signs."""
    return (strip_pem_header(certificate.public_bytes(serialization.Encoding.PEM)),
            _digest(certificate.public_bytes(serialization.Encoding.DER)))


def _reference(signed_info: etree._Element, uri: str, transforms: tuple[str, ...],
               digest: str, **attributes: str) -> etree._Element:
    reference = etree.SubElement(signed_info, _DS["Reference"], URI=uri, **attributes)
    transforms_element = etree.SubElement(reference, _DS["Transforms"])
    for algorithm in transforms:
        etree.SubElement(transforms_element, _DS["Transform"], Algorithm=algorithm)
    etree.SubElement(reference, _DS["DigestMethod"], Algorithm=DIGEST_METHOD.value)
    etree.SubElement(reference, _DS["DigestValue"]).text = digest
    return reference


def build_signature(root: etree._Element, private_key: object,
                    certificates: list[x509.Certificate], method: SignatureMethod,
                    signing_time: dt.datetime) -> tuple[etree._Element, bytes]:
    """A signed, standalone ds:Signature over the document `root` (which has none), and the
    canonical SignedInfo it signs. `root` is read, not changed; appending the result as
    its last child gives the signed document."""
    signature_id = f"SignXMLSignature{new_token()}"
    key_info_id = f"SignXMLCertificate{new_token()}"
    signed_properties_id = f"{signature_id}-SignedProperties{new_token()}"
    data_reference_id = f"SignXMLReference{new_token()}"

    signature = etree.Element(_DS["Signature"], nsmap=_NSMAP, Id=signature_id)
    signed_info = etree.SubElement(signature, _DS["SignedInfo"])
    etree.SubElement(signed_info, _DS["CanonicalizationMethod"], Algorithm=C14N_METHOD.value)
    etree.SubElement(signed_info, _DS["SignatureMethod"], Algorithm=method.value)
    signature_value = etree.SubElement(signature, _DS["SignatureValue"])
    key_info = etree.SubElement(signature, _DS["KeyInfo"], Id=key_info_id)
    x509_data = etree.SubElement(key_info, _DS["X509Data"])
    for certificate in certificates:
        etree.SubElement(x509_data, _DS["X509Certificate"]).text = (
            _certificate_texts(certificate)[0])

    qualifying = etree.SubElement(etree.SubElement(signature, _DS["Object"]),
                                  _XADES["QualifyingProperties"], Target=f"#{signature_id}")
    signed_properties = etree.SubElement(qualifying, _XADES["SignedProperties"],
                                         Id=signed_properties_id)
    signature_properties = etree.SubElement(signed_properties,
                                            _XADES["SignedSignatureProperties"])
    etree.SubElement(signature_properties, _XADES["SigningTime"]).text = (
        signing_time.isoformat(timespec="seconds").replace("+00:00", "Z"))
    signing_certificates = etree.SubElement(signature_properties,
                                            _XADES["SigningCertificateV2"])
    for certificate in certificates:
        cert_digest = etree.SubElement(etree.SubElement(signing_certificates, _XADES["Cert"]),
                                       _XADES["CertDigest"])
        etree.SubElement(cert_digest, _DS["DigestMethod"], Algorithm=DIGEST_METHOD.value)
        etree.SubElement(cert_digest, _DS["DigestValue"]).text = (
            _certificate_texts(certificate)[1])
    data_object_format = etree.SubElement(
        etree.SubElement(signed_properties, _XADES["SignedDataObjectProperties"]),
        _XADES["DataObjectFormat"], ObjectReference=f"#{data_reference_id}")
    etree.SubElement(data_object_format, _XADES["Description"]).text = _DATA_OBJECT_DESCRIPTION
    etree.SubElement(data_object_format, _XADES["MimeType"]).text = _DATA_OBJECT_MIME_TYPE

    # The enveloped transform removes the signature from the document before C14N; the
    # document has none yet, so its canonical form is that of `root` itself.
    document_reference = _reference(signed_info, document_uri(root),
                                    (_ENVELOPED, C14N_METHOD.value), _digest(canonical(root)))
    document_reference.set("Id", data_reference_id)
    _reference(signed_info, f"#{signed_properties_id}", (C14N_METHOD.value,),
               _digest(canonical(signed_properties)), Type=SIGNED_PROPERTIES_TYPE)
    _reference(signed_info, f"#{key_info_id}", (C14N_METHOD.value,),
               _digest(canonical(key_info)))

    signed_info_c14n = canonical(signed_info)
    signature_value.text = b64encode(_sign(private_key, method, signed_info_c14n)).decode()
    return signature, signed_info_c14n


def _sign(private_key: object, method: SignatureMethod, data: bytes) -> bytes:
    if method is SignatureMethod.ECDSA_SHA256 and isinstance(private_key,
                                                             ec.EllipticCurvePrivateKey):
        # XMLDSig wants r || s, each as wide as the curve, not the DER sequence.
        r, s = utils.decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        width = (private_key.key_size + 7) // 8
        return r.to_bytes(width, "big") + s.to_bytes(width, "big")
    if isinstance(private_key, rsa.RSAPrivateKey):
        if method is SignatureMethod.RSA_SHA256:
            return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        if method is SignatureMethod.SHA256_RSA_MGF1:
            return private_key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                      salt_length=hashes.SHA256.digest_size),
                                    hashes.SHA256())
    raise TypeError(f"a {type(private_key).__name__} cannot sign with {method.value}")


_verifier = _RegistryXAdESVerifier()


def check_attached_signature(root: etree._Element, signature: etree._Element,
                             signed_info_c14n: bytes, certificate: x509.Certificate,
                             method: SignatureMethod) -> None:
    """Raise SigningError unless the signature, now the last child of `root`, verifies.

    This replaces parsing the serialised document again (`check_own_signature`, which
    cost as much as signing). What that re-parse established, established here:
    - the signature value verifies under the certificate's public key, over the
      SignedInfo canonicalised where it now sits in the document, with signxml's own
      verification code (so our r || s encoding is checked by an independent decoder);
    - the SignedProperties and KeyInfo digests equal the digests of those elements
      canonicalised where they now sit in the document;
    - the document reference names the whole document (URI="" or the root's Id) with the
      enveloped transform, then our C14N: its digest was taken of `root` itself just
      before the signature was appended, and that transform removes exactly that child;
    - our fixed shape: three references, each read back by URI from the final tree.
    The serialised bytes are lxml's serialisation of this very tree (the parsed document,
    unchanged, plus a signature of fixed names and ASCII values); parsing them again gives
    the same canonical forms: tests show it, and that xmlsec1, verify_signature and the
    re-parsing check_own_signature accept them, on every corpus example and on DCC shapes
    with comments, PIs, root Ids and a root-declared ds namespace.
    """
    def refuse(reason: str) -> SigningError:
        return SigningError(f"the new signature does not verify: {reason}")

    if signature.getparent() is not root or root[-1] is not signature:
        raise refuse("the signature is not the root's last child")
    signed_info = signature.find("ds:SignedInfo", namespaces=_NSMAP)
    if signed_info is None or canonical(signed_info) != signed_info_c14n:
        raise refuse("the SignedInfo changed its canonical form in the document")
    document_reference, *element_references = signed_info.findall("ds:Reference",
                                                                  namespaces=_NSMAP)
    if any(reference.find("ds:DigestMethod", namespaces=_NSMAP).get("Algorithm")
           != DIGEST_METHOD.value for reference in (document_reference, *element_references)):
        raise refuse("a reference does not state SHA-256")
    if (document_reference.get("URI") != document_uri(root) or _transforms(document_reference)
            != [_ENVELOPED, C14N_METHOD.value]):
        raise refuse("the first reference is not the enveloped whole-document reference")
    targets = {f"#{element.get('Id')}": element for element in (
        signature.find("ds:Object/xades:QualifyingProperties/xades:SignedProperties",
                       namespaces=_NSMAP),
        signature.find("ds:KeyInfo", namespaces=_NSMAP)) if element is not None}
    if sorted(reference.get("URI") or "" for reference in element_references) != sorted(
            targets) or len(targets) != 2:
        raise refuse("the other references are not SignedProperties and KeyInfo")
    for reference in element_references:
        uri = reference.get("URI") or ""
        if (_transforms(reference) != [C14N_METHOD.value]
                or reference.findtext("ds:DigestValue", namespaces=_NSMAP)
                != _digest(canonical(targets[uri]))):
            raise refuse(f"the digest of reference {uri!r} does not match")
    try:
        _verifier._verify_signature_with_pubkey(
            signed_info_c14n=signed_info_c14n,
            raw_signature=b64decode(signature.findtext("ds:SignatureValue",
                                                       namespaces=_NSMAP) or ""),
            signature_alg=method, signing_certificate=certificate)
    except (InvalidSignatureValue, SignXMLException, ValueError) as exc:
        raise refuse(f"the signature value does not verify ({type(exc).__name__})") from None


def _transforms(reference: etree._Element) -> list[str]:
    return [transform.get("Algorithm") or "" for transform in
            reference.findall("ds:Transforms/ds:Transform", namespaces=_NSMAP)]
