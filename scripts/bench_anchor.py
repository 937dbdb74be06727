#!/usr/bin/env python
"""Anchoring benchmark on a real anvil: gas per document and transactions per second.

Prints JSON. Gas per document for single-document anchoring and for batches of
1, 100, 10,000 and 100,000 (Merkle tree built in Python, root anchored on chain,
a sample of proofs checked with the contract's `verify`); anchoring
transactions per second, sequential (send, wait, repeat) and pipelined (explicit
nonces, all sent before any is awaited). Median of --runs runs with min and max.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from anchor.chain import RegistryClient, account_from_key, connect
from anchor.cid import compute_cid
from anchor.merkle import MerkleBatch
from anchor.services.anvil import AnvilNode, dev_private_key
from registry.context import DEV_OPERATOR_INDEX
from registry.devnet import ensure_dev_registry
from registry.settings import load_settings


def manifest_cid(seed: bytes) -> str:
    """A real-length manifest CID (CIDv1, raw, base32: 59 characters). Its length is part
    of the cost: a string over 31 bytes takes two more storage slots than a short one."""
    return str(compute_cid(b"manifest " + seed))


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


def digests(n: int, salt: str) -> list[bytes]:
    return [hashlib.sha256(f"{salt}:{i}".encode()).digest() for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--txs", type=int, default=200, help="transactions per throughput run")
    parser.add_argument("--sizes", default="1,100,10000,100000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        node = AnvilNode.start(workdir=Path(tmp))
        try:
            deployment = ensure_dev_registry(load_settings(rpc_url=node.rpc_url, data_dir=tmp))
            w3 = connect(node.rpc_url)
            operator = RegistryClient(w3, deployment["address"], poll_interval=0.005,
                                      account=account_from_key(dev_private_key(DEV_OPERATOR_INDEX)))
            result: dict = {"machine": {"python": platform.python_version(),
                                        "cpu": platform.processor() or platform.machine()},
                            "chain": "anvil 1.7.1 (automine)"}

            single = []
            for run in range(args.runs):
                (value,) = digests(1, f"single-{run}")
                anchored = operator.anchor_document(value, manifest_cid(value))
                single.append(w3.eth.get_transaction_receipt(anchored.transaction_hash)["gasUsed"])
            result["single_document_gas"] = summary(single)

            batches = {}
            for n in sizes:
                gas, build = [], []
                for run in range(args.runs):
                    values = digests(n, f"batch-{n}-{run}")
                    started = time.perf_counter()
                    batch = MerkleBatch.of(values)
                    build.append(time.perf_counter() - started)
                    anchored = operator.anchor_batch(batch.root, n, manifest_cid(batch.root))
                    gas.append(w3.eth.get_transaction_receipt(anchored.transaction_hash)["gasUsed"])
                    probe = values[len(values) // 2]
                    assert operator.verify(probe, anchored.batch.batch_id,
                                           batch.proof(probe)).anchored
                batches[str(n)] = {"gas_per_batch": summary(gas),
                                   "gas_per_document": statistics.median(gas) / n,
                                   "merkle_build_seconds": summary(build),
                                   "proof_length": len(batch.proof(probe))}
            result["batch"] = batches

            roots = iter(digests(args.txs * args.runs * 2, "throughput"))
            sequential, pipelined = [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                for _ in range(args.txs):
                    operator._transact(operator.contract.functions.anchorBatch(next(roots), 1, "c"))
                sequential.append(args.txs / (time.perf_counter() - started))
                started = time.perf_counter()
                anchor = operator.contract.functions.anchorBatch
                pending = [operator.send(anchor(next(roots), 1, "c")) for _ in range(args.txs)]
                for signed in pending:
                    operator.wait(signed)
                pipelined.append(args.txs / (time.perf_counter() - started))
            result["anchoring_tx_per_second"] = {"sequential": summary(sequential),
                                                 "pipelined": summary(pipelined),
                                                 "transactions_per_run": args.txs}
        finally:
            node.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
