"""Bounded in-process caches for the API's read paths.

`ProjectionResponses` keeps rendered responses by (projection generation, request key):
what the projection gave at a generation it was read at, so a response is served again
only while the worker has not been told of a newer generation (registry.db.generation).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from registry.db.generation import Generation, ProjectionWatch

DEFAULT_MAX_RESPONSES = 20_000
# Per worker and cache: a lookup body carries the certificate's public metadata.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A thread-safe mapping of at most `max_entries` (and, with `weigh`, at most
    `max_weight` in total), least recently used out."""

    def __init__(self, max_entries: int, *, weigh: Callable[[V], int] | None = None,
                 max_weight: int = 0) -> None:
        self.max_entries = max_entries
        self._weigh = weigh
        self.max_weight = max_weight
        self.weight = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
            return hit

    def put(self, key: K, value: V) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if self._weigh is not None:
                if old is not None:
                    self.weight -= self._weigh(old)
                self.weight += self._weigh(value)
            self._entries[key] = value
            while len(self._entries) > self.max_entries or (
                    self._weigh is not None and self.weight > self.max_weight
                    and len(self._entries) > 1):
                _, dropped = self._entries.popitem(last=False)
                if self._weigh is not None:
                    self.weight -= self._weigh(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.weight = 0

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)


class ProjectionResponses(Generic[V]):
    """Responses by (generation, key). Read the generation (`seen`) BEFORE computing what
    is kept under it: a commit landing in between then leaves a newer response under an
    older generation (served only until the worker is told of the commit), never the
    reverse. Entries of older generations are dropped once a newer one is kept."""

    def __init__(self, watch: ProjectionWatch, max_entries: int = DEFAULT_MAX_RESPONSES, *,
                 weigh: Callable[[V], int] | None = None,
                 max_weight: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self.watch = watch
        self._entries: BoundedCache[tuple[int, Hashable], V] = BoundedCache(
            max_entries, weigh=weigh, max_weight=max_weight)
        self._newest = -1

    def seen(self) -> Generation | None:
        return self.watch.current()

    def get(self, seen: Generation | None, key: Hashable) -> V | None:
        if seen is None or seen.generation < self._newest:
            return None
        return self._entries.get((seen.generation, key))

    def put(self, seen: Generation | None, key: Hashable, value: V) -> None:
        if seen is None or seen.generation < self._newest:
            return
        if seen.generation > self._newest:
            self._entries.clear()
            self._newest = seen.generation
        self._entries.put((seen.generation, key), value)

    def __len__(self) -> int:
        return len(self._entries)
