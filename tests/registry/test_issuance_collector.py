"""The garbage collector during an issuance run: collections far apart, cycles still
freed, and the process's own settings back afterwards."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.issuance import Issuer
from registry.issuance.collector import YOUNG_THRESHOLD, paced_garbage_collection
from tests.registry.conftest import MakeDccs


class _Node:
    def __init__(self) -> None:
        self.partner: _Node | None = None


def _young_collections_while_allocating(containers: int) -> int:
    """Young collections made while `containers` lists are allocated and kept."""
    seen: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            seen.append(1)

    gc.callbacks.append(count)
    try:
        kept = [[] for _ in range(containers)]
    finally:
        gc.callbacks.remove(count)
    del kept
    return len(seen)


@pytest.fixture
def default_collector() -> Iterator[None]:
    """The interpreter's thresholds, whatever the test session set, and them back after."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def test_a_paced_run_collects_young_objects_far_less_often(default_collector: None) -> None:
    unpaced = _young_collections_while_allocating(10 * YOUNG_THRESHOLD)
    with paced_garbage_collection():
        paced = _young_collections_while_allocating(10 * YOUNG_THRESHOLD)
    # 700 allocations apart without pacing (~285 collections), 20,000 with it (~10).
    assert unpaced > 100
    assert paced <= 12


def test_cycles_made_during_a_paced_run_are_still_freed(default_collector: None) -> None:
    with paced_garbage_collection():
        # The young count starts from nothing, so the wait below is the whole threshold
        # whatever was allocated before (the cycle does not exist yet: nothing to free).
        gc.collect(0)
        first, second = _Node(), _Node()
        first.partner, second.partner = second, first
        alive = weakref.ref(first)
        del first, second
        # No explicit gc.collect(): only the paced collector may free the cycle.
        kept = []
        while alive() is not None and len(kept) < 100 * YOUNG_THRESHOLD:
            kept.append([])
        assert alive() is None, "a cycle made in a paced run was never collected"
        assert len(kept) > YOUNG_THRESHOLD // 2  # it waited for the paced threshold


def test_the_collector_is_restored_after_nested_runs_and_errors(default_collector: None
                                                                ) -> None:
    gc.set_threshold(900, 11, 12)
    with pytest.raises(RuntimeError), paced_garbage_collection():
        assert gc.get_freeze_count() > 0
        with paced_garbage_collection():
            assert gc.get_threshold() == (YOUNG_THRESHOLD, 20, 12)
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 20, 12)  # the outer block's still
        raise RuntimeError("the run failed")
    assert gc.get_threshold() == (900, 11, 12)
    assert gc.get_freeze_count() == 0


def test_a_freeze_the_process_made_itself_is_left_in_place(default_collector: None) -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paced_garbage_collection():
            pass
        assert gc.get_freeze_count() >= frozen
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.unfreeze()


class _CollectorWatch:
    """A progress listener noting the collector's thresholds while the run advances."""

    def __init__(self) -> None:
        self.thresholds: set[tuple[int, int, int]] = set()

    def phase(self, name: str, total: int | None = None) -> None:
        self.thresholds.add(gc.get_threshold())

    def advance(self, count: int = 1) -> None:
        self.thresholds.add(gc.get_threshold())


def test_issuance_runs_paced_and_gives_the_collector_back(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path, default_collector: None) -> None:
    watch = _CollectorWatch()
    issuer.progress = watch
    report = issuer.run(make_dccs(tmp_path / "in", 3, "GC"), batch_size=2)

    assert report.receipts_written == 3
    assert watch.thresholds == {(YOUNG_THRESHOLD, 20, 10)}
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
