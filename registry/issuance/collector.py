"""Python's cyclic garbage collector, paced for a long issuance run.

With the interpreter's thresholds (700, 10, 10), the issuing process of a 10,000-DCC run
(scripts/bench_issuance.py) ran 3,140 young, 286 middle and 16 full collections: 3.2 s
of its 21 s of CPU. A full collection walks every tracked object alive, and most of them
are the ~180,000 the imports left (web3, SQLAlchemy, ...), which no run frees; the young
ones are triggered by the containers each document brings (its metadata tree, rows,
futures), about 40 of which per document are cycles that only the collector frees.
With those imports frozen out of the collector's view and a young threshold of 20,000
allocations, the same run made 86 young, 4 middle and no full collection: 0.7 s.

Cycles are still collected, every 20,000 container allocations instead of every 700, so
what can wait to be freed is bounded by that count, not by the run's length; a full
collection still comes every YOUNG_THRESHOLD x MIDDLE_THRESHOLD x (the interpreter's
third threshold) allocations. The collector is restored as it was when the outermost
paced block ends, also on an error.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

# Container allocations (net of deallocations) between young collections.
YOUNG_THRESHOLD = 20_000
# Young collections between collections of the middle generation.
MIDDLE_THRESHOLD = 20

_lock = threading.Lock()
_depth = 0
_restore: tuple[tuple[int, int, int], bool] | None = None


@contextlib.contextmanager
def paced_garbage_collection() -> Iterator[None]:
    """Within: the objects alive on entry are frozen (`gc.freeze`, unless the process froze
    some itself) and young collections are YOUNG_THRESHOLD allocations apart. Re-entrant
    and safe across threads: the outermost block sets and restores."""
    global _depth, _restore
    with _lock:
        if _depth == 0:
            thresholds = gc.get_threshold()
            # Another owner's freeze is theirs to undo: then freeze nothing ourselves.
            froze = gc.get_freeze_count() == 0
            if froze:
                gc.freeze()
            gc.set_threshold(max(YOUNG_THRESHOLD, thresholds[0]),
                             max(MIDDLE_THRESHOLD, thresholds[1]), thresholds[2])
            _restore = thresholds, froze
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _restore is not None:
                thresholds, froze = _restore
                _restore = None
                gc.set_threshold(*thresholds)
                if froze:
                    gc.unfreeze()
