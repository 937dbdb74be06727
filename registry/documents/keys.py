"""The institute's signing identity: private key + X.509 certificate (+ chain).

Loading accepts an encrypted PKCS#8 PEM key with a PEM certificate file, or a
PKCS#12 bundle. The password comes from exactly one of: an argument, the name of
an environment variable, or a file. Neither the password nor key material ever
reaches a log line, an exception message or a repr: the key-holding dataclass
redacts itself, and loader errors are raised `from None` so the underlying
library's exception (which may quote input) is not chained either.

The generators below make TEST identities only (self-signed, or from a tiny
test CA); they are for `certreg keys` in development and for the test suite.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from anchor.files import write_private
from registry.errors import (
    ConfigurationError,
    SigningKeyError,
    SigningKeyPasswordError,
    SigningKeyPasswordMissingError,
)

SigningPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# Below 2048 bits RSA is not acceptable for new signatures (BSI TR-02102, NIST SP 800-131A).
MIN_RSA_KEY_BITS = 2048
# The brief and XAdES baseline profiles agree on P-256; other curves are refused
# rather than half-supported.
SUPPORTED_EC_CURVES = frozenset({"secp256r1"})

_ENCRYPTED_PKCS8_PEM_HEADER = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
# Every certificate certreg generates carries this organisational unit, so a verifier
# (the evidence, `certreg verify`, the page) can say it is a test signer.
TEST_IDENTITY_UNIT = "certreg TEST signing identity - not trusted"


class KeyType(StrEnum):
    EC_P256 = "ec-p256"
    RSA_3072 = "rsa-3072"


@dataclass(frozen=True)
class CertificateInfo:
    """What a person checking a signature wants to know about the certificate."""

    subject: str
    issuer: str
    serial_number: int
    sha256_fingerprint: str
    not_valid_before: dt.datetime
    not_valid_after: dt.datetime
    # A TEST identity made by certreg (`certreg keys signing new`, `certreg up`).
    test_only: bool = False

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> CertificateInfo:
        return cls(
            subject=certificate.subject.rfc4514_string(),
            issuer=certificate.issuer.rfc4514_string(),
            serial_number=certificate.serial_number,
            sha256_fingerprint=certificate.fingerprint(hashes.SHA256()).hex(),
            not_valid_before=certificate.not_valid_before_utc,
            not_valid_after=certificate.not_valid_after_utc,
            test_only=is_test_certificate(certificate),
        )


def is_test_certificate(certificate: x509.Certificate) -> bool:
    """True for a certificate certreg generated as a TEST identity (a label, not trust:
    anyone can write it into a certificate, and only trust anchors decide trust)."""
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return any(unit.value == TEST_IDENTITY_UNIT for unit in units)


@dataclass(frozen=True, repr=False, eq=False)
class SigningIdentity:
    """A private key with the certificate that carries its public key, and the issuing chain.

    `chain` is ordered from the certificate's issuer upwards and may be empty
    (self-signed certificate, or a chain the verifier already has).
    """

    private_key: SigningPrivateKey = field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        check_signing_key_supported(self.private_key)
        if _spki(self.private_key.public_key()) != _spki(self.certificate.public_key()):
            raise SigningKeyError("the private key does not belong to the signing certificate",
                                  certificate_subject=self.certificate.subject.rfc4514_string())

    @functools.cached_property
    def certificate_info(self) -> CertificateInfo:
        # Cached: every signed document reports it (a frozen dataclass still has a
        # __dict__, which is where cached_property keeps the value).
        return CertificateInfo.from_certificate(self.certificate)

    @property
    def key_description(self) -> str:
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return f"RSA-{self.private_key.key_size}"
        return f"EC-{self.private_key.curve.name}"

    def __repr__(self) -> str:
        # Never the key: this object ends up in logs, tracebacks and debugger output.
        info = self.certificate_info
        return (f"SigningIdentity(subject={info.subject!r}, "
                f"sha256_fingerprint={info.sha256_fingerprint!r}, "
                f"chain_length={len(self.chain)}, private_key=<redacted {self.key_description}>)")

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would serialise the private key in clear (e.g. into a task queue).
        raise TypeError("SigningIdentity holds a private key and is not picklable")


@dataclass(frozen=True)
class SigningIdentityFiles:
    """Where a generated identity was written. The key file and the PKCS#12 are encrypted."""

    private_key_pem: Path
    certificate_pem: Path
    pkcs12: Path


