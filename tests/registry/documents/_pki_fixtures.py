"""A throw-away PKI for the signer-trust tests: a root and an issuing CA that issue
document-signing certificates, revoke them, answer OCSP and publish CRLs; and a helper
that turns a XAdES-BES document into an XAdES-X-L-style one by adding the unsigned
`xades:CertificateValues` and `xades:RevocationValues` (ETSI EN 319 132-1, 5.5).
"""

from __future__ import annotations

import datetime as dt
from base64 import b64encode
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree

from registry.documents.keys import SigningIdentity
from registry.documents.signer_revocation import SignerRevocationStatus
from registry.documents.signer_trust import SignerTrust, TrustAnchors
from registry.documents.signing import SignatureStatus, sign_document, verify_signature

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SIGNED_AT = EPOCH + dt.timedelta(days=30)  # when the tests' documents are signed
AFTER_SIGNING = SIGNED_AT + dt.timedelta(minutes=5)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certreg test PKI"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, ca: bool, signing: bool = True) -> x509.KeyUsage:
    signs_documents = signing and not ca
    return x509.KeyUsage(digital_signature=signs_documents, content_commitment=signs_documents,
                         key_encipherment=not signing, data_encipherment=False,
                         key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                 issuer_key: ec.EllipticCurvePrivateKey, not_before: dt.datetime,
                 not_after: dt.datetime, *, ca: bool, path_length: int | None = None,
                 key_usage: x509.KeyUsage | bool | None = None,
                 eku: list[x509.ObjectIdentifier] | None = None) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_key.public_key()), critical=False))
    if key_usage is not False:  # False: a certificate without KeyUsage
        builder = builder.add_extension(key_usage or _key_usage(ca=ca), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class IssuingCA:
    """A CA that issues, revokes, and answers about its certificates."""

    name: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # up to, and including, the root
    revoked: dict[int, tuple[dt.datetime, x509.ReasonFlags]] = field(default_factory=dict)
    responder_id_by_name: bool = False

    def issue_signer(self, common_name: str, *, not_before: dt.datetime = EPOCH,
                     not_after: dt.datetime = EPOCH + dt.timedelta(days=365),
                     key_usage: x509.KeyUsage | bool | None = None,
                     eku: list[x509.ObjectIdentifier] | None = None,
                     with_chain: bool = True) -> SigningIdentity:
        """A document-signing identity; `with_chain` puts the CA certificates in KeyInfo."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(common_name, key, self.certificate.subject, self.key,
                                   not_before, not_after, ca=False, key_usage=key_usage, eku=eku)
        return SigningIdentity(private_key=key, certificate=certificate,
                               chain=self.chain if with_chain else ())

    def issue_subordinate(self, common_name: str, *, not_before: dt.datetime = EPOCH,
                          not_after: dt.datetime = EPOCH + dt.timedelta(days=3650)) -> IssuingCA:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(common_name, key, self.certificate.subject, self.key,
                                   not_before, not_after, ca=True, path_length=0)
        return IssuingCA(common_name, key, certificate, (certificate, *self.chain))

    def delegated_responder(self, *, ocsp_signing: bool = True) -> tuple[
            ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(f"{self.name} OCSP responder", key, self.certificate.subject,
                                   self.key, EPOCH, EPOCH + dt.timedelta(days=3650), ca=False,
                                   eku=[ExtendedKeyUsageOID.OCSP_SIGNING if ocsp_signing
                                        else ExtendedKeyUsageOID.CLIENT_AUTH])
        return key, certificate

    def impostor(self) -> IssuingCA:
        """Someone else's key under this CA's name: what a forger of its answers has."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (x509.CertificateBuilder().subject_name(self.certificate.subject)
                       .issuer_name(self.certificate.subject).public_key(key.public_key())
                       .serial_number(x509.random_serial_number()).not_valid_before(EPOCH)
                       .not_valid_after(EPOCH + dt.timedelta(days=3650))
                       .sign(key, hashes.SHA256()))
        return IssuingCA(self.name, key, certificate, (certificate,), responder_id_by_name=True)

    def revoke(self, certificate: x509.Certificate, at: dt.datetime,
               reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise) -> None:
        self.revoked[certificate.serial_number] = (at, reason)

    def ocsp_response(self, certificate: x509.Certificate, this_update: dt.datetime, *,
                      responder: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None,
                      next_update: dt.timedelta = dt.timedelta(days=7)) -> bytes:
        """DER OCSPResponse about `certificate`, signed by this CA or `responder`."""
        revoked = self.revoked.get(certificate.serial_number)
        status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
        key, responder_certificate = responder or (self.key, self.certificate)
        builder = (ocsp.OCSPResponseBuilder()
                   .add_response(cert=certificate, issuer=self.certificate,
                                 algorithm=hashes.SHA256(), cert_status=status,
                                 this_update=this_update, next_update=this_update + next_update,
                                 revocation_time=revoked[0] if revoked else None,
                                 revocation_reason=revoked[1] if revoked else None)
                   .responder_id(ocsp.OCSPResponderEncoding.NAME if self.responder_id_by_name
                                 else ocsp.OCSPResponderEncoding.HASH, responder_certificate))
        if responder is not None:
            builder = builder.certificates([responder_certificate])
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def crl(self, this_update: dt.datetime, *, next_update: dt.timedelta = dt.timedelta(days=7),
            signing_key: ec.EllipticCurvePrivateKey | None = None,
            only_ca_certificates: bool = False) -> bytes:
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.certificate.subject)
                   .last_update(this_update).next_update(this_update + next_update))
        if only_ca_certificates:
            builder = builder.add_extension(x509.IssuingDistributionPoint(
                full_name=None, relative_name=None, only_contains_user_certs=False,
                only_contains_ca_certs=True, only_some_reasons=None, indirect_crl=False,
                only_contains_attribute_certs=False), critical=True)
        for serial, (at, reason) in self.revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(at)
                .add_extension(x509.CRLReason(reason), critical=False).build())
        crl = builder.sign(signing_key or self.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class CertificateHierarchy:
    root: IssuingCA  # its certificate is the trust anchor
    issuing: IssuingCA

    @property
    def anchor(self) -> x509.Certificate:
        return self.root.certificate


def create_test_pki(name: str = "certreg Test", *, not_before: dt.datetime = EPOCH,
                    not_after: dt.datetime = EPOCH + dt.timedelta(days=3650)
                    ) -> CertificateHierarchy:
    """A root CA (the trust anchor) and an issuing CA below it."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{name} Root CA")
    root_certificate = _certificate(f"{name} Root CA", root_key, root_name, root_key,
                                    not_before - dt.timedelta(days=365),
                                    not_after + dt.timedelta(days=3650), ca=True, path_length=1)
    root = IssuingCA(f"{name} Root CA", root_key, root_certificate, (root_certificate,))
    issuing = root.issue_subordinate(f"{name} Issuing CA", not_before=not_before,
                                     not_after=not_after)
    return CertificateHierarchy(root, issuing)


def with_validation_data(signed: bytes, *, certificates: Sequence[x509.Certificate] = (),
                         ocsp_responses: Sequence[bytes] = (),
                         crls: Sequence[bytes] = ()) -> bytes:
    """`signed` with xades:UnsignedProperties carrying the given validation data.

    The unsigned properties sit outside what the signature covers (the document
    reference removes the whole ds:Signature, SignedProperties is referenced by Id),
    so the signature still verifies: what XAdES-X-L / baseline-LT augmentation does.
    """
    root = etree.fromstring(signed)
    qualifying = root.find(f"{{{DS_NS}}}Signature/{{{DS_NS}}}Object/"
                           f"{{{XADES_NS}}}QualifyingProperties")
    assert qualifying is not None, "not a XAdES signature"

    def element(parent: etree._Element, name: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{XADES_NS}}}{name}")

    unsigned = element(element(qualifying, "UnsignedProperties"), "UnsignedSignatureProperties")
    if certificates:
        values = element(unsigned, "CertificateValues")
        for certificate in certificates:
            element(values, "EncapsulatedX509Certificate").text = b64encode(
                certificate.public_bytes(serialization.Encoding.DER)).decode()
    if ocsp_responses or crls:
        revocation = element(unsigned, "RevocationValues")
        # The schema's order: CRLValues, then OCSPValues.
        if crls:
            crl_values = element(revocation, "CRLValues")
            for der in crls:
                element(crl_values, "EncapsulatedCRLValue").text = b64encode(der).decode()
        if ocsp_responses:
            ocsp_values = element(revocation, "OCSPValues")
            for der in ocsp_responses:
                element(ocsp_values, "EncapsulatedOCSPValue").text = b64encode(der).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def write_anchor(certificate: x509.Certificate, path: Path) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def signed_by(document: bytes, signer: SigningIdentity,
                           **validation: Sequence[object]) -> bytes:
    """`document` signed at SIGNED_AT, with `with_validation_data(**validation)` if given."""
    signed = sign_document(document, signer, signing_time=SIGNED_AT).data
    return with_validation_data(signed, **validation) if validation else signed  # type: ignore[arg-type]


def trust_of(document: bytes, anchors: TrustAnchors | None) -> SignerTrust:
    """The signer trust of a document whose signature itself verifies."""
    verdict = verify_signature(document, anchors=anchors)
    assert verdict.status is SignatureStatus.VALID, verdict.reason
    assert verdict.signer_trust is not None
    return verdict.signer_trust


def revocation_status(trust: SignerTrust) -> SignerRevocationStatus | None:
    return trust.revocation.status if trust.revocation is not None else None
