#!/usr/bin/env python
"""Preparation micro-benchmark: what one issuance worker spends per document, on one core.

Prints JSON. N real-size DCCs derived from the corpus examples exactly as
scripts/bench_issuance.py derives them are prepared in this process by
`CertificatePreparer` (validate: hardened parse, XSD, D-SI units, metadata; sign: XAdES-BES
with an in-memory TEST identity, checked; then the published metadata), with no chain,
store or database, so the figures are CPU per document. Reported per run, then median,
min and max over --runs runs: documents/s of the validate and sign stages (as the
preparer's own stage timings count them), of the whole preparation (wall time of
validate + sign calls), and single-core SHA-256 over the same bytes measured in the same
run, with the ratio of each to it (the issue's yardstick, end to end >= 1/100 of SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from bench_issuance import summary, write_documents  # noqa: E402


def one_run(sources: list, identity: object) -> dict[str, float]:
    from registry.preparation import CertificatePreparer

    preparer = CertificatePreparer(identity)  # type: ignore[arg-type]
    start = time.perf_counter()
    validated = [preparer.validate(source, "dcc") for source in sources]
    prepared = [preparer.sign(document) for document in validated]
    wall = time.perf_counter() - start
    assert all(p.signed_here for p in prepared)
    start = time.perf_counter()
    for source in sources:
        hashlib.sha256(source.data).digest()
    sha256 = time.perf_counter() - start
    n = len(sources)
    return {"validate": n / preparer.timings.seconds["validate"],
            "sign": n / preparer.timings.seconds["sign"], "prepare": n / wall,
            "sha256": n / sha256}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=600, help="documents per run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--key", choices=("ec-p256", "rsa-3072"), default="ec-p256")
    args = parser.parse_args()

    from registry.documents.keys import KeyType, create_test_signing_identity
    from registry.preparation import DocumentSource

    identity = create_test_signing_identity("Bench signer", "PTB", "DE",
                                            key_type=KeyType(args.key))
    with tempfile.TemporaryDirectory() as tmp_name:
        sources = [DocumentSource.from_path(path)
                   for path in write_documents(Path(tmp_name), args.n)]
    one_run(sources[:24], identity)  # schemas compiled, caches warm, as in a busy worker
    runs = [one_run(sources, identity) for _ in range(args.runs)]
    rates = {stage: summary([run[stage] for run in runs])
             for stage in ("validate", "sign", "prepare", "sha256")}
    ratios = {stage: summary([run["sha256"] / run[stage] for run in runs])
              for stage in ("validate", "sign", "prepare")}
    print(json.dumps({
        "machine": {"python": platform.python_version(),
                    "cpu": platform.processor() or platform.machine()},
        "documents_per_run": args.n, "runs": args.runs, "key": args.key,
        "document_bytes_mean": round(statistics.mean(len(s.data) for s in sources)),
        "docs_per_s": rates,
        "sha256_over_stage": ratios,
        "notes": ["one process, one core; validate and sign are the preparer's stage "
                  "timings, prepare the wall time of both calls (it includes the published "
                  "metadata, which neither stage timing counts)",
                  "sha256_over_stage: how many times faster single-core SHA-256 over the "
                  "same bytes is, per run (lower is better)"],
    }, indent=2))


if __name__ == "__main__":
    main()
