#!/usr/bin/env python
"""Receipts benchmark on a real anvil: receipt size and offline verification time.

Prints JSON. For each batch size (1, 1,000 and 100,000; --quick: 1, 100 and 1,000) one
batch is anchored exactly as the registry anchors it (Merkle tree over the documents'
SHA-256 digests, a real batch manifest whose CID is recorded on chain, one
`anchorBatch` transaction), with a real DCC from the shared corpus among synthetic
members. For the DCC and a sample of other members a `certreg-receipt/1` receipt is
built from what the chain returned, and measured:

* size: the bytes of `Receipt.to_json()`, exactly what the registry writes to
  `var/receipts/<sha256>.json` (also compact JSON and zlib, for reference);
* verification time, with nothing but the receipt and an RPC endpoint, three ways:
  `verify_receipt_cold` parses the receipt file and calls `verify_receipt(receipt,
  rpc_url)` as `certreg receipt --verify` does (connects, every numbered step);
  `verify_receipt_warm` reuses one client; `proof_plus_one_eth_call` checks the proof
  offline and asks the contract's `verify` in a single `eth_call`. Each run times
  --reps verifications and reports seconds per verification; median, min and max over
  --runs runs, verifications per second, and the JSON-RPC requests one verification
  makes (counted in a separate pass).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from web3 import Web3  # noqa: E402

from anchor.chain import RegistryClient, account_from_key, connect  # noqa: E402
from anchor.cid import CODEC_RAW, Cid, compute_cid  # noqa: E402
from anchor.merkle import MerkleBatch, leaf_hash, process_proof  # noqa: E402
from anchor.receipt import Receipt, Verdict, verify_receipt  # noqa: E402
from anchor.services.anvil import AnvilNode, dev_private_key  # noqa: E402
from registry.context import DEV_OPERATOR_INDEX  # noqa: E402
from registry.devnet import ensure_dev_registry  # noqa: E402
from registry.index.manifest import BatchManifest, ManifestMember  # noqa: E402
from registry.settings import load_settings  # noqa: E402

CORPUS_EXAMPLES = REPO_ROOT.parent / "shared" / "dcc" / "examples"
TEMPLATE = "dcc_gp_temperature_simplified_v12.xml"
FULL_SIZES = "1,1000,100000"
QUICK_SIZES = "1,100,1000"
SAMPLED_MEMBERS = 16  # receipts built per batch (the DCC + random members) for the size range
_UNIQUE_IDENTIFIER = re.compile(rb"(<dcc:uniqueIdentifier>)([^<]*)(</dcc:uniqueIdentifier>)")


def summary(values: list[float], digits: int = 6) -> dict:
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits),
            "runs": len(values)}


def real_document(n: int) -> bytes:
    """A real DCC from the shared corpus under an identifier of its own for this batch."""
    template = (CORPUS_EXAMPLES / TEMPLATE).read_bytes()
    return _UNIQUE_IDENTIFIER.sub(
        lambda m: m.group(1) + f"RECEIPT-BENCH-{n}".encode() + m.group(3), template, count=1)


def anchor_batch(operator: RegistryClient, n: int, document: bytes) -> dict:
    """Anchor a batch of n members (the real document + n-1 synthetic ones) as the registry
    does, returning what a receipt is built from."""
    digest = hashlib.sha256(document).digest()
    members = {digest: str(compute_cid(document))}
    for i in range(n - 1):
        value = hashlib.sha256(f"receipts-bench:{n}:{i}".encode()).digest()
        members[value] = str(Cid(1, CODEC_RAW, value))
    started = time.perf_counter()
    tree = MerkleBatch.of(members)
    build_seconds = time.perf_counter() - started
    issuer_hex = operator.issuer_of_operator(operator.account.address).hex()
    manifest = BatchManifest(issuer_hex, tree.root.hex(), tuple(
        ManifestMember(sha256=value.hex(), cid=cid, document_type="dcc", encrypted=False,
                       unique_identifier=None, metadata=None)
        for value, cid in members.items()))
    manifest_bytes = manifest.to_bytes()
    manifest_cid = str(compute_cid(manifest_bytes))
    anchored = operator.anchor_batch(tree.root, n, manifest_cid)
    header = operator.block_header(anchored.batch.block_number)
    assert header is not None
    return {"tree": tree, "members": members, "document_digest": digest,
            "anchored": anchored, "block_hash": header.hash, "manifest_cid": manifest_cid,
            "manifest_bytes": len(manifest_bytes), "merkle_build_seconds": build_seconds}


def build_receipt(client: RegistryClient, batch: dict, digest: bytes) -> Receipt:
    """The receipt `registry.receipts.build_receipt` builds, from the chain's own record."""
    record = batch["anchored"].batch
    return Receipt(
        document_sha256=digest, cid=batch["members"][digest], batch_id=record.batch_id,
        merkle_root=record.root, proof=tuple("0x" + p.hex() for p in batch["tree"].proof(digest)),
        chain_id=client.chain_id, contract_address=client.address,
        transaction_hash=batch["anchored"].transaction_hash,
        block_number=record.block_number, block_hash=batch["block_hash"],
        issuer_id=record.issuer_id, anchored_at=record.anchored_at,
        manifest_cid=record.manifest_cid, encrypted=False)


