"""The ratios of `scripts/bench.py`'s report: every figure set against the comparison
measured in the same run, by benchmark, and the layouts of the results they read.
"""

from __future__ import annotations

from typing import Any

from scripts.bench_figures import dig, entry_error, flatten_numbers, median_of, ratio

PUBLISHED_LABEL = "published, not measured"

ISSUANCE_STAGES = ("end_to_end", "validate", "sign", "hash", "store", "store_kubo", "record",
                   "batch", "anchor", "index", "receipt")
# "store_batch": put_many, 64 documents per call (as `certreg issue` stores them).
STORE_DIRECTIONS = ("store", "store_batch", "retrieve")
STAGE_LABELS = {
    "end_to_end": "end to end", "validate": "parse + validate (XSD, per core)",
    "sign": "sign (XAdES-BES, per core)", "hash": "hash (SHA-256)", "store": "store, embedded",
    "store_kubo": "store, Kubo", "record": "record (outbox row)",
    "batch": "batch (Merkle + manifest)",
    "anchor": "anchor (transaction)", "index": "index (events)", "receipt": "receipt (file)",
}
API_PAIRS = (("verify_by_hash", "bare_fastapi_get", "GET /v1/verify/{sha256}", "GET bare"),
             ("verify_by_upload", "bare_fastapi_post", "POST /v1/verify (20 KB DCC)",
              "POST bare (reads body)"),
             ("verify_by_hash_fresh", "bare_fastapi_get",
              "GET /v1/verify/{sha256}?fresh=true (uncached)", "GET bare"),
             ("verify_by_upload_fresh", "bare_fastapi_post",
              "POST /v1/verify?fresh=true (uncached)", "POST bare (reads body)"),
             ("lookup", "bare_fastapi_get", "GET /v1/certificates/{sha256}", "GET bare"),
             ("search", "bare_fastapi_get", "GET /v1/search?number=", "GET bare"))
VERIFY_METHODS = (("verify_receipt_cold", "verify_receipt, cold (parse + connect)"),
                  ("verify_receipt_warm", "verify_receipt, warm client"),
                  ("proof_plus_one_eth_call", "proof offline + one eth_call"))
EAS_METHODS = (("eas_attest", "attest"), ("eas_multi_attest", "multiAttest"),
               ("eas_timestamp", "timestamp"), ("eas_multi_timestamp", "multiTimestamp"))


def anchor_ratios(result: dict) -> dict:
    """Gas per document of each batch size as a ratio to single-document anchoring."""
    single = dig(result, "single_document_gas")
    out = {}
    for size, batch in (dig(result, "batch", default={}) or {}).items():
        per_doc = batch.get("gas_per_document")
        out[str(size)] = ratio(per_doc, single)
    return {"gas_per_document_vs_anchor_document": out,
            "pipelined_vs_sequential_tx_per_s": ratio(
                dig(result, "anchoring_tx_per_second", "pipelined"),
                dig(result, "anchoring_tx_per_second", "sequential"))}


def issuance_ratios(result: dict) -> dict:
    """Each stage's documents/s as a ratio to SHA-256 of the same documents on one core."""
    sha = dig(result, "sha256_single_core_same_bytes", "docs_per_s")
    rates = dig(result, "docs_per_s", default={}) or {}
    return {stage: ratio(rates[stage], sha) for stage in ISSUANCE_STAGES if stage in rates}


def store_ratios(result: dict) -> dict:
    sha = dig(result, "limit", "sha256_single_core_MB_per_s")
    out = {}
    for workload, value in result.items():
        if not isinstance(value, dict) or "documents_per_run" not in value:
            continue
        for store in ("embedded", "kubo"):
            for direction in STORE_DIRECTIONS:
                mb = dig(value, store, f"{direction}_MB_per_s")
                if mb is not None:
                    out[f"{workload}/{store}/{direction}"] = ratio(mb, sha)
    return out


