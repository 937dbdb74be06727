"""Responses kept by projection generation: bounded by count and size, never served for
a generation other than the one they were read at, nothing kept while the generation is
unknown. (Pure logic: the watch is a stand-in; tests/registry/test_db_generation.py
and the differential test use the real ones.)"""

from __future__ import annotations

from registry.db.generation import Generation, ProjectionWatch
from registry.response_cache import BoundedCache, ProjectionResponses


class SettableWatch(ProjectionWatch):
    def __init__(self) -> None:
        self.seen: Generation | None = None

    def current(self) -> Generation | None:
        return self.seen


def test_bounded_cache_drops_the_least_recently_used_by_count_and_by_weight() -> None:
    cache: BoundedCache[str, bytes] = BoundedCache(3, weigh=len, max_weight=10)
    for key in "abc":
        cache.put(key, b"xx")
    assert cache.get("a") == b"xx"  # now the most recently used
    cache.put("d", b"xx")  # four entries: "b", the least recently used, goes
    assert [k for k in "abcd" if k in cache] == ["a", "c", "d"]
    cache.put("e", b"x" * 8)  # "c" for the count, then "a" for the weight (14 > 10)
    assert [k for k in "abcde" if k in cache] == ["d", "e"] and cache.weight == 10
    cache.put("e", b"y")  # replacing an entry re-weighs it
    assert cache.get("e") == b"y" and cache.weight == 3


def test_projection_responses_serve_only_the_generation_they_were_read_at() -> None:
    watch = SettableWatch()
    responses: ProjectionResponses[bytes] = ProjectionResponses(watch, 100)
    # Unknown generation: nothing is kept, nothing served.
    responses.put(responses.seen(), "k", b"unknown")
    assert len(responses) == 0 and responses.get(responses.seen(), "k") is None

    watch.seen = Generation(5, 100)
    seen = responses.seen()
    responses.put(seen, "k", b"at 5")
    assert responses.get(Generation(5, 101), "k") == b"at 5"  # the block alone moved
    assert responses.get(Generation(6, 101), "k") is None

    # A response read at 5 but kept after 6 was kept is dropped, and 5's are gone.
    responses.put(Generation(6, 102), "other", b"at 6")
    responses.put(seen, "late", b"read at 5")
    assert responses.get(seen, "k") is None and responses.get(seen, "late") is None
    assert responses.get(Generation(6, 102), "other") == b"at 6"
    assert len(responses) == 1
