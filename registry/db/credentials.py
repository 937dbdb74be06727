"""API credentials: bearer tokens that let one issuer use the issuance API.

A token is 256 random bits, shown to its owner once when it is created. The database
keeps only its SHA-256: a stolen database (or backup) gives no usable token, and since
the token is uniformly random a plain hash is enough (nothing to brute-force, unlike a
password). Looking a token up by its hash also means no secret is ever compared
character by character, so response times tell a guesser nothing.

Every credential belongs to exactly one issuer, fixed at creation. Revocation is a
timestamp (the row stays, for the audit trail) and is immediate: each request looks
the credential up again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field

from sqlalchemy import Index, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from registry.db.engine import transaction
from registry.db.models import HASH_HEX, Base, UtcDateTime, utc_now
from registry.errors import CredentialNotFoundError

# Recognisable in logs, configuration files and secret scanners; never part of the hash
# lookup's secrecy (the 43 characters after it are).
TOKEN_PREFIX = "certreg_"
TOKEN_RANDOM_BYTES = 32


class ApiCredential(Base):
    """One issuer's API credential. Holds the token's SHA-256, never the token."""

    __tablename__ = "api_credentials"
    __table_args__ = (Index("ix_api_credentials_issuer", "issuer_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(HASH_HEX), unique=True)
    issuer_id: Mapped[str] = mapped_column(String(HASH_HEX))  # bytes32 hex, no 0x
    issuer_code: Mapped[str] = mapped_column(String(64))  # for people: "PTB"
    label: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class Credential:
    """What the API and the CLI know about a credential (no token, no hash)."""

    id: int
    issuer_id: str
    issuer_code: str
    label: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class CreatedCredential:
    credential: Credential
    # The only time the token exists outside its owner's hands; repr hides it.
    token: str = field(repr=False)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _credential(row: ApiCredential) -> Credential:
    return Credential(row.id, row.issuer_id, row.issuer_code, row.label, row.created_at,
                      row.revoked_at)


def create_credential(sessions: sessionmaker[Session], issuer_id: bytes, issuer_code: str,
                      label: str | None = None) -> CreatedCredential:
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)
    row = ApiCredential(token_sha256=token_sha256(token), issuer_id=issuer_id.hex(),
                        issuer_code=issuer_code, label=label)
    with transaction(sessions) as session:
        session.add(row)
        session.flush()
        created = _credential(row)
    return CreatedCredential(created, token)


def authenticate(sessions: sessionmaker[Session], token: str) -> Credential | None:
    """The active credential this token belongs to; None if unknown or revoked."""
    with sessions() as session:
        row = session.scalars(select(ApiCredential).where(
            ApiCredential.token_sha256 == token_sha256(token),
            ApiCredential.revoked_at.is_(None))).first()
        return None if row is None else _credential(row)


def list_credentials(sessions: sessionmaker[Session],
                     issuer_id: bytes | None = None) -> list[Credential]:
    query = select(ApiCredential).order_by(ApiCredential.id)
    if issuer_id is not None:
        query = query.where(ApiCredential.issuer_id == issuer_id.hex())
    with sessions() as session:
        return [_credential(row) for row in session.scalars(query)]


def revoke_credential(sessions: sessionmaker[Session], credential_id: int) -> Credential:
    """Revoke now (idempotent: revoking again keeps the first revocation time)."""
    with transaction(sessions) as session:
        session.execute(update(ApiCredential).where(
            ApiCredential.id == credential_id, ApiCredential.revoked_at.is_(None))
            .values(revoked_at=utc_now()))
        row = session.get(ApiCredential, credential_id)
        if row is None:
            raise CredentialNotFoundError(f"no API credential with id {credential_id}",
                                          credential_id=credential_id)
        return _credential(row)