def check_signing_key_supported(private_key: object) -> None:
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < MIN_RSA_KEY_BITS:
            raise SigningKeyError(
                f"RSA key of {private_key.key_size} bits; at least {MIN_RSA_KEY_BITS} are required",
                key_bits=private_key.key_size)
        return
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name not in SUPPORTED_EC_CURVES:
            raise SigningKeyError(f"elliptic curve {private_key.curve.name} is not supported; "
                                  "use P-256 (secp256r1)", curve=private_key.curve.name)
        return
    raise SigningKeyError(f"unsupported signing key type {type(private_key).__name__}; "
                          "use RSA (>= 2048 bits) or ECDSA P-256")


def read_password(*, password: str | bytes | None = None, password_env: str | None = None,
                  password_file: Path | str | None = None) -> bytes:
    """The key password from exactly one source. Errors name the source, never the value."""
    given = [source for source in (password, password_env, password_file) if source is not None]
    if len(given) > 1:
        raise ConfigurationError("give the key password in one way only: "
                                 "argument, environment variable or file")
    if password is not None:
        secret = password.encode("utf-8") if isinstance(password, str) else bytes(password)
        source = "the password argument"
    elif password_env is not None:
        value = os.environ.get(password_env)
        if value is None:
            raise SigningKeyPasswordMissingError(
                f"environment variable {password_env} (key password) is not set", env=password_env)
        secret = value.encode("utf-8")
        source = f"environment variable {password_env}"
    elif password_file is not None:
        path = Path(password_file)
        try:
            secret = path.read_bytes()
        except OSError as exc:
            raise SigningKeyPasswordMissingError(
                f"password file {path} cannot be read: {exc.strerror}", path=str(path)) from None
        # Files written by editors and `echo` end in a newline that is not part of the password.
        secret = secret.removesuffix(b"\n").removesuffix(b"\r")
        source = f"password file {path}"
    else:
        raise SigningKeyPasswordMissingError(
            "the signing key is encrypted; give its password as an argument, "
            "an environment variable name or a file")
    if not secret:
        raise SigningKeyPasswordMissingError(f"{source} is empty")
    return secret


def load_signing_identity_from_pem(
    key_path: Path | str,
    certificate_path: Path | str,
    *,
    password: str | bytes | None = None,
    password_env: str | None = None,
    password_file: Path | str | None = None,
    allow_unencrypted_key: bool = False,
) -> SigningIdentity:
    """Load an encrypted PKCS#8 PEM key and a PEM certificate file.

    The certificate file holds the signing certificate first, then optionally
    its issuing chain. An unencrypted key is refused unless explicitly allowed:
    an institute's signing key does not sit on disk in clear.
    """
    key_path, certificate_path = Path(key_path), Path(certificate_path)
    key_pem = _read_file(key_path, "private key")
    certificates = _load_pem_certificates(certificate_path)
    encrypted = _ENCRYPTED_PKCS8_PEM_HEADER in key_pem
    if not encrypted and not allow_unencrypted_key:
        raise SigningKeyError(f"private key {key_path} is not an encrypted PKCS#8 PEM "
                              "(-----BEGIN ENCRYPTED PRIVATE KEY-----)", path=str(key_path))
    secret = (read_password(password=password, password_env=password_env,
                            password_file=password_file) if encrypted else None)
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=secret)
    except ValueError:
        if encrypted:
            # OpenSSL cannot tell a wrong password from a damaged ciphertext; the
            # PEM framing parsed, so the password is by far the likelier cause.
            raise SigningKeyPasswordError(
                f"the password does not decrypt private key {key_path}",
                path=str(key_path)) from None
        raise SigningKeyError(f"private key {key_path} is not a readable PEM private key",
                              path=str(key_path)) from None
    except (TypeError, UnsupportedAlgorithm):
        raise SigningKeyError(f"private key {key_path} cannot be loaded "
                              "(unsupported or inconsistent encryption)",
                              path=str(key_path)) from None
    return _identity(private_key, certificates[0], tuple(certificates[1:]), origin=key_path)


