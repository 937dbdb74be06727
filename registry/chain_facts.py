"""Chain facts that cannot change, kept: `getBatch` results by batch id once past the
confirmation depth, and the chain head read at most once per `head_ttl_seconds`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from anchor.chain import BatchRecord
from registry.response_cache import BoundedCache

DEFAULT_HEAD_TTL_SECONDS = 1.0
DEFAULT_MAX_CACHED_BATCHES = 100_000


class NeedsThread(Exception):
    """The cached-only path met something it would have to wait for (a chain read, a
    signature check, the uncached path): the caller reruns it where blocking is fine."""


class BatchSource(Protocol):
    """What the cache reads from the chain (RegistryClient satisfies it)."""

    def get_batch(self, batch_id: int) -> BatchRecord | None: ...

    def head_block_number(self) -> int: ...


class ConfirmedBatches:
    """`getBatch` results kept once the batch is past the confirmation depth.

    Keyed by (batch id, the block hash the index has the batch in): after a reorg the
    indexer re-indexes the batch in its new block, so the key changes and the chain is
    asked again. The key's block hash comes from the database, but only ever selects
    which chain answer to reuse: what is cached is always what `getBatch` returned."""

    def __init__(self, chain: BatchSource, confirmations: int, *,
                 head_ttl_seconds: float = DEFAULT_HEAD_TTL_SECONDS,
                 max_entries: int = DEFAULT_MAX_CACHED_BATCHES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.chain = chain
        self.confirmations = max(1, confirmations)
        self.head_ttl_seconds = head_ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._batches: BoundedCache[tuple[int, str], BatchRecord] = BoundedCache(max_entries)
        self._head: tuple[int, float] | None = None
        self._reading_head = False

    def head(self, *, cached_only: bool = False) -> int:
        """The chain head, read at most once per `head_ttl_seconds`."""
        now = self._clock()
        cached = self._head
        if cached is not None and now - cached[1] < self.head_ttl_seconds:
            return cached[0]
        if cached_only:
            if cached is not None and self._reading_head:
                # One request reads it (in the thread pool); the others meanwhile say
                # how far behind a head a moment older they are.
                return cached[0]
            raise NeedsThread("the chain head is due to be read again")
        return self._read_head()

    def _read_head(self) -> int:
        self._reading_head = True
        try:
            head = self.chain.head_block_number()
        finally:
            self._reading_head = False
        self._head = (head, self._clock())
        return head

    def get(self, batch_id: int, block_hash: str, *,
            cached_only: bool = False) -> BatchRecord | None:
        key = (batch_id, block_hash)
        hit = self._batches.get(key)
        if hit is not None:
            return hit
        if cached_only:
            raise NeedsThread(f"batch {batch_id} is not cached yet")
        batch = self.chain.get_batch(batch_id)
        if batch is None:
            return None
        head = self.head()
        if batch.block_number > head:  # a head read before the batch was anchored
            head = self._read_head()
        if head - batch.block_number + 1 >= self.confirmations:
            self._batches.put(key, batch)
        return batch

    def cached(self, batch_id: int, block_hash: str) -> bool:
        return (batch_id, block_hash) in self._batches

    def __len__(self) -> int:
        return len(self._batches)
