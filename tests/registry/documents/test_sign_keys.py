"""Loading and generating signing identities for XAdES signing; secrets never leak."""

from __future__ import annotations

import pickle
import stat
import traceback
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from registry.documents.keys import (
    KeyType,
    SigningIdentity,
    SigningIdentityFiles,
    create_test_certificate_authority,
    create_test_signing_identity,
    generate_test_signing_identity,
    load_signing_identity_from_pem,
    load_signing_identity_from_pkcs12,
    write_signing_identity,
)
from registry.errors import ConfigurationError, SigningKeyError

PASSWORD = "correct horse battery staple 7"
WRONG_PASSWORD = "Tr0ub4dor&3-not-it"


@pytest.fixture(scope="module", params=list(KeyType))
def generated(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> SigningIdentityFiles:
    return generate_test_signing_identity("Thermometry Lab", "Test NMI", "DE",
                                          tmp_path_factory.mktemp("keys"), PASSWORD,
                                          key_type=request.param)


def _leaked(error: BaseException, secrets: list[str]) -> list[str]:
    """Secrets that show up anywhere a user or a log could see the error."""
    rendered = "".join(traceback.format_exception(error)) + repr(error) + repr(
        getattr(error, "details", ""))
    return [secret for secret in secrets if secret in rendered]


def _private_numbers_text(identity: SigningIdentity) -> list[str]:
    key = identity.private_key
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        values = [numbers.d, numbers.p, numbers.q]
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        values = [key.private_numbers().private_value]
    return [text for value in values for text in (str(value), format(value, "x"))]


# --- loading ----------------------------------------------------------------------------------

def test_pem_key_with_password_argument(generated: SigningIdentityFiles) -> None:
    identity = load_signing_identity_from_pem(generated.private_key_pem,
                                              generated.certificate_pem, password=PASSWORD)
    on_disk = x509.load_pem_x509_certificate(generated.certificate_pem.read_bytes())
    assert identity.certificate == on_disk


def test_password_from_environment_variable(generated: SigningIdentityFiles,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTREG_TEST_KEY_PASSWORD", PASSWORD)
    identity = load_signing_identity_from_pkcs12(generated.pkcs12,
                                                 password_env="CERTREG_TEST_KEY_PASSWORD")
    assert identity.certificate_info.subject.startswith("CN=Thermometry Lab")


def test_password_from_file_ignores_the_trailing_newline(generated: SigningIdentityFiles,
                                                         tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    identity = load_signing_identity_from_pem(generated.private_key_pem,
                                              generated.certificate_pem,
                                              password_file=password_file)
    assert identity.certificate == x509.load_pem_x509_certificate(
        generated.certificate_pem.read_bytes())


def test_pkcs12_carries_the_chain(tmp_path: Path) -> None:
    ca = create_test_certificate_authority("Test NMI Root CA", "Test NMI", "DE")
    files = generate_test_signing_identity("Length Lab", "Test NMI", "DE", tmp_path, PASSWORD,
                                           issuer=ca)
    from_pkcs12 = load_signing_identity_from_pkcs12(files.pkcs12, password=PASSWORD)
    from_pem = load_signing_identity_from_pem(files.private_key_pem, files.certificate_pem,
                                              password=PASSWORD)
    assert from_pkcs12.chain == (ca.certificate,)
    assert from_pem.chain == (ca.certificate,)
    assert from_pkcs12.certificate.issuer == ca.certificate.subject


@pytest.mark.parametrize("container", ["pem", "pkcs12"])
def test_wrong_password_has_a_clear_code_and_no_secret(generated: SigningIdentityFiles,
                                                       container: str) -> None:
    with pytest.raises(SigningKeyError) as raised:
        if container == "pem":
            load_signing_identity_from_pem(generated.private_key_pem,
                                           generated.certificate_pem, password=WRONG_PASSWORD)
        else:
            load_signing_identity_from_pkcs12(generated.pkcs12, password=WRONG_PASSWORD)
    assert raised.value.code == "signing-key-password-wrong"
    assert _leaked(raised.value, [WRONG_PASSWORD, PASSWORD]) == []


def test_missing_password_names_the_source_not_the_value(generated: SigningIdentityFiles,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTREG_UNSET_PASSWORD_VAR", raising=False)
    with pytest.raises(SigningKeyError) as raised:
        load_signing_identity_from_pem(generated.private_key_pem, generated.certificate_pem,
                                       password_env="CERTREG_UNSET_PASSWORD_VAR")
    assert raised.value.code == "signing-key-password-missing"
    assert "CERTREG_UNSET_PASSWORD_VAR" in raised.value.message

    with pytest.raises(SigningKeyError) as raised:
        load_signing_identity_from_pkcs12(generated.pkcs12)
    assert raised.value.code == "signing-key-password-missing"


def test_two_password_sources_are_ambiguous(generated: SigningIdentityFiles,
                                            tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_signing_identity_from_pkcs12(generated.pkcs12, password=PASSWORD,
                                          password_file=tmp_path / "password")


def test_unencrypted_key_is_refused_unless_allowed(tmp_path: Path) -> None:
    identity = create_test_signing_identity("Clear Lab", "Test NMI", "DE")
    key_path = tmp_path / "clear.key.pem"
    key_path.write_bytes(identity.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    cert_path = tmp_path / "clear.cert.pem"
    cert_path.write_bytes(identity.certificate.public_bytes(serialization.Encoding.PEM))

    with pytest.raises(SigningKeyError) as raised:
        load_signing_identity_from_pem(key_path, cert_path, password=PASSWORD)
    assert raised.value.code == "signing-key-invalid"
    assert _leaked(raised.value, _private_numbers_text(identity)) == []
    loaded = load_signing_identity_from_pem(key_path, cert_path, allow_unencrypted_key=True)
    assert loaded.certificate == identity.certificate


def test_key_that_does_not_match_the_certificate(tmp_path: Path) -> None:
    mine = create_test_signing_identity("Lab One", "Test NMI", "DE")
    theirs = create_test_signing_identity("Lab Two", "Test NMI", "DE")
    files = write_signing_identity(mine, tmp_path, "mine", PASSWORD)
    (tmp_path / "theirs.cert.pem").write_bytes(
        theirs.certificate.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(SigningKeyError) as raised:
        load_signing_identity_from_pem(files.private_key_pem, tmp_path / "theirs.cert.pem",
                                       password=PASSWORD)
    assert raised.value.code == "signing-key-invalid"
    assert "does not belong" in raised.value.message


def test_weak_rsa_key_is_refused() -> None:
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    some_certificate = create_test_signing_identity("Lab", "Test NMI", "DE").certificate
    with pytest.raises(SigningKeyError) as raised:
        SigningIdentity(private_key=weak_key, certificate=some_certificate)
    assert "1024" in raised.value.message


def test_not_a_pkcs12_file_is_not_reported_as_a_wrong_password(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.p12"
    bogus.write_bytes(b"this is not DER at all")
    with pytest.raises(SigningKeyError) as raised:
        load_signing_identity_from_pkcs12(bogus, password=PASSWORD)
    assert raised.value.code == "signing-key-invalid"


# --- redaction --------------------------------------------------------------------------------

@pytest.mark.parametrize("key_type", list(KeyType))
def test_identity_repr_redacts_the_key(key_type: KeyType) -> None:
    identity = create_test_signing_identity("Repr Lab", "Test NMI", "DE", key_type=key_type)
    pem_body = identity.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode().splitlines()[1]
    for text in (repr(identity), str(identity), f"{identity!r}", repr([identity])):
        assert "redacted" in text and "Repr Lab" in text
        for secret in [*_private_numbers_text(identity), pem_body]:
            assert secret not in text
    with pytest.raises(TypeError):
        pickle.dumps(identity)


# --- generated test identities ----------------------------------------------------------------

def test_generated_files_are_encrypted_and_private(generated: SigningIdentityFiles) -> None:
    key_pem = generated.private_key_pem.read_bytes()
    assert key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    for secret_file in (generated.private_key_pem, generated.pkcs12):
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert PASSWORD.encode() not in secret_file.read_bytes()


def test_generated_certificate_is_fit_for_document_signing(
        generated: SigningIdentityFiles) -> None:
    identity = load_signing_identity_from_pem(generated.private_key_pem,
                                              generated.certificate_pem, password=PASSWORD)
    certificate = identity.certificate
    key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical
    assert key_usage.value.digital_signature and key_usage.value.content_commitment
    assert not key_usage.value.key_cert_sign
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    subject_key_id = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert subject_key_id.value == x509.SubjectKeyIdentifier.from_public_key(
        identity.private_key.public_key())
    assert certificate.subject == certificate.issuer  # self-signed test identity
    assert "TEST" in certificate.subject.rfc4514_string()

