"""Dated algorithm trust: parsing, unknown algorithms, the earliest end of a set."""

from __future__ import annotations

import datetime as dt

import pytest

from anchor.errors import EvidenceError
from anchor.trust_policy import TrustPolicy, trusted_at


def test_parse_changes_the_default_and_the_earliest_end_counts() -> None:
    policy = TrustPolicy.parse(["sha256=2040-01-01", "keccak256=2045-06-30"])
    end = policy.expiry(["sha256", "keccak256"])
    assert end == dt.datetime(2040, 1, 1, tzinfo=dt.UTC)
    assert trusted_at(end, dt.datetime(2039, 12, 31, 23, 59, tzinfo=dt.UTC))
    assert not trusted_at(end, dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
    assert policy.expiry(["sha3-256"]) is None  # still the default: no known end
    assert trusted_at(None, dt.datetime(2999, 1, 1, tzinfo=dt.UTC))


def test_never_and_unnamed_algorithms_are_not_trusted() -> None:
    policy = TrustPolicy.parse(["sha256=never"])
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert not trusted_at(policy.expiry(["sha256"]), epoch)
    assert not trusted_at(policy.expiry(["md5"]), epoch)


@pytest.mark.parametrize("entry", ["sha256", "sha256=", "=2040-01-01", "sha256=2040-13-01"])
def test_malformed_entries_are_refused(entry: str) -> None:
    with pytest.raises(EvidenceError):
        TrustPolicy.parse([entry])
