#!/usr/bin/env python
"""Anchoring benchmark on a real anvil: gas per document and transactions per second.

Prints JSON. Gas per document for single-document anchoring and for batches of
1, 100, 10,000 and 100,000 (Merkle tree built in Python, root anchored on chain,
a sample of proofs checked with the contract's `verify`); revocation gas in the
largest batch: one `revoke` with a full-length proof (with and without a
replacement) and `revokeMany` of --revoke-many documents with one multiproof, for
documents spread at random over the tree and for documents that are neighbours in
it (the cheapest multiproof); anchoring transactions per second, sequential (send,
wait, repeat) and pipelined (explicit nonces, all sent before any is awaited).
Median of --runs runs with min and max. Gas is deterministic on anvil.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

from anchor.chain import RegistryClient, RevocationReason, account_from_key, connect
from anchor.cid import compute_cid
from anchor.merkle import MerkleBatch
from anchor.services.anvil import AnvilNode, dev_private_key
from registry.context import DEV_OPERATOR_INDEX
from registry.devnet import ensure_dev_registry
from registry.settings import load_settings


def manifest_cid(seed: bytes) -> str:
    """A real manifest CID (CIDv1, raw, SHA-256): contract version 2 takes its digest and
    codec and keeps them in the event only."""
    return str(compute_cid(b"manifest " + seed))


CID = manifest_cid(b"throughput")


def revocation_gas(operator: RegistryClient, args: argparse.Namespace, n: int) -> dict:
    """Gas of the revocation paths in one fresh batch of `n` documents per run."""
    single, replaced, spread, neighbours = [], [], [], []
    k = args.revoke_many
    proof_lengths: dict[str, int] = {}
    for run in range(args.runs):
        values = digests(n, f"revoke-{n}-{run}")
        batch = MerkleBatch.of(values)
        batch_id = operator.anchor_batch(batch.root, n, manifest_cid(batch.root)).batch.batch_id
        deepest = max(len(batch.proof(v)) for v in values[:64])
        first, second = [v for v in values if len(batch.proof(v)) == deepest][:2]
        proof_lengths["single"] = deepest
        single.append(operator.revoke(first, batch_id, batch.proof(first),
                                      RevocationReason.WITHDRAWN).gas_used)
        replaced.append(operator.revoke(second, batch_id, batch.proof(second),
                                        RevocationReason.SUPERSEDED,
                                        hashlib.sha256(second).digest()).gas_used)
        rest = [v for v in values if v not in (first, second)]
        chosen = random.Random(run).sample(rest, min(k, len(rest)))
        multiproof = batch.multiproof(chosen)
        proof_lengths["spread"] = len(multiproof.proof)
        spread.append(operator.revoke_many(batch_id, multiproof,
                                           RevocationReason.WITHDRAWN).gas_used / len(chosen))
        taken = set(chosen)
        in_tree_order = sorted((v for v in rest if v not in taken), key=batch.position)
        adjacent = in_tree_order[len(in_tree_order) // 2:][:k]
        multiproof = batch.multiproof(adjacent)
        proof_lengths["neighbours"] = len(multiproof.proof)
        neighbours.append(operator.revoke_many(batch_id, multiproof,
                                               RevocationReason.WITHDRAWN).gas_used
                          / len(adjacent))
    return {"batch_size": n, "documents_per_revoke_many": k,
            "revoke_gas": summary(single), "revoke_with_replacement_gas": summary(replaced),
            "revoke_many_gas_per_document_spread": summary(spread),
            "revoke_many_gas_per_document_neighbours": summary(neighbours),
            "proof_lengths": proof_lengths}


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
    parser.add_argument("--revoke-many", type=int, default=100,
                        help="documents per revokeMany transaction")
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
            result["revocation"] = revocation_gas(operator, args, max(sizes))

            roots = iter(digests(args.txs * args.runs * 2, "throughput"))
            sequential, pipelined = [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                for _ in range(args.txs):
                    operator._transact(operator.anchor_batch_call(next(roots), 1, CID))
                sequential.append(args.txs / (time.perf_counter() - started))
                started = time.perf_counter()
                anchor = operator.anchor_batch_call
                pending = [operator.send(anchor(next(roots), 1, CID)) for _ in range(args.txs)]
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
