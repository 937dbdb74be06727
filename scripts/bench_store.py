"""Store/retrieve throughput of the embedded store and Kubo, against the SHA-256 limit.

Prints JSON. Every figure is the median of --runs runs, with min and max. Each run stores
fresh random documents (so no put is an idempotent no-op) and then reads them all back;
both directions include the CID computation/verification the stores always do. "store" puts
one document per call; "store_batch" puts as many fresh documents with put_many, in batches
of registry.issuance.STORE_BATCH_SIZE as `certreg issue` does (one filesystem sync per
batch for the embedded store, one CAR per batch through /api/v0/dag/import for Kubo).
Usage: .venv/bin/python scripts/bench_store.py [--runs 5] [--kubo-api MULTIADDR] [--quick]
Without --kubo-api a private Kubo daemon is started on loopback for the benchmark.
--quick (CI) stores a quarter of the documents per run and hashes a 16 MB buffer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anchor.cid import compute_cid
from anchor.services.kubo import KuboNode
from anchor.store import ContentStore, EmbeddedStore, KuboStore
from registry.issuance import STORE_BATCH_SIZE

# (label, document size in bytes, documents per run)
WORKLOADS = (("20KB", 20_000, 200), ("1MB", 1_000_000, 20))
QUICK_DIVISOR = 4  # --quick: documents per run / 4
HASH_BUFFER_MB, QUICK_HASH_BUFFER_MB = 64, 16


def summarise(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2)}


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_store(make_store: Callable[[], ContentStore], size: int, count: int,
                runs: int) -> dict[str, object]:
    put_rates: list[float] = []
    batch_rates: list[float] = []
    get_rates: list[float] = []
    for _ in range(runs):
        store = make_store()
        documents = [os.urandom(size) for _ in range(count)]
        cids: list = []
        put_seconds = timed(lambda: cids.extend(store.put(doc) for doc in documents))  # noqa: B023
        get_seconds = timed(lambda: [store.get(cid) for cid in cids])  # noqa: B023
        # The same number of fresh documents, in batches as `certreg issue` puts them.
        batch = [os.urandom(size) for _ in range(count)]
        batch_cids: list = []
        batch_seconds = timed(lambda: [
            batch_cids.extend(store.put_many(batch[i:i + STORE_BATCH_SIZE]))  # noqa: B023
            for i in range(0, count, STORE_BATCH_SIZE)])
        assert batch_cids == [compute_cid(doc) for doc in batch]
        put_rates.append(count / put_seconds)
        batch_rates.append(count / batch_seconds)
        get_rates.append(count / get_seconds)
    megabytes = size / 1e6
    return {
        "store_docs_per_s": summarise(put_rates),
        "store_MB_per_s": summarise([rate * megabytes for rate in put_rates]),
        "store_batch_docs_per_s": summarise(batch_rates),
        "store_batch_MB_per_s": summarise([rate * megabytes for rate in batch_rates]),
        "retrieve_docs_per_s": summarise(get_rates),
        "retrieve_MB_per_s": summarise([rate * megabytes for rate in get_rates]),
    }


def bench_hash(runs: int, megabytes: int = HASH_BUFFER_MB) -> dict[str, object]:
    buffer = os.urandom(megabytes * 1024 * 1024)
    sha_rates = [len(buffer) / 1e6 / timed(lambda: hashlib.sha256(buffer).digest())
                 for _ in range(runs)]
    cid_rates = [len(buffer) / 1e6 / timed(lambda: compute_cid(buffer)) for _ in range(runs)]
    return {"sha256_single_core_MB_per_s": summarise(sha_rates),
            "compute_cid_MB_per_s": summarise(cid_rates), "buffer_MiB": megabytes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kubo-api", help="use this Kubo instead of starting one")
    parser.add_argument("--quick", action="store_true",
                        help=f"1/{QUICK_DIVISOR} of the documents per run, a "
                             f"{QUICK_HASH_BUFFER_MB} MB hash buffer (CI)")
    args = parser.parse_args()
    divisor = QUICK_DIVISOR if args.quick else 1
    results: dict[str, object] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "runs": args.runs,
        "limit": bench_hash(args.runs, QUICK_HASH_BUFFER_MB if args.quick else HASH_BUFFER_MB),
    }
    with tempfile.TemporaryDirectory(prefix="certreg-bench-") as tmp:
        node = None
        api = args.kubo_api
        if api is None:
            node = KuboNode.start(workdir=Path(tmp), name="bench-kubo")
            api = node.api_multiaddr
        kubo_store = KuboStore(api, timeout=60.0)
        counter = iter(range(10**6))
        try:
            for label, size, full_count in WORKLOADS:
                count = max(1, full_count // divisor)
                results[label] = {
                    "documents_per_run": count,
                    "embedded": bench_store(
                        lambda: EmbeddedStore(Path(tmp) / f"embedded-{next(counter)}"),
                        size, count, args.runs),
                    "kubo": bench_store(lambda: kubo_store, size, count, args.runs),
                }
        finally:
            kubo_store.close()
            if node is not None:
                node.stop()
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
