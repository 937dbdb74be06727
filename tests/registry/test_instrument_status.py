"""An instrument's status now: the pure function over its history (registry.verify.
instrument_status), each state with the evidence that decided it."""

from __future__ import annotations

import datetime as dt

from registry.verify.instrument_status import (
    CALIBRATED,
    CALIBRATION_REVOKED,
    DOES_NOT_CONFORM,
    REFERENCE_STANDARD_REVOKED,
    TYPE_APPROVAL_WITHDRAWN,
    UNKNOWN,
    VERIFICATION_EXPIRED,
    VERIFICATION_REVOKED,
    VERIFIED,
    HistoryEntry,
    RevocationFact,
    instrument_status,
)

TODAY = dt.date(2026, 12, 3)
A, B = "a" * 64, "b" * 64


def _entry(sha: str, kind: str, day: dt.date, *, valid_until: dt.date | None = None,
           conformity: str | None = None, revoked: str | None = None,
           compromised: tuple[str, ...] = ()) -> HistoryEntry:
    revocation = None if revoked is None else RevocationFact(
        revoked, day, dt.datetime.combine(day, dt.time(12), dt.UTC))
    return HistoryEntry(sha, "1" * 64, "LAB", kind, f"N-{sha[:2]}", day, day,
                        dt.datetime.combine(day, dt.time(), dt.UTC), valid_until, conformity,
                        revocation, compromised)


def _verification(sha: str, day: dt.date, until: dt.date | None, **kw: object) -> HistoryEntry:
    return _entry(sha, "verification-certificate", day, valid_until=until,
                  conformity=kw.pop("conformity", "conforms"), **kw)  # type: ignore[arg-type]


def test_verified_until_the_latest_verification_ends() -> None:
    status = instrument_status([
        _verification(A, dt.date(2023, 1, 1), dt.date(2025, 1, 1)),
        _verification(B, dt.date(2025, 1, 2), dt.date(2027, 1, 2))], TODAY)
    assert (status.state, status.valid_until) == (VERIFIED, dt.date(2027, 1, 2))
    assert status.evidence[-1].sha256 == B and status.evidence[-1].passed


def test_expired_when_the_latest_verification_has_ended() -> None:
    status = instrument_status([_verification(A, dt.date(2023, 1, 1), dt.date(2025, 1, 1))],
                               TODAY)
    assert status.state == VERIFICATION_EXPIRED and status.valid_until is None
    assert "2025-01-01" in status.summary


def test_a_later_non_conforming_verification_decides() -> None:
    status = instrument_status([
        _verification(A, dt.date(2025, 1, 1), dt.date(2027, 1, 1)),
        _verification(B, dt.date(2026, 6, 1), None, conformity="does-not-conform")], TODAY)
    assert status.state == DOES_NOT_CONFORM
    assert status.evidence[-1].sha256 == B


def test_a_revoked_verification_falls_back_to_the_one_before() -> None:
    entries = [_verification(A, dt.date(2025, 1, 1), dt.date(2027, 1, 1)),
               _verification(B, dt.date(2026, 6, 1), dt.date(2028, 6, 1), revoked="error")]
    status = instrument_status(entries, TODAY)
    assert (status.state, status.valid_until) == (VERIFIED, dt.date(2027, 1, 1))
    assert any(c.sha256 == B and not c.passed for c in status.evidence)
    only_revoked = instrument_status(entries[1:], TODAY)
    assert only_revoked.state == VERIFICATION_REVOKED


def test_revocation_in_the_future_does_not_count_yet() -> None:
    entry = _verification(A, dt.date(2026, 1, 1), dt.date(2028, 1, 1))
    later = HistoryEntry(**{**entry.__dict__, "revocation": RevocationFact(
        "withdrawn", dt.date(2027, 1, 1), dt.datetime(2026, 12, 1, tzinfo=dt.UTC))})
    assert instrument_status([later], TODAY).state == VERIFIED


def test_a_compromised_reference_standard_overrides_verified() -> None:
    status = instrument_status([_verification(A, dt.date(2026, 1, 1), dt.date(2028, 1, 1),
                                              compromised=(B,))], TODAY)
    assert status.state == REFERENCE_STANDARD_REVOKED
    assert "0x" + B[:12] in status.summary


def test_type_approval_withdrawn_or_ended_is_the_most_severe() -> None:
    verified = _verification(A, dt.date(2026, 1, 1), dt.date(2028, 1, 1))
    revoked = _entry(B, "type-approval", dt.date(2021, 1, 1), valid_until=dt.date(2031, 1, 1),
                     revoked="withdrawn")
    status = instrument_status([verified, revoked], TODAY)
    assert status.state == TYPE_APPROVAL_WITHDRAWN and "withdrawn" in status.summary
    ended = _entry(B, "type-approval", dt.date(2016, 1, 1), valid_until=dt.date(2026, 1, 1))
    assert instrument_status([verified, ended], TODAY).state == TYPE_APPROVAL_WITHDRAWN
    in_force = _entry(B, "type-approval", dt.date(2021, 1, 1), valid_until=dt.date(2031, 1, 1))
    status = instrument_status([verified, in_force], TODAY)
    assert status.state == VERIFIED
    assert [c.check for c in status.evidence] == ["type-approval", VERIFIED]
    superseded = _entry(B, "type-approval", dt.date(2021, 1, 1),
                        valid_until=dt.date(2031, 1, 1), revoked="superseded")
    assert instrument_status([verified, superseded], TODAY).state == VERIFIED


def test_calibrations_decide_without_verifications() -> None:
    assert instrument_status([_entry(A, "dcc", dt.date(2026, 1, 1))], TODAY).state \
        == CALIBRATED
    status = instrument_status([_entry(A, "dcc", dt.date(2025, 1, 1)),
                                _entry(B, "dcc", dt.date(2026, 1, 1), revoked="compromised")],
                               TODAY)
    assert status.state == CALIBRATION_REVOKED and status.evidence[0].sha256 == B
    # A revoked last calibration shows on a verified instrument too.
    mixed = instrument_status([_verification(A, dt.date(2026, 1, 1), dt.date(2028, 1, 1)),
                               _entry(B, "dcc", dt.date(2026, 2, 1), revoked="error")], TODAY)
    assert mixed.state == CALIBRATION_REVOKED
    assert instrument_status([], TODAY).state == UNKNOWN
