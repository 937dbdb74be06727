"""XMLDSig/XAdES structure shared by signing and verification.

The namespaces, accepted algorithms and the tree-level helpers both sides use:
signxml's signer and verifier as we configure them, C14N and reference digests by
algorithm URI, the reference-shape checks against signature wrapping, and reading
the signer's certificate and claimed SigningTime out of a ds:Signature. Nothing here
decides a verdict; registry.documents.signature_verification does.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from base64 import b64decode, b64encode
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.util import add_pem_header
from signxml.xades import (
    XAdESSigner,
    XAdESVerifier,
)

from registry.errors import SigningError

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
_EXCLUSIVE_C14N_PREFIX = "http://www.w3.org/2001/10/xml-exc-c14n#"
# XPath Filter 2.0 "subtract every ds:Signature" is what some DCC tools (DSS) write
# instead of the enveloped transform; with exactly one signature it is the same.
_FILTER2_SUBTRACT_SIGNATURES = "/descendant::ds:Signature"



class _StructureError(Exception):
    """A signature shape we refuse before any cryptography runs."""


class _FixedTimeXAdESSigner(XAdESSigner):
    """signxml's XAdES signer stamps `now()`; we need the time we report and validate against."""

    def __init__(self, signing_time: dt.datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._signing_time = signing_time

    def get_root(self, data: Any) -> Any:
        # signxml copies what it signs through a serialise/parse round trip, twice per
        # document, so that namespaces inherited from ancestors cannot change the C14N.
        # A document root has no ancestors: lxml's deepcopy of it is the same tree at a
        # third of the cost (tests compare the signed bytes of both ways).
        if isinstance(data, etree._Element) and data.getparent() is None:
            return copy.deepcopy(data)
        return super().get_root(data)

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

    def __init__(self, *, validity_judged_by_chain: bool = False) -> None:
        super().__init__()
        self._validity_judged_by_chain = validity_judged_by_chain

    def _check_cert_validity(self, cert: x509.Certificate, cert_source: str) -> None:
        # With trust anchors, signer_trust checks every certificate's validity at the
        # signing time and reports it as the signer being untrusted, with the dates.
        if not self._validity_judged_by_chain:
            super()._check_cert_validity(cert, cert_source)

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


def _algorithm_of(parent: etree._Element, path: str) -> str:
    element = parent.find(path, namespaces=_NS)
    algorithm = element.get("Algorithm") if element is not None else None
    if algorithm is None:
        raise SigningError(f"{path} states no algorithm")
    return algorithm


def _c14n_by_uri(element: etree._Element, algorithm_uri: str) -> bytes:
    method = CanonicalizationMethod(algorithm_uri)
    return etree.tostring(element, method="c14n",
                          exclusive=method.value.startswith(_EXCLUSIVE_C14N_PREFIX),
                          with_comments=method.value.endswith("#WithComments"))


def _check_reference_digest(reference: etree._Element, canonical: bytes) -> None:
    method = DigestAlgorithm(_algorithm_of(reference, "ds:DigestMethod"))
    if method not in ACCEPTED_DIGEST_ALGORITHMS:
        raise SigningError(f"digest method {method.value} is not accepted")
    expected = b64decode(reference.findtext("ds:DigestValue", namespaces=_NS) or "")
    if hashlib.new(method.name.lower(), canonical).digest() != expected:
        raise SigningError(f"the digest of reference {reference.get('URI')!r} does not match")


def _hardened_parser() -> etree.XMLParser:
    # signxml re-parses copies internally; give it the same refusals as parse_xml.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False)



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