class RequestCounter:
    """Counts the JSON-RPC requests that reach the wire through any HTTPProvider while
    active (HTTPProvider._make_request is the one POST per request; patched on the class
    because providers cache their bound make_request)."""

    def __init__(self) -> None:
        self.methods: dict[str, int] = {}
        self._original = Web3.HTTPProvider._make_request

    def __enter__(self) -> RequestCounter:
        counter, original = self, self._original

        def counting(provider, method, request_data):
            counter.methods[method] = counter.methods.get(method, 0) + 1
            return original(provider, method, request_data)

        Web3.HTTPProvider._make_request = counting
        return self

    def __exit__(self, *exc: object) -> None:
        Web3.HTTPProvider._make_request = self._original


def time_runs(verify: Callable[[], None], runs: int, reps: int) -> dict:
    verify()  # warm-up (imports, connection pool), not counted
    with RequestCounter() as counter:
        verify()
    per_call = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(reps):
            verify()
        per_call.append((time.perf_counter() - started) / reps)
    return {"seconds_per_verification": summary(per_call),
            "verifications_per_second": summary([1 / s for s in per_call], 1),
            "rpc_requests_per_verification": sum(counter.methods.values()),
            "rpc_methods_per_verification": dict(sorted(counter.methods.items())),
            "verifications_per_run": reps}


def bench_size(node: AnvilNode, operator: RegistryClient, n: int, runs: int, reps: int) -> dict:
    document = real_document(n)
    batch = anchor_batch(operator, n, document)
    reader = RegistryClient(connect(node.rpc_url), operator.address)
    digest = batch["document_digest"]
    receipt = build_receipt(reader, batch, digest)
    text = receipt.to_json()
    assert Receipt.from_json(text) == receipt

    others = [d for d in batch["members"] if d != digest]
    sample = [digest, *random.Random(n).sample(others, min(len(others), SAMPLED_MEMBERS - 1))]
    sizes, proof_lengths = [], []
    for value in sample:
        sampled = build_receipt(reader, batch, value)
        sizes.append(len(sampled.to_json().encode()))
        proof_lengths.append(len(sampled.proof))

    def cold() -> None:
        result = verify_receipt(Receipt.from_json(text), node.rpc_url)
        if result.verdict is not Verdict.VALID:
            raise SystemExit(f"receipt did not verify: {result.to_dict()}")

    def warm() -> None:
        if verify_receipt(receipt, reader).verdict is not Verdict.VALID:
            raise SystemExit("receipt did not verify (warm client)")

    proof = receipt.proof_bytes()
    root = receipt.root_bytes()

    def minimal() -> None:
        if process_proof(leaf_hash(digest), proof) != root:
            raise SystemExit("proof does not lead to the root")
        if not reader.verify(digest, receipt.batch_id, proof).anchored:
            raise SystemExit("contract does not confirm the anchoring")

    encoded = text.encode()
    return {
        "batch_size": n,
        "proof_length": len(receipt.proof),
        "receipt_bytes": len(encoded),
        "receipt_bytes_compact_json": len(json.dumps(receipt.to_dict(),
                                                     separators=(",", ":")).encode()),
        "receipt_bytes_zlib": len(zlib.compress(encoded, 9)),
        "receipt_bytes_over_sampled_members": {
            "median": statistics.median(sizes), "min": min(sizes), "max": max(sizes),
            "members": len(sizes)},
        "proof_length_over_sampled_members": {"min": min(proof_lengths),
                                              "max": max(proof_lengths)},
        "manifest_bytes": batch["manifest_bytes"],
        "merkle_build_seconds": round(batch["merkle_build_seconds"], 3),
        "verification": {"verify_receipt_cold": time_runs(cold, runs, reps),
                         "verify_receipt_warm": time_runs(warm, runs, reps),
                         "proof_plus_one_eth_call": time_runs(minimal, runs, reps)},
    }


def run(quick: bool = False, runs: int = 5, sizes: list[int] | None = None,
        reps: int | None = None) -> dict:
    sizes = sizes or [int(s) for s in (QUICK_SIZES if quick else FULL_SIZES).split(",")]
    reps = reps or (10 if quick else 50)
    if runs < 1:
        raise ValueError("runs must be at least 1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="certreg-bench-receipts-") as tmp:
        node = AnvilNode.start(workdir=Path(tmp) / "anvil")
        try:
            deployment = ensure_dev_registry(load_settings(rpc_url=node.rpc_url, data_dir=tmp))
            operator = RegistryClient(connect(node.rpc_url), deployment["address"],
                                      poll_interval=0.005,
                                      account=account_from_key(dev_private_key(DEV_OPERATOR_INDEX)))
            batches = {str(n): bench_size(node, operator, n, runs, reps) for n in sizes}
        finally:
            node.stop()
    return {
        "machine": {"python": platform.python_version()},
        "chain": "anvil (automine), loopback JSON-RPC",
        "mode": "quick" if quick else "full",
        "runs": runs,
        "receipt_format": "certreg-receipt/1 (Receipt.to_json, as written to var/receipts/)",
        "batches": batches,
        "total_seconds": round(time.perf_counter() - started, 1),
        "notes": [
            "receipt_bytes is the receipt of the real DCC in each batch; "
            "receipt_bytes_over_sampled_members spans it and up to 15 other members",
            "verify_receipt_cold includes parsing the receipt file and connecting to the "
            "endpoint (what `certreg receipt --verify` does); proof_plus_one_eth_call is "
            "the minimum: the Merkle proof offline and the contract's verify() in one "
            "eth_call (web3.py adds an eth_chainId request before and after each call)",
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"batch sizes {QUICK_SIZES} instead of {FULL_SIZES}")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", help="comma-separated batch sizes (overrides the mode's)")
    parser.add_argument("--reps", type=int, help="verifications per run (quick 10, full 50)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    print(json.dumps(run(args.quick, args.runs, sizes, args.reps), indent=2))


if __name__ == "__main__":
    main()
