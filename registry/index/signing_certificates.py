"""Projection of the issuers' signing-certificate declarations into
`chain_signing_certificates`: one row per (issuer, certificate) as its latest declaration
and its withdrawal leave it. The events themselves stay in `audit_events`, which is
what a reorg replays this table from.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from anchor.chain import SigningCertificateKind
from registry.db.models import AuditEvent, ChainSigningCertificate

SIGNING_CERTIFICATE_EVENTS = frozenset({"SigningCertificateDeclared",
                                        "SigningCertificateWithdrawn"})
# uint64 periods reach far past what a database datetime holds: "forever" is 9999-12-31.
_LAST_STORABLE_SECOND = 253_402_300_799


def period_bound(seconds: int) -> dt.datetime:
    """A declaration's validFrom/validUntil as the projection stores it."""
    return dt.datetime.fromtimestamp(min(int(seconds), _LAST_STORABLE_SECOND), dt.UTC)


def kind_name(kind: int) -> str:
    return SigningCertificateKind(int(kind)).name.lower()


def _hex(value: Any) -> str:
    return str(value).lower().removeprefix("0x")


def certificate_subject(der: bytes) -> str | None:
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return None  # the contract takes any bytes; verification will match nothing on it


def apply_signing_certificate_event(session: Session, event: AuditEvent) -> None:
    """Fold one recorded SigningCertificate* event into the table."""
    args = event.args
    issuer_id, certificate_sha256 = _hex(args["issuerId"]), _hex(args["certificateHash"])
    row = session.scalar(select(ChainSigningCertificate).where(
        ChainSigningCertificate.issuer_id == issuer_id,
        ChainSigningCertificate.certificate_sha256 == certificate_sha256))
    if event.name == "SigningCertificateWithdrawn":
        if row is not None:
            row.withdrawn_block = event.block_number
            row.withdrawn_at = event.block_time
            row.withdrawn_by = args["account"]
        return
    der = bytes.fromhex(_hex(args["certificate"]))
    values = {"kind": kind_name(args["kind"]), "certificate": der,
              "subject": certificate_subject(der),
              "valid_from": period_bound(args["validFrom"]),
              "valid_until": period_bound(args["validUntil"]),
              "declared_block": event.block_number, "declared_at": event.block_time,
              "declared_by": args["account"], "declared_tx_hash": event.tx_hash}
    if row is None:
        session.add(ChainSigningCertificate(issuer_id=issuer_id,
                                            certificate_sha256=certificate_sha256, **values))
        session.flush()
    else:
        for name, value in values.items():
            setattr(row, name, value)


def replay_signing_certificates(session: Session) -> None:
    """Rebuild the table from the recorded events (after a reorg dropped some)."""
    session.execute(delete(ChainSigningCertificate))
    session.flush()
    for event in session.scalars(select(AuditEvent).where(AuditEvent.name.in_(
            SIGNING_CERTIFICATE_EVENTS)).order_by(AuditEvent.block_number, AuditEvent.log_index)):
        apply_signing_certificate_event(session, event)