def load_signing_identity_from_pkcs12(
    pkcs12_path: Path | str,
    *,
    password: str | bytes | None = None,
    password_env: str | None = None,
    password_file: Path | str | None = None,
) -> SigningIdentity:
    """Load key, certificate and chain from a password-protected PKCS#12 (.p12/.pfx) file."""
    pkcs12_path = Path(pkcs12_path)
    data = _read_file(pkcs12_path, "PKCS#12 file")
    secret = read_password(password=password, password_env=password_env,
                           password_file=password_file)
    try:
        private_key, certificate, additional = pkcs12.load_key_and_certificates(data, secret)
    except ValueError:
        if _looks_like_der_sequence(data):
            raise SigningKeyPasswordError(
                f"the password does not open PKCS#12 file {pkcs12_path}",
                path=str(pkcs12_path)) from None
        raise SigningKeyError(f"{pkcs12_path} is not a PKCS#12 file",
                              path=str(pkcs12_path)) from None
    except UnsupportedAlgorithm:
        raise SigningKeyError(f"PKCS#12 file {pkcs12_path} uses an unsupported algorithm",
                              path=str(pkcs12_path)) from None
    if private_key is None or certificate is None:
        raise SigningKeyError(
            f"PKCS#12 file {pkcs12_path} must hold a private key and its certificate",
            path=str(pkcs12_path))
    return _identity(private_key, certificate, tuple(additional), origin=pkcs12_path)


def create_test_certificate_authority(
    common_name: str, organization: str, country: str, *, key_type: KeyType = KeyType.EC_P256,
    valid_for: dt.timedelta = dt.timedelta(days=3650),
) -> SigningIdentity:
    """A throw-away root CA, for chain-verification tests. Never for real certificates."""
    private_key = _generate_private_key(key_type)
    name = _test_name(common_name, organization, country)
    now = dt.datetime.now(dt.UTC)
    builder = (
        _base_builder(name, name, private_key.public_key(), now, valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(certificate_signing=True), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(private_key.public_key()),
                       critical=False)
    )
    certificate = builder.sign(private_key, hashes.SHA256())
    return SigningIdentity(private_key=private_key, certificate=certificate)


def create_test_signing_identity(
    common_name: str, organization: str, country: str, *, key_type: KeyType = KeyType.EC_P256,
    issuer: SigningIdentity | None = None, valid_for: dt.timedelta = dt.timedelta(days=365),
    not_valid_before: dt.datetime | None = None,
) -> SigningIdentity:
    """A TEST signing certificate and key in memory: self-signed, or issued by `issuer` (a test CA).

    Extensions are what a document-signing certificate carries: KeyUsage
    digitalSignature + nonRepudiation (critical), not a CA, subject and authority
    key identifiers.
    """
    private_key = _generate_private_key(key_type)
    subject = _test_name(common_name, organization, country)
    start = not_valid_before or dt.datetime.now(dt.UTC)
    if issuer is None:
        issuer_name, issuer_key, chain = subject, private_key, ()
        issuer_public_key = private_key.public_key()
    else:
        issuer_name, issuer_key = issuer.certificate.subject, issuer.private_key
        issuer_public_key = issuer.certificate.public_key()
        chain = (issuer.certificate, *issuer.chain)
    builder = (
        _base_builder(subject, issuer_name, private_key.public_key(), start, valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(certificate_signing=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key),
                       critical=False)
    )
    certificate = builder.sign(issuer_key, hashes.SHA256())
    return SigningIdentity(private_key=private_key, certificate=certificate, chain=chain)