def api_ratios(result: dict) -> dict:
    """Registry endpoint / bare endpoint for requests/s, p50 and p99 latency."""
    http = dig(result, "http", default={}) or {}
    out = {}
    for ours, bare, _, _ in API_PAIRS:
        out[ours] = {metric: ratio(dig(http, ours, metric), dig(http, bare, metric))
                     for metric in ("rps", "p50_ms", "p99_ms")}
    return out


def published_proofs(published: dict | None) -> list[dict]:
    proofs = dig(published, "proofs", default=[]) or []
    return [p for p in proofs if isinstance(p, dict) and median_of(p.get("value")) is not None]


def receipt_ratios(result: dict, published: dict | None) -> dict:
    """Receipt bytes / each published proof's bytes; verification time / batch size 1's."""
    proofs = published_proofs(published)
    batches = dig(result, "batches", default={}) or {}
    sizes = {}
    for size, batch in batches.items():
        sizes[str(size)] = {p["id"]: ratio(batch.get("receipt_bytes"), p["value"])
                            for p in proofs}
    base = batches.get("1") or (batches[min(batches, key=int)] if batches else None)
    times = {}
    for size, batch in batches.items():
        times[str(size)] = {
            method: ratio(dig(batch, "verification", method, "seconds_per_verification"),
                          dig(base, "verification", method, "seconds_per_verification"))
            for method, _ in VERIFY_METHODS}
    return {"receipt_bytes_vs_published": sizes, "verify_seconds_vs_smallest_batch": times}


def eas_ratios(result: dict) -> dict:
    """EAS gas per certificate / ours for each N and EAS function, EAS revoke / our revoke,
    our verification checks/s / EAS's; computed here from the gas figures bench_eas
    reports (its own ratio_* when a figure is missing). An unknown layout falls back to
    whatever keys containing 'ratio' it has."""
    per_n = dig(result, "gas_per_certificate")
    if not isinstance(per_n, dict):
        return {path: median_of(value) for path, value in flatten_numbers(result)
                if "ratio" in path.lower()}
    gas = {}
    for n, row in per_n.items():
        if not isinstance(row, dict):
            continue
        gas[str(n)] = {
            method: ratio(row.get(method), row.get("ours_batch"))
            if median_of(row.get(method)) is not None and median_of(row.get("ours_batch"))
            else median_of(row.get("ratio_" + method.removeprefix("eas_")))
            for method, _ in EAS_METHODS}
    revocation, revocation_many = {}, {}
    for n, row in (dig(result, "revocation_gas", default={}) or {}).items():
        if isinstance(row, dict):
            computed = ratio(dig(row, "eas_revoke", "mean"), dig(row, "ours", "mean"))
            revocation[str(n)] = computed if computed is not None else median_of(row.get("ratio"))
            if isinstance(row.get("ours_revoke_many"), dict):
                revocation_many[str(n)] = ratio(
                    dig(row, "eas_multi_revoke", "gas_per_revocation"),
                    dig(row, "ours_revoke_many", "gas_per_revocation"))
    verify = dig(result, "verify_calls_per_s")
    checks = ratio(dig(verify, "ours", "checks_per_second"),
                   dig(verify, "eas", "checks_per_second"))
    return {"gas_per_certificate_eas_vs_ours": gas, "revocation_gas_eas_vs_ours": revocation,
            "batched_revocation_gas_eas_vs_ours": revocation_many,
            "verify_checks_per_s_ours_vs_eas": checks}


def compute_ratios(report: dict) -> dict:
    """Every ratio the report's tables show, by benchmark (None where one is undefined)."""
    out: dict[str, Any] = {}
    published = report.get("published_proof_sizes")
    for name, compute in (("anchor", anchor_ratios), ("issuance", issuance_ratios),
                          ("store", store_ratios), ("api", api_ratios), ("eas", eas_ratios)):
        entry = dig(report, "benchmarks", name)
        if entry_error(entry) is None:
            out[name] = compute(entry["result"])
    entry = dig(report, "benchmarks", "receipts")
    if entry_error(entry) is None:
        out["receipts"] = receipt_ratios(entry["result"], published)
    return out
