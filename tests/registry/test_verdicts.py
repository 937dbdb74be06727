"""The pure parts of registry.verdicts: what the batch cache keeps, how long it trusts
the head it read, and the rendering of a verdict with the block it reflects."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import TypeAdapter

from anchor.chain import BatchRecord
from registry.verdicts import ConfirmedBatches, NeedsThread, render_verdict
from registry.verify import CertificateVerification, Check, CheckStatus, Verdict


class FakeChain:
    """Stands in for RegistryClient's two reads; counts them."""

    def __init__(self, head: int) -> None:
        self.head = head
        self.batches: dict[int, BatchRecord] = {}
        self.reads = 0

    def get_batch(self, batch_id: int) -> BatchRecord | None:
        self.reads += 1
        return self.batches.get(batch_id)

    def head_block_number(self) -> int:
        return self.head


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def batch(batch_id: int, block: int) -> BatchRecord:
    return BatchRecord(batch_id, b"I" * 32, bytes([batch_id]) * 32, 2, 1_700_000_000, block,
                       "0x" + "00" * 20, "bafy")


def test_a_batch_is_cached_only_once_past_the_confirmation_depth() -> None:
    chain, clock = FakeChain(head=10), Clock()
    cache = ConfirmedBatches(chain, confirmations=3, clock=clock)
    chain.batches[1] = batch(1, block=9)  # 2 confirmations: not yet
    assert cache.get(1, "0xaa") == chain.batches[1]
    assert not cache.cached(1, "0xaa")
    with pytest.raises(NeedsThread):
        cache.get(1, "0xaa", cached_only=True)
    chain.head = 11
    clock.now += 2  # the head is read again after its TTL
    assert cache.get(1, "0xaa") == chain.batches[1] and cache.cached(1, "0xaa")
    reads = chain.reads
    chain.batches[1] = batch(1, block=99)  # whatever the chain says later...
    assert cache.get(1, "0xaa", cached_only=True).block_number == 9  # ...is not asked
    assert chain.reads == reads
    # Another block hash for the same id (the index re-indexed it after a reorg): asked.
    assert cache.get(1, "0xbb").block_number == 99


def test_unknown_batches_are_never_cached() -> None:
    chain = FakeChain(head=100)
    cache = ConfirmedBatches(chain, confirmations=1)
    assert cache.get(7, "0xaa") is None and cache.get(7, "0xaa") is None
    assert chain.reads == 2 and len(cache) == 0


def test_the_head_is_read_at_most_once_per_ttl() -> None:
    chain, clock = FakeChain(head=5), Clock()
    cache = ConfirmedBatches(chain, confirmations=1, head_ttl_seconds=1.0, clock=clock)
    assert cache.head() == 5
    chain.head = 6
    clock.now = 0.5
    assert cache.head(cached_only=True) == 5
    clock.now = 1.5
    with pytest.raises(NeedsThread):
        cache.head(cached_only=True)
    assert cache.head() == 6


@pytest.mark.parametrize(("as_of", "behind"), [(41, 0), (12_345, 17), (None, None)])
def test_rendered_body_is_the_verdict_with_when_it_was_taken(as_of, behind) -> None:
    result = CertificateVerification(
        Verdict.REVOKED, "0x" + "ab" * 32,
        (Check(1, "document-hash", CheckStatus.SKIPPED, "no document given"),),
        metadata={"unique_identifier": "X-1", "nested": [1, {"a": None}]})
    rendered = render_verdict(result)
    expected = TypeAdapter(CertificateVerification).dump_json(
        dataclasses.replace(result, as_of_block=as_of, blocks_behind_head=behind))
    assert rendered.body(as_of, behind) == expected
    assert rendered.verdict == "revoked"
    # The ETag names the verdict, not the block: equal for any block, other for a change.
    later = dataclasses.replace(result, as_of_block=99, blocks_behind_head=3)
    assert render_verdict(later).etag == rendered.etag
    assert render_verdict(dataclasses.replace(result, verdict=Verdict.VALID)).etag != \
        rendered.etag
