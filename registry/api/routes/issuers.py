"""Issuers as the chain describes them: country, kind, status now and over time, admin,
which operator accounts could anchor for them when (from the indexed events), and the
signing certificates or CAs they declared."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from anchor.chain import IssuerStatus
from registry.api.deps import SessionFactoryDep
from registry.api.routes._shared import (
    TEXT_PATTERN,
    IssuerRef,
    error_responses,
    issuer_hex,
    issuer_ref,
)
from registry.db.lookup import ProjectionReader
from registry.db.models import AuditEvent, ChainIssuer, ChainSigningCertificate
from registry.errors import NotFoundError

router = APIRouter(prefix="/v1", tags=["issuers"])


class ChainPosition(BaseModel):
    block_number: int
    time: dt.datetime
    transaction_hash: str
    log_index: int


class StatusChange(ChainPosition):
    status: str
    previous_status: str | None
    actor: str  # the account that sent the transaction (the executing governor)


class OperatorPeriod(BaseModel):
    operator: str
    added: ChainPosition
    removed: ChainPosition | None  # None: still an operator


class AdminChange(ChainPosition):
    admin: str


class Issuer(IssuerRef):
    country: str
    kind: str
    status: str
    admin: str
    metadata_cid: str
    operators: list[str]  # current
    registered_block: int


class SigningCertificateDeclaration(BaseModel):
    """A certificate the issuer signs with (`signer`) or a CA it signs under (`authority`).
    Documents signed in [valid_from, valid_until] count as the issuer's; a withdrawal
    stops that for documents anchored from its block on."""

    certificate_sha256: str  # of the DER, 64 hex like the verification's signer_fingerprint
    kind: str
    subject: str | None
    certificate_pem: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    declared_block: int
    declared_at: dt.datetime
    declared_by: str  # the admin, or the governor whose approval executed the action
    declared_transaction_hash: str
    withdrawn_block: int | None
    withdrawn_at: dt.datetime | None
    withdrawn_by: str | None


class IssuerDetail(Issuer):
    status_history: list[StatusChange]
    operator_history: list[OperatorPeriod]
    admin_history: list[AdminChange]
    signing_certificates: list[SigningCertificateDeclaration]


class IssuerList(BaseModel):
    items: list[Issuer]


def _issuer_fields(row: ChainIssuer) -> dict:
    return {**issuer_ref(row.issuer_id).model_dump(), "country": row.country,
            "kind": row.kind, "status": row.status, "admin": row.admin,
            "metadata_cid": row.metadata_cid, "operators": list(row.operators),
            "registered_block": row.registered_block}


def _declaration(row: ChainSigningCertificate) -> SigningCertificateDeclaration:
    encoded = base64.b64encode(row.certificate).decode("ascii")
    body = "".join(encoded[i:i + 64] + "\n" for i in range(0, len(encoded), 64))
    return SigningCertificateDeclaration(
        certificate_sha256=row.certificate_sha256, kind=row.kind, subject=row.subject,
        certificate_pem=f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n",
        valid_from=row.valid_from, valid_until=row.valid_until,
        declared_block=row.declared_block, declared_at=row.declared_at,
        declared_by=row.declared_by, declared_transaction_hash=row.declared_tx_hash,
        withdrawn_block=row.withdrawn_block, withdrawn_at=row.withdrawn_at,
        withdrawn_by=row.withdrawn_by)


def _position(event: AuditEvent) -> ChainPosition:
    return ChainPosition(block_number=event.block_number, time=event.block_time,
                         transaction_hash=event.tx_hash, log_index=event.log_index)


def _status_name(value: object) -> str:
    return IssuerStatus(int(str(value))).name.lower()


@router.get("/issuers", response_model=IssuerList)
def list_issuers(sessions: SessionFactoryDep) -> IssuerList:
    """Every registered issuer, in order of registration."""
    return IssuerList(items=[Issuer(**_issuer_fields(row))
                             for row in ProjectionReader(sessions).issuers()])


@router.get("/issuers/{code}", response_model=IssuerDetail,
            responses=error_responses(400, 404, 422))
def issuer_detail(code: Annotated[str, Path(pattern=TEXT_PATTERN, min_length=1, max_length=80,
                                            description="issuer code or 0x bytes32 id")],
                  sessions: SessionFactoryDep) -> IssuerDetail:
    """An issuer with its status history, its operators over time and its declared
    signing certificates."""
    reader = ProjectionReader(sessions)
    issuer_id = issuer_hex(code)
    row = reader.issuer(issuer_id)
    if row is None:
        raise NotFoundError(f"no issuer {code} is registered")
    statuses: list[StatusChange] = []
    admins: list[AdminChange] = []
    periods: list[OperatorPeriod] = []
    open_periods: dict[str, OperatorPeriod] = {}
    for event in reader.issuer_events(issuer_id):
        position = _position(event).model_dump()
        if event.name == "IssuerRegistered":
            statuses.append(StatusChange(**position, status=IssuerStatus.ACTIVE.name.lower(),
                                         previous_status=None, actor=event.actor))
            admins.append(AdminChange(**position, admin=event.args["admin"]))
        elif event.name == "IssuerStatusChanged":
            statuses.append(StatusChange(
                **position, status=_status_name(event.args["newStatus"]),
                previous_status=_status_name(event.args["previousStatus"]), actor=event.actor))
        elif event.name == "IssuerAdminChanged":
            admins.append(AdminChange(**position, admin=event.args["newAdmin"]))
        elif event.name == "OperatorAdded":
            period = OperatorPeriod(operator=event.args["operator"], added=_position(event),
                                    removed=None)
            periods.append(period)
            open_periods[period.operator] = period
        elif event.name == "OperatorRemoved" and event.args["operator"] in open_periods:
            open_periods.pop(event.args["operator"]).removed = _position(event)
    return IssuerDetail(**_issuer_fields(row), status_history=statuses,
                        operator_history=periods, admin_history=admins,
                        signing_certificates=[_declaration(declaration) for declaration
                                              in reader.signing_certificates(issuer_id)])
