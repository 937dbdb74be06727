"""An instrument's status now: a pure function of its documents and their revocations.

Input is the instrument's history as the projection holds it (every anchored document
stating the instrument, of every issuer, plus the type approvals of the approval
numbers they state), each with the revocation its own issuer recorded and the revoked
reference standards whose cascade reaches it. Output is one state with the evidence
for it, every check listed whether it passed or not (sigstore style: nothing hidden).

States, most severe first (the most severe condition found is the state):

* `type-approval-withdrawn`: a type approval of the instrument was revoked (for a
  reason other than supersession) or its validity ended;
* `does-not-conform`: the latest verification found it not conforming;
* `reference-standard-revoked`: a reference standard of the latest verification was
  revoked as compromised / in error / out of tolerance (the cascade reaches it);
* `verification-revoked`: every verification of it was revoked;
* `calibration-revoked`: the latest calibration was revoked;
* `verification-expired`: the latest verification conformed, its validity ended;
* `verified`: the latest verification conformed and is valid until `valid_until`;
* `calibrated`: no verification, the latest calibration stands;
* `unknown`: nothing to judge by.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

TYPE_APPROVAL = "type-approval"
VERIFICATION = "verification-certificate"
SUPERSEDED = "superseded"

TYPE_APPROVAL_WITHDRAWN = "type-approval-withdrawn"
DOES_NOT_CONFORM = "does-not-conform"
REFERENCE_STANDARD_REVOKED = "reference-standard-revoked"
VERIFICATION_REVOKED = "verification-revoked"
CALIBRATION_REVOKED = "calibration-revoked"
VERIFICATION_EXPIRED = "verification-expired"
VERIFIED = "verified"
CALIBRATED = "calibrated"
UNKNOWN = "unknown"
SEVERITY = (TYPE_APPROVAL_WITHDRAWN, DOES_NOT_CONFORM, REFERENCE_STANDARD_REVOKED,
            VERIFICATION_REVOKED, CALIBRATION_REVOKED, VERIFICATION_EXPIRED, VERIFIED,
            CALIBRATED, UNKNOWN)


@dataclass(frozen=True)
class RevocationFact:
    reason: str  # "withdrawn", "compromised", "out-of-tolerance", ...
    effective_from: dt.date
    revoked_at: dt.datetime

    def in_force_on(self, day: dt.date) -> bool:
        return self.effective_from <= day


@dataclass(frozen=True)
class HistoryEntry:
    """One anchored document in an instrument's history."""

    sha256: str
    issuer_id: str
    issuer: str
    document_type: str  # "dcc", "verification-certificate", "type-approval", ...
    number: str | None
    event_date: dt.date | None  # verified / calibrated on; a type approval's valid_from
    issued_on: dt.date | None
    anchored_at: dt.datetime
    valid_until: dt.date | None = None
    conformity: str | None = None  # "conforms", "does-not-conform" (verifications)
    revocation: RevocationFact | None = None
    compromised_by: tuple[str, ...] = ()  # revoked reference standards reaching it (sha256)

    @property
    def day(self) -> dt.date:
        return self.event_date or self.issued_on or self.anchored_at.astimezone(dt.UTC).date()

    def revoked_on(self, today: dt.date) -> bool:
        return self.revocation is not None and self.revocation.in_force_on(today)

    def to_dict(self) -> dict[str, Any]:
        r = self.revocation
        return {"sha256": "0x" + self.sha256, "issuer_id": "0x" + self.issuer_id,
                "issuer": self.issuer, "document_type": self.document_type,
                "number": self.number, "date": _iso(self.event_date),
                "issued_on": _iso(self.issued_on), "anchored_at": self.anchored_at.isoformat(),
                "valid_until": _iso(self.valid_until), "conformity": self.conformity,
                "revocation": None if r is None else {
                    "reason": r.reason, "effective_from": r.effective_from.isoformat(),
                    "revoked_at": r.revoked_at.isoformat()},
                "compromised_by": ["0x" + s for s in self.compromised_by]}


@dataclass(frozen=True)
class StatusCheck:
    check: str
    passed: bool
    detail: str
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "passed": self.passed, "detail": self.detail,
                "sha256": None if self.sha256 is None else "0x" + self.sha256}


