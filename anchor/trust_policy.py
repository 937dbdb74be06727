"""Dated algorithm trust for evidence records: until when each hash algorithm counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from anchor.errors import EvidenceError


@dataclass(frozen=True)
class TrustPolicy:
    """Until when each algorithm is trusted (None: not yet known to fail). An algorithm
    the policy does not name is not trusted at all."""

    trusted_until: Mapping[str, dt.datetime | None]

    @classmethod
    def default(cls) -> TrustPolicy:
        return cls({name: None for name in ("sha256", "sha3-256", "sha512", "keccak256")})

    @classmethod
    def parse(cls, entries: Iterable[str], base: TrustPolicy | None = None) -> TrustPolicy:
        """`ALGORITHM=YYYY-MM-DD` (trusted before that day, UTC) or `ALGORITHM=never`."""
        policy = dict((base or cls.default()).trusted_until)
        for entry in entries:
            name, _, until = entry.partition("=")
            if not name or not until:
                raise EvidenceError(f"trust policy entry {entry!r} is not ALGORITHM=DATE")
            if until == "never":
                policy[name] = dt.datetime.min.replace(tzinfo=dt.UTC)
                continue
            try:
                day = dt.date.fromisoformat(until)
            except ValueError:
                raise EvidenceError(f"trust policy date {until!r} is not YYYY-MM-DD") from None
            policy[name] = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        return cls(policy)

    def expiry(self, algorithms: Iterable[str]) -> dt.datetime | None:
        """When the first of `algorithms` stops being trusted (None: none known to)."""
        limits = []
        for name in algorithms:
            if name not in self.trusted_until:
                return dt.datetime.min.replace(tzinfo=dt.UTC)
            if self.trusted_until[name] is not None:
                limits.append(self.trusted_until[name])
        return min(limits, default=None)


def trusted_at(expiry: dt.datetime | None, moment: dt.datetime) -> bool:
    return expiry is None or moment < expiry


def end_text(moment: dt.datetime | None) -> str:
    return "no known end" if moment is None else moment.date().isoformat()