def write_signing_identity(identity: SigningIdentity, out_dir: Path | str, stem: str,
                           password: str | bytes) -> SigningIdentityFiles:
    """Write key (encrypted PKCS#8 PEM, mode 0600), certificate(s) PEM and an encrypted PKCS#12."""
    secret = password.encode("utf-8") if isinstance(password, str) else bytes(password)
    if not secret:
        raise SigningKeyPasswordMissingError("refusing to write a signing key without a password")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = SigningIdentityFiles(private_key_pem=out_dir / f"{stem}.key.pem",
                                 certificate_pem=out_dir / f"{stem}.cert.pem",
                                 pkcs12=out_dir / f"{stem}.p12")
    key_pem = identity.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret))
    write_private(files.private_key_pem, key_pem)
    files.certificate_pem.write_bytes(b"".join(
        cert.public_bytes(serialization.Encoding.PEM)
        for cert in (identity.certificate, *identity.chain)))
    # PBES2/AES-256 + SHA-256 MAC: modern OpenSSL refuses the legacy 3DES/RC2 PKCS#12 defaults.
    pkcs12_encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(200_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(secret))
    write_private(files.pkcs12, pkcs12.serialize_key_and_certificates(
        name=stem.encode("utf-8"), key=identity.private_key, cert=identity.certificate,
        cas=list(identity.chain) or None, encryption_algorithm=pkcs12_encryption))
    return files


def generate_test_signing_identity(
    common_name: str, organization: str, country: str, out_dir: Path | str, password: str | bytes,
    *, key_type: KeyType = KeyType.EC_P256, issuer: SigningIdentity | None = None,
) -> SigningIdentityFiles:
    """Generate a TEST signing certificate + encrypted key and write them to `out_dir`."""
    identity = create_test_signing_identity(common_name, organization, country,
                                            key_type=key_type, issuer=issuer)
    stem = re.sub(r"[^A-Za-z0-9]+", "-", common_name).strip("-").lower() or "signing"
    return write_signing_identity(identity, out_dir, stem, password)


# --- internals -------------------------------------------------------------------------------

def _identity(private_key: object, certificate: x509.Certificate,
              chain: tuple[x509.Certificate, ...], *, origin: Path) -> SigningIdentity:
    check_signing_key_supported(private_key)
    assert isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    try:
        return SigningIdentity(private_key=private_key, certificate=certificate, chain=chain)
    except SigningKeyError as exc:
        raise SigningKeyError(f"{origin}: {exc.message}", path=str(origin)) from None


def _read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"{what} {path} cannot be read: {exc.strerror}",
                              path=str(path)) from None


def _load_pem_certificates(path: Path) -> list[x509.Certificate]:
    data = _read_file(path, "certificate file")
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise SigningKeyError(f"certificate file {path} holds no readable PEM certificate",
                              path=str(path)) from None
    return certificates


def _looks_like_der_sequence(data: bytes) -> bool:
    """True if `data` is framed as one DER SEQUENCE, as every PKCS#12 file is."""
    if len(data) < 2 or data[0] != 0x30:
        return False
    length_byte = data[1]
    if length_byte < 0x80:
        return 2 + length_byte == len(data)
    count = length_byte & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return False
    return 2 + count + int.from_bytes(data[2:2 + count], "big") == len(data)


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _generate_private_key(key_type: KeyType) -> SigningPrivateKey:
    if key_type is KeyType.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def _test_name(common_name: str, organization: str, country: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, country),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TEST_IDENTITY_UNIT),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _base_builder(subject: x509.Name, issuer: x509.Name, public_key: object,
                  not_valid_before: dt.datetime,
                  valid_for: dt.timedelta) -> x509.CertificateBuilder:
    # Backdate a minute so a certificate made just now is valid on a machine whose clock lags.
    start = not_valid_before - dt.timedelta(minutes=1)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),  # type: ignore[arg-type]
                       critical=False)
    )


def _key_usage(*, certificate_signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not certificate_signing,
        content_commitment=not certificate_signing,  # a.k.a. nonRepudiation
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        key_cert_sign=certificate_signing, crl_sign=certificate_signing,
        encipher_only=False, decipher_only=False,
    )
