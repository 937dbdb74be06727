"""The arguments and views of `certreg issuer declare-signer|withdraw-signer` and
`certreg govern propose declare-signer|withdraw-signer` (registered by registry.cli.chain).

A declaration names a certificate by the SHA-256 of its DER and holds for a period,
by default the certificate's own validity; `--ca` declares a CA the issuer's signing
certificates are issued by instead of one signing certificate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from anchor.chain import (
    GovernanceAction,
    SigningCertificateKind,
    SigningCertificateRecord,
    issuer_id_from_name,
)
from registry.errors import SigningCertificateFileError

_UINT64_MAX = 2**64 - 1


def add_declare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--certificate", type=Path, required=True,
                        help="the X.509 certificate, PEM or DER")
    parser.add_argument("--ca", action="store_true",
                        help="a CA: every certificate it issued signs for the issuer")
    parser.add_argument("--valid-from", type=moment_argument,
                        help="YYYY-MM-DD or ISO 8601 time, UTC unless given "
                             "(default: the certificate's notBefore)")
    parser.add_argument("--valid-until", type=moment_argument,
                        help="as --valid-from, inclusive (default: the certificate's notAfter)")


def add_withdraw_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--certificate", type=Path, help="the declared certificate, PEM or DER")
    which.add_argument("--sha256", help="SHA-256 of the declared certificate's DER (64 hex)")


def moment_argument(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a date YYYY-MM-DD or an ISO 8601 time") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def load_certificate(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningCertificateFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise SigningCertificateFileError(f"{path} holds no X.509 certificate") from None


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _seconds(moment: dt.datetime) -> int:
    return max(0, min(int(moment.timestamp()), _UINT64_MAX))


def declaration(args: argparse.Namespace) -> tuple[bytes, bytes, SigningCertificateKind,
                                                   int, int]:
    """(issuer id, DER, kind, validFrom, validUntil) from the declare arguments."""
    certificate = load_certificate(args.certificate)
    valid_from = args.valid_from or certificate.not_valid_before_utc
    valid_until = args.valid_until or certificate.not_valid_after_utc
    if valid_until < valid_from:
        raise SigningCertificateFileError(
            f"the period ends ({valid_until.isoformat()}) before it starts "
            f"({valid_from.isoformat()})")
    if args.ca:
        try:
            is_ca = certificate.extensions.get_extension_for_class(
                x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise SigningCertificateFileError(
                f"{args.certificate} is not a CA certificate (no basicConstraints CA)")
    kind = SigningCertificateKind.AUTHORITY if args.ca else SigningCertificateKind.SIGNER
    return (issuer_id_from_name(args.issuer), _der(certificate), kind, _seconds(valid_from),
            _seconds(valid_until))


def withdrawal(args: argparse.Namespace) -> tuple[bytes, bytes]:
    """(issuer id, certificate hash) from the withdraw arguments."""
    if args.certificate is not None:
        certificate_hash = hashlib.sha256(_der(load_certificate(args.certificate))).digest()
    else:
        text = args.sha256.lower().removeprefix("0x")
        try:
            certificate_hash = bytes.fromhex(text)
        except ValueError:
            certificate_hash = b""
        if len(certificate_hash) != 32:
            raise SigningCertificateFileError("--sha256 takes 64 hex digits")
    return issuer_id_from_name(args.issuer), certificate_hash


def declare_action(args: argparse.Namespace) -> GovernanceAction:
    return GovernanceAction.declare_signing_certificate(*declaration(args))


def withdraw_action(args: argparse.Namespace) -> GovernanceAction:
    return GovernanceAction.withdraw_signing_certificate(*withdrawal(args))


def _time(seconds: int) -> str:
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return "never"


def record_view(record: SigningCertificateRecord) -> dict:
    return {"certificate_sha256": record.certificate_hash.hex(),
            "kind": record.kind.name.lower(), "valid_from": _time(record.valid_from),
            "valid_until": _time(record.valid_until),
            "withdrawn_at": _time(record.withdrawn_at) if record.withdrawn_at else None}


def record_line(view: dict) -> str:
    withdrawn = f", withdrawn {view['withdrawn_at']}" if view["withdrawn_at"] else ""
    return (f"  {view['kind']} {view['certificate_sha256']}: {view['valid_from']} to "
            f"{view['valid_until']}{withdrawn}")