@dataclass(frozen=True)
class InstrumentStatus:
    state: str
    summary: str
    valid_until: dt.date | None
    evidence: tuple[StatusCheck, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "summary": self.summary,
                "valid_until": _iso(self.valid_until),
                "evidence": [check.to_dict() for check in self.evidence]}


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _chronological(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    return sorted(entries, key=lambda e: (e.day, e.anchored_at, e.sha256))


def _type_approval_checks(entries: list[HistoryEntry], today: dt.date) -> list[StatusCheck]:
    checks = []
    for approval in _chronological([e for e in entries if e.document_type == TYPE_APPROVAL]):
        label = f"type approval {approval.number or approval.sha256[:12]}"
        if approval.revoked_on(today) and approval.revocation.reason != SUPERSEDED:  # type: ignore[union-attr]
            checks.append(StatusCheck(TYPE_APPROVAL_WITHDRAWN, False,
                                      f"{label} was revoked ({approval.revocation.reason}, "  # type: ignore[union-attr]
                                      f"effective {approval.revocation.effective_from})",  # type: ignore[union-attr]
                                      approval.sha256))
        elif approval.valid_until is not None and approval.valid_until < today:
            checks.append(StatusCheck(TYPE_APPROVAL_WITHDRAWN, False,
                                      f"{label} validity ended on {approval.valid_until}",
                                      approval.sha256))
        else:
            until = "" if approval.valid_until is None else f" until {approval.valid_until}"
            checks.append(StatusCheck(TYPE_APPROVAL, True, f"{label} in force{until}",
                                      approval.sha256))
    return checks


def _verification_checks(entries: list[HistoryEntry], today: dt.date
                         ) -> tuple[list[StatusCheck], dt.date | None]:
    verifications = _chronological([e for e in entries if e.document_type == VERIFICATION])
    if not verifications:
        return [], None
    revoked = [v for v in verifications if v.revoked_on(today)]
    standing = [v for v in verifications if not v.revoked_on(today)]
    # A revoked verification decides the state only when no other one stands.
    checks = [StatusCheck(VERIFICATION_REVOKED if not standing else "verification-withdrawn",
                          False, f"verification {v.number} of {v.day} was revoked "
                          f"({v.revocation.reason})", v.sha256)  # type: ignore[union-attr]
              for v in revoked]
    if not standing:
        return checks, None
    latest = standing[-1]
    label = f"verification {latest.number} of {latest.day}"
    if latest.conformity == "does-not-conform":
        return [*checks, StatusCheck(DOES_NOT_CONFORM, False, f"{label}: does not conform",
                                     latest.sha256)], None
    if latest.compromised_by:
        return [*checks, StatusCheck(
            REFERENCE_STANDARD_REVOKED, False,
            f"{label}: a reference standard it relies on was revoked "
            f"({', '.join('0x' + s[:12] for s in latest.compromised_by)})", latest.sha256)], None
    if latest.valid_until is not None and latest.valid_until < today:
        return [*checks, StatusCheck(VERIFICATION_EXPIRED, False,
                                     f"{label}: conformed, valid until {latest.valid_until}",
                                     latest.sha256)], None
    until = latest.valid_until
    return [*checks, StatusCheck(VERIFIED, True, f"{label}: conforms, valid until {until}",
                                 latest.sha256)], until


def _calibration_checks(entries: list[HistoryEntry], today: dt.date) -> list[StatusCheck]:
    calibrations = _chronological([e for e in entries
                                   if e.document_type not in (TYPE_APPROVAL, VERIFICATION)])
    if not calibrations:
        return []
    latest = calibrations[-1]
    label = f"calibration {latest.number or latest.sha256[:12]} of {latest.day}"
    if latest.revoked_on(today) and latest.revocation.reason != SUPERSEDED:  # type: ignore[union-attr]
        return [StatusCheck(CALIBRATION_REVOKED, False,
                            f"{label} was revoked ({latest.revocation.reason})",  # type: ignore[union-attr]
                            latest.sha256)]
    if latest.compromised_by:
        return [StatusCheck(REFERENCE_STANDARD_REVOKED, False,
                            f"{label}: a reference standard it relies on was revoked",
                            latest.sha256)]
    return [StatusCheck(CALIBRATED, True, f"{label} stands", latest.sha256)]


def instrument_status(entries: list[HistoryEntry], today: dt.date) -> InstrumentStatus:
    """The instrument's state on `today`, with every check that decided it."""
    verification_checks, valid_until = _verification_checks(entries, today)
    calibration_checks = _calibration_checks(entries, today)
    if verification_checks:  # verified instruments: a calibration standing adds nothing
        calibration_checks = [c for c in calibration_checks if not c.passed]
    evidence = (*_type_approval_checks(entries, today), *verification_checks,
                *calibration_checks)
    states = [c.check for c in evidence if c.check in SEVERITY]
    if not states:
        return InstrumentStatus(UNKNOWN, "no verification or calibration is anchored", None,
                                tuple(evidence))
    state = min(states, key=SEVERITY.index)
    summary = next(c.detail for c in evidence if c.check == state)
    return InstrumentStatus(state, summary, valid_until if state == VERIFIED else None,
                            tuple(evidence))
