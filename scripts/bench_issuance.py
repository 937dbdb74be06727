#!/usr/bin/env python
"""Issuance benchmark: documents per second per stage and end to end, on a real anvil.

Prints JSON. N real-size DCCs are derived from the shared corpus examples (all twelve,
14-46 KB, each under a distinct uniqueIdentifier) and issued with `Issuer.run` exactly
as `certreg issue` does: validate (XSD) and sign (XAdES-BES, P-256, self-checked) on one
process per core (--workers), hash, store (embedded store, one sync per 64 documents),
record (SQLite outbox rows, one transaction per 64), batch (Merkle tree + manifest + one
transaction per batch), anchor (one transaction per batch, waited for), index (events +
manifests into the projection), receipts (one file per document, one sync per 64). Each
run is a fresh subprocess with its own contract, database and store, so peak RSS
(getrusage) is that run's alone. After the run the same signed documents are put, 64
per request, into a private Kubo daemon as `certreg` does with CERTREG_IPFS_API set
(`store_kubo`; --no-kubo skips it). Reported: median, min and max over --runs runs of
documents/s and MB/s per stage (MB/s counts the submitted DCC bytes); gas per document
from the anchoring transactions' receipts; and, next to it, this machine's single-core
SHA-256 rate over the same document bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

CORPUS_EXAMPLES = REPO_ROOT.parent / "shared" / "dcc" / "examples"
SIGNING_PASSWORD = "benchmark signing passphrase"
STAGES = ("validate", "sign", "hash", "store", "store_kubo", "record", "batch", "anchor", "index",
          "receipt")
_UNIQUE_IDENTIFIER = re.compile(rb"(<dcc:uniqueIdentifier>)([^<]*)(</dcc:uniqueIdentifier>)")


def summary(values: list[float]) -> dict[str, float | int]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "runs": len(values)}


def write_documents(directory: Path, n: int) -> list[Path]:
    templates = [p.read_bytes() for p in sorted(CORPUS_EXAMPLES.glob("*.xml"))]
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        data = _UNIQUE_IDENTIFIER.sub(
            lambda m, i=i: m.group(1) + f"BENCH-{i:06d}".encode() + m.group(3),
            templates[i % len(templates)], count=1)
        path = directory / f"dcc-{i:06d}.xml"
        path.write_bytes(data)
        paths.append(path)
    return paths


def sha256_rate(paths: list[Path], runs: int = 5) -> dict:
    """hashlib.sha256 over the documents one by one, on one core: median (and min, max)."""
    blobs = [p.read_bytes() for p in paths]
    total = sum(map(len, blobs))
    seconds = []
    for _ in range(max(runs, 5)):
        start = time.perf_counter()
        for blob in blobs:
            hashlib.sha256(blob).digest()
        seconds.append(time.perf_counter() - start)
    docs = summary([len(blobs) / s for s in seconds])
    mb = summary([total / s / 1e6 for s in seconds])
    return {"docs_per_s": round(docs["median"], 1), "mb_per_s": round(mb["median"], 1),
            "docs_per_s_summary": docs, "mb_per_s_summary": mb}


def put_into_kubo(issuer, submissions, api: str) -> float:
    """Seconds spent putting the signed documents into Kubo in batches, as `certreg issue`
    does (read back a batch at a time from the run's embedded store, so the worker's peak
    memory does not grow with N)."""
    from anchor.cid import Cid
    from anchor.store import KuboStore
    from registry.issuance import STORE_BATCH_SIZE

    kubo = KuboStore(api, timeout=60.0)
    seconds = 0.0
    try:
        for first in range(0, len(submissions), STORE_BATCH_SIZE):
            batch = submissions[first:first + STORE_BATCH_SIZE]
            documents = [issuer.store.get(Cid.parse(s.cid)) for s in batch]
            start = time.perf_counter()
            stored = kubo.put_many(documents)
            seconds += time.perf_counter() - start
            assert [str(cid) for cid in stored] == [s.cid for s in batch]
    finally:
        kubo.close()
    return seconds


def worker(args: argparse.Namespace) -> None:
    """One measured run (in its own process); prints its JSON on stdout."""
    from registry.issuance import Issuer
    from registry.settings import load_settings

    settings = load_settings()
    paths = sorted(Path(args.documents).glob("*.xml"))[:args.n]
    file_create_us = file_creation_cost(settings.data_dir / "fs-probe")
    issuer = Issuer.from_settings(settings, workers=args.workers)
    before = os.times()
    start = time.perf_counter()
    report = issuer.run(paths, batch_size=args.batch_size)
    elapsed = time.perf_counter() - start
    after = os.times()  # the workers have exited: their time is in children_*
    assert report.pending_documents == 0 and report.receipts_written == len(paths)
    gas = sum(issuer.client.w3.eth.get_transaction_receipt(a.transaction_hash)["gasUsed"]
              for a in report.anchored)
    stage_seconds = dict(issuer.timings.seconds)
    if args.kubo_api:
        stage_seconds["store_kubo"] = put_into_kubo(issuer, report.submissions, args.kubo_api)
    print(json.dumps({
        "documents": len(paths), "seconds": elapsed, "stage_seconds": stage_seconds,
        "gas": gas, "batches": len(report.anchored), "workers": issuer.workers,
        "cpu_seconds": {
            "issuing_process": after.user + after.system - before.user - before.system,
            "workers": (after.children_user + after.children_system
                        - before.children_user - before.children_system),
            "issuing_process_system": after.system - before.system,
            "workers_system": after.children_system - before.children_system},
        "file_create_us": file_create_us,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


# Files the probe creates: enough to see the cost, too few to change the run's.
PROBE_FILES = 200


def file_creation_cost(directory: Path) -> float:
    """Microseconds to create, write and close one 24 KB file in `directory` (mean of
    PROBE_FILES, kept afterwards). On an ext4 without a journal (the machine of the
    2026-12-07 measurements has one), each new inode is sought past the inodes
    deleted in the last minutes, so the cost depends on what was deleted nearby just
    before: a few tens of microseconds after a quiet spell, several hundred after a
    test suite or benchmark removed its temporary files. Reported, not corrected for."""
    directory.mkdir(parents=True, exist_ok=True)
    data = os.urandom(24_000)
    start = time.perf_counter()
    for i in range(PROBE_FILES):
        fd = os.open(directory / f"probe-{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.close(fd)
    return (time.perf_counter() - start) / PROBE_FILES * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="documents per run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=None,
                        help="validating+signing processes (default: one per core)")
    parser.add_argument("--no-kubo", action="store_true",
                        help="skip the store_kubo stage (no Kubo daemon is started)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kubo-api", help=argparse.SUPPRESS)
    parser.add_argument("--documents", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    from anchor.services.anvil import AnvilNode
    from anchor.services.kubo import KuboNode
    from registry.documents.keys import generate_test_signing_identity
    from tests.anchor.registry_fixtures import deploy_world

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        paths = write_documents(tmp / "dccs", args.n)
        sizes = [p.stat().st_size for p in paths]
        files = generate_test_signing_identity("Bench signer", "PTB", "DE", tmp / "signing",
                                               SIGNING_PASSWORD)
        node = AnvilNode.start(workdir=tmp / "anvil")
        kubo = None
        runs = []
        try:
            kubo_args = []
            if not args.no_kubo:
                kubo = KuboNode.start(workdir=tmp / "kubo", name="bench-issuance-kubo")
                kubo_args = ["--kubo-api", kubo.api_multiaddr]
            for run in range(args.runs):
                world = deploy_world(node)
                env = {**os.environ, "PYTHONPATH": str(REPO_ROOT),
                       "CERTREG_DATA_DIR": str(tmp / f"run-{run}"),
                       "CERTREG_RPC_URL": node.rpc_url,
                       "CERTREG_CONTRACT_ADDRESS": world.deployer.address,
                       "CERTREG_DEPLOYMENT_BLOCK": str(world.deployer.deployment_block),
                       "CERTREG_SIGNING_KEY": str(files.private_key_pem),
                       "CERTREG_SIGNING_CERTIFICATE": str(files.certificate_pem),
                       "CERTREG_SIGNING_PASSWORD": SIGNING_PASSWORD}
                done = subprocess.run(
                    [sys.executable, __file__, "--worker", "--n", str(args.n),
                     "--batch-size", str(args.batch_size), "--documents", str(tmp / "dccs"),
                     *kubo_args, *([] if args.workers is None else
                                   ["--workers", str(args.workers)])],
                    env=env, cwd=REPO_ROOT, capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"worker run {run} failed ({done.returncode}):\n"
                                     f"{done.stderr[-4000:]}")
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        finally:
            node.stop()
            if kubo is not None:
                kubo.stop()
        sha = sha256_rate(paths, args.runs)

    mean_mb = statistics.mean(sizes) / 1e6
    stage_rates, stage_mb = {}, {}
    for stage in STAGES:
        rates = [r["documents"] / r["stage_seconds"][stage] for r in runs
                 if r["stage_seconds"].get(stage)]
        if rates:
            stage_rates[stage] = summary(rates)
            stage_mb[stage] = summary([rate * mean_mb for rate in rates])
    end_to_end = [r["documents"] / r["seconds"] for r in runs]
    result = {
        "machine": {"python": platform.python_version(),
                    "cpu": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count()},
        "chain": "anvil (automine), one anchoring transaction per batch",
        "documents_per_run": args.n, "runs": args.runs, "batch_size": args.batch_size,
        "workers": runs[0]["workers"],
        "document_bytes": {"mean": round(statistics.mean(sizes)), "min": min(sizes),
                           "max": max(sizes)},
        "docs_per_s": {"end_to_end": summary(end_to_end), **stage_rates},
        "mb_per_s": {"end_to_end": summary([rate * mean_mb for rate in end_to_end]),
                     **stage_mb},
        "gas_per_document": summary([r["gas"] / r["documents"] for r in runs]),
        "batches_per_run": runs[0]["batches"],
        "peak_rss_mb": summary([r["peak_rss_mb"] for r in runs]),
        "file_create_us_before_run": summary([r["file_create_us"] for r in runs]),
        "cpu_ms_per_document": {
            part: summary([1000 * r["cpu_seconds"][part] / r["documents"] for r in runs])
            for part in ("issuing_process", "workers", "issuing_process_system",
                         "workers_system")},
        "sha256_single_core_same_bytes": sha,
        "notes": [
            "stage rates are documents / seconds spent in that stage within Issuer.run; "
            "batch, anchor and index work per batch, so their rate depends on batch_size",
            "validate and sign run on `workers` processes: their seconds are summed over the "
            "workers, so their rate is per worker (per core on an idle machine); end to end "
            "is wall time",
            "store = embedded store, one filesystem sync per 64 documents; store_kubo = the "
            "same signed documents put into a private Kubo daemon after the run, 64 per "
            "/api/v0/dag/import of one CAR (roots pinned); record = one SQLite transaction "
            "per 64 documents (WAL, synchronous=NORMAL); receipt = one sync per 64 files",
            "MB/s = documents/s x the mean size of the submitted DCCs (signing adds a few KB "
            "per document), so a stage's MB/s and documents/s give the same ratio to SHA-256",
            "file_create_us_before_run = microseconds to create one 24 KB file in the "
            "run's data directory, just before the run (the store and the receipts create "
            "two per document): on an ext4 without a journal it grows with the files "
            "deleted nearby in the last minutes",
            "end to end includes process-local setup after start-up (DB migration check, "
            "contract connection) but not interpreter start-up",
            "cpu_ms_per_document = CPU time (user + system) per document of the issuing "
            "process and of its validating+signing workers together, during Issuer.run: "
            "less sensitive than rates to other load on the machine; with 2 cores, end to "
            "end cannot beat 2000 / (issuing_process + workers) documents/s; the *_system "
            "figures are the kernel's part of them (file creation, syncs, pipes)",
        ],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
