"""Rendering of `scripts/bench.py`'s combined JSON: ratios, the markdown report, the plots.

Everything here except `make_plots` is a pure function of the report dict, so it can be
tested without running a benchmark. Every figure in a table comes from that dict, i.e.
from the run that wrote it; the only figures that do not are the published proof sizes,
which come from docs/published_proof_sizes.json and are labelled as such.

The report (see `scripts/bench.py`):
    {"mode", "runs", "command", "started_at", "total_seconds", "budget_seconds",
     "machine": {...}, "versions": {...}, "published_proof_sizes": {...},
     "benchmarks": {name: {"ok", "wall_seconds", "command", "result" | "error", ...}}}
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PUBLISHED_LABEL = "published, not measured"

# Section order and titles; `bench.py` runs the same names.
SECTIONS = (
    ("anchor", "Anchoring cost (ours): gas per document by batch size"),
    ("eas", "Anchoring cost against EAS"),
    ("issuance", "Issuance pipeline against the machine's limit"),
    ("store", "Content stores against the machine's limit"),
    ("api", "Verification API against a bare endpoint"),
    ("receipts", "Receipts: size and offline verification"),
    ("cascade", "Revocation cascade and alerts feed"),
)
TITLES = dict(SECTIONS)

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


# ------------------------------------------------------------------ helpers

def dig(value: Any, *keys: Any, default: Any = None) -> Any:
    """value[k1][k2]... or `default` when any step is missing or not a mapping."""
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def median_of(value: Any) -> float | None:
    """A number, or the median of a {"median", "min", "max"} summary."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return median_of(value.get("median"))
    return None


def ratio(numerator: Any, denominator: Any) -> float | None:
    """numerator / denominator of two numbers or summaries' medians; None when undefined."""
    a, b = median_of(numerator), median_of(denominator)
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        if magnitude >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def fmt_summary(value: Any, scale: float = 1.0) -> str:
    """`median [min-max]` of a summary dict (optionally scaled), or a plain number."""
    if isinstance(value, dict) and "median" in value:
        parts = [median_of(value.get(k)) for k in ("median", "min", "max")]
        if parts[0] is None:
            return "n/a"
        text = fmt(parts[0] * scale)
        if parts[1] is not None and parts[2] is not None:
            text += f" [{fmt(parts[1] * scale)}\u2013{fmt(parts[2] * scale)}]"
        return text
    number = median_of(value)
    return fmt(None if number is None else number * scale)


def fmt_ratio(value: float | None) -> str:
    """2.43\u00d7; below 0.1 also as a fraction, 0.0017\u00d7 (1/590), easier to read."""
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}\u00d7"
    if value >= 10:
        return f"{value:.1f}\u00d7"
    if value >= 0.1:
        return f"{value:.2f}\u00d7"
    if value <= 0:
        return f"{value:.2g}\u00d7"
    return f"{value:.2g}\u00d7 (1/{fmt(1 / value)})"


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(c).replace("|", "\\|").replace("\n", " ") for c in row]
        cells += [""] * (len(header) - len(cells))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


NOT_RUN = "not run in this invocation"


def entry_error(entry: dict | None) -> str | None:
    """Why a sub-benchmark has no result to show, or None when it has one."""
    if entry is None:
        return NOT_RUN
    if not entry.get("ok"):
        return str(entry.get("error") or "failed without a message")
    if not isinstance(entry.get("result"), dict):
        return "no JSON result"
    return None


def status_text(entry: dict | None) -> str:
    """'ok', 'not run in this invocation' (--only) or '**error**: why'."""
    error = entry_error(entry)
    if error is None:
        return "ok"
    return error if entry is None else f"**error**: {error}"


def error_rows(name: str, entry: dict | None, columns: int) -> list[str]:
    """A table consisting of one error row, for a section whose benchmark failed."""
    header = ["benchmark", "status"] + [""] * max(columns - 2, 0)
    return table(header, [[name, status_text(entry)]])


# ------------------------------------------------------------------- ratios

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


def flatten_numbers(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, number or summary) for every numeric leaf, summaries kept whole."""
    if isinstance(value, dict):
        if "median" in value and median_of(value) is not None:
            return [(prefix, value)]
        out = []
        for key, item in value.items():
            out += flatten_numbers(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            out += flatten_numbers(item, f"{prefix}[{i}]")
        return out
    if median_of(value) is not None:
        return [(prefix, value)]
    return []


EAS_METHODS = (("eas_attest", "attest"), ("eas_multi_attest", "multiAttest"),
               ("eas_timestamp", "timestamp"), ("eas_multi_timestamp", "multiTimestamp"))


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


def headline(name: str, entry: dict | None, published: dict | None) -> str:
    """One sentence for the summary table, from the same ratios as the sections."""
    if entry_error(entry) is not None:
        return ""
    result = entry["result"]
    if name == "anchor":
        ratios = anchor_ratios(result)["gas_per_document_vs_anchor_document"]
        if ratios:
            largest = max(ratios, key=int)
            return (f"batch of {int(largest):,}: gas per document "
                    f"{fmt_ratio(ratios[largest])} of anchorDocument's")
    if name == "issuance":
        value = issuance_ratios(result).get("end_to_end")
        return f"end to end at {fmt_ratio(value)} of single-core SHA-256 of the same bytes"
    if name == "store":
        value = store_ratios(result).get("20KB/kubo/store")
        return f"Kubo store of 20 KB documents at {fmt_ratio(value)} of single-core SHA-256"
    if name == "api":
        value = dig(api_ratios(result), "verify_by_hash", "rps")
        return f"verify-by-hash at {fmt_ratio(value)} of the bare endpoint's requests/s"
    if name == "receipts":
        ratios = receipt_ratios(result, published)["receipt_bytes_vs_published"]
        proofs = published_proofs(published)
        if ratios and proofs:
            largest = max(ratios, key=int)
            first = proofs[0]
            return (f"receipt at batch {int(largest):,}: {fmt_ratio(ratios[largest][first['id']])}"
                    f" the size of {first.get('label', first['id'])} ({PUBLISHED_LABEL})")
    if name == "cascade":
        run = dig(result, "cascade", "nmi_revocation")
        if run:
            first, whole = (dig(run, key, "median") for key in ("first_item_seconds", "seconds"))
            return (f"NMI certificate revoked: first of {fmt(run.get('affected'))} affected "
                    f"in {fmt(None if first is None else first * 1000)} ms, all in "
                    f"{fmt(whole)} s")
    if name == "eas":
        ratios = eas_ratios(result)
        gas = ratios.get("gas_per_certificate_eas_vs_ours")
        if isinstance(gas, dict) and gas:
            largest = max(gas, key=_as_int)
            best = {k: v for k, v in gas[largest].items() if v is not None}
            if best:
                method = min(best, key=best.get)
                label = dict(EAS_METHODS).get(method, method)
                return (f"batch of {_as_int(largest):,}: EAS's cheapest ({label}) costs "
                        f"{fmt_ratio(best[method])} our gas per document")
        elif ratios:
            path, value = next(iter(ratios.items()))
            return f"{path}: {fmt(value)}"
    return ""


# ------------------------------------------------------------------ sections

def section_anchor(entry: dict | None, plots: dict) -> list[str]:
    if entry_error(entry) is not None:
        return error_rows("anchor", entry, 5)
    result = entry["result"]
    single = dig(result, "single_document_gas")
    ratios = anchor_ratios(result)
    rows = [["1 (anchorDocument)", fmt_summary(single), fmt_summary(single), "1.00\u00d7", "0", ""]]
    for size, batch in sorted((dig(result, "batch", default={}) or {}).items(),
                              key=lambda item: int(item[0])):
        n = int(size)
        per_batch = batch.get("gas_per_batch")
        rows.append([f"{n:,} (anchorBatch)", fmt_summary(per_batch),
                     fmt_summary(per_batch, 1 / n),
                     fmt_ratio(ratios["gas_per_document_vs_anchor_document"].get(size)),
                     fmt(batch.get("proof_length")),
                     fmt_summary(batch.get("merkle_build_seconds"), 1000)])
    lines = table(["documents", "gas per transaction", "gas per document",
                   "ratio to anchorDocument (per document)", "proof length",
                   "Merkle build (ms)"], rows)
    tps = dig(result, "anchoring_tx_per_second", default={}) or {}
    if tps:
        lines += ["", *table(
            ["anchoring transactions/s", "sequential", "pipelined", "ratio pipelined/sequential"],
            [[f"{fmt(tps.get('transactions_per_run'))} per run",
              fmt_summary(tps.get("sequential")), fmt_summary(tps.get("pipelined")),
              fmt_ratio(ratios["pipelined_vs_sequential_tx_per_s"])]])]
    if "anchor" in plots:
        lines += ["", f"![gas per document by batch size]({plots['anchor']})"]
    return lines


def section_eas(entry: dict | None, plots: dict) -> list[str]:
    if entry_error(entry) is not None:
        return error_rows("eas", entry, 2)
    result = entry["result"]
    if not isinstance(dig(result, "gas_per_certificate"), dict):
        return section_generic(result, plots, "eas")
    ratios = eas_ratios(result)
    rows = []
    for n, row in sorted(result["gas_per_certificate"].items(), key=lambda i: _as_int(i[0])):
        if not isinstance(row, dict):
            continue
        cells = [fmt(_as_int(n)), fmt_summary(row.get("ours_batch"))]
        for method, _ in EAS_METHODS:
            sampled = dig(row, "detail", method, "sampled")
            cells += [fmt_summary(row.get(method)) + (" (sampled)" if sampled else ""),
                      fmt_ratio(dig(ratios, "gas_per_certificate_eas_vs_ours", str(n), method))]
        rows.append(cells)
    header = ["documents", "ours: anchorBatch gas per document"]
    for _, label in EAS_METHODS:
        header += [f"EAS {label} gas per document", "ratio EAS/ours"]
    lines = table(header, rows)
    single = result.get("ours_anchor_document_gas")
    if single is not None:
        lines += ["", f"Ours for a single document (`anchorDocument`): {fmt_summary(single)} gas."]
    revocations = dig(result, "revocation_gas", default={}) or {}
    if revocations:
        lines += ["", *table(
            ["documents in the batch", "ours: revoke gas (mean [min\u2013max])",
             "EAS revoke gas (mean [min\u2013max])", "ratio EAS/ours"],
            [[fmt(_as_int(n)), _mean_range(dig(row, "ours")), _mean_range(dig(row, "eas_revoke")),
              fmt_ratio(dig(ratios, "revocation_gas_eas_vs_ours", str(n)))]
             for n, row in sorted(revocations.items(), key=lambda i: _as_int(i[0]))
             if isinstance(row, dict)])]
        batched = [(n, row) for n, row in sorted(revocations.items(), key=lambda i: _as_int(i[0]))
                   if isinstance(row, dict) and isinstance(row.get("ours_revoke_many"), dict)]
        if batched:
            lines += ["", *table(
                ["documents in the batch", "revocations per transaction",
                 "ours: revokeMany gas per revocation (multiproof length)",
                 "EAS multiRevoke gas per revocation", "ratio EAS/ours"],
                [[fmt(_as_int(n)), fmt(dig(row, "ours_revoke_many", "revocations")),
                  f"{fmt(dig(row, 'ours_revoke_many', 'gas_per_revocation'))} "
                  f"({fmt(dig(row, 'ours_revoke_many', 'multiproof_length'))})",
                  fmt(dig(row, "eas_multi_revoke", "gas_per_revocation")),
                  fmt_ratio(dig(ratios, "batched_revocation_gas_eas_vs_ours", str(n)))]
                 for n, row in batched])]
    verify = dig(result, "verify_calls_per_s")
    if isinstance(verify, dict):
        lines += ["", *table(
            ["verification", "ours: checks/s", "EAS: checks/s", "ratio ours/EAS",
             "eth_calls per check (ours / EAS)"],
            [["eth_call over loopback", fmt_summary(dig(verify, "ours", "checks_per_second")),
              fmt_summary(dig(verify, "eas", "checks_per_second")),
              fmt_ratio(ratios["verify_checks_per_s_ours_vs_eas"]),
              f"{fmt(dig(verify, 'ours', 'eth_calls_per_check'))} / "
              f"{fmt(dig(verify, 'eas', 'eth_calls_per_check'))}"]])]
    versions = result.get("versions")
    if isinstance(versions, dict) and versions:
        lines += ["", *table(["EAS run", "version"], [[k, str(v)] for k, v in versions.items()])]
    matches = dig(result, "compiler", "eas", "matches_published_artifact")
    if isinstance(matches, dict):
        lines += ["", "EAS bytecode compiled here matches the published npm artifact: "
                  + ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in matches.items()) + "."]
    clique = result.get("clique")
    if isinstance(clique, dict):
        lines += ["", f"geth Clique run: gas identical to anvil: "
                  f"{fmt(clique.get('gas_identical_to_anvil'))}."]
    if "eas" in plots:
        lines += ["", f"![EAS gas per document as a ratio to ours]({plots['eas']})"]
    return lines


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _mean_range(value: Any) -> str:
    if not isinstance(value, dict) or median_of(value.get("mean")) is None:
        return fmt_summary(value)
    text = fmt(median_of(value["mean"]))
    if median_of(value.get("min")) is not None and median_of(value.get("max")) is not None:
        text += f" [{fmt(median_of(value['min']))}\u2013{fmt(median_of(value['max']))}]"
    return text


def section_generic(result: dict, plots: dict, name: str) -> list[str]:
    """A result of unknown layout: its record lists as tables, its ratios, its numbers."""
    lines: list[str] = []
    for key, value in result.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(k for record in value for k in record))
            lines += [f"**{key}**", "", *table(columns, [
                [fmt_summary(record.get(c)) if median_of(record.get(c)) is not None
                 else str(record.get(c, "")) for c in columns] for record in value]), ""]
    numbers = flatten_numbers({k: v for k, v in result.items()
                               if not (isinstance(v, list) and v
                                       and all(isinstance(x, dict) for x in v))})
    ratios = [(p, v) for p, v in numbers if "ratio" in p.lower()]
    others = [(p, v) for p, v in numbers if "ratio" not in p.lower()]
    if ratios:
        lines += [*table([f"ratio (as {name} reports it)", "value"],
                         [[p, fmt_summary(v)] for p, v in ratios]), ""]
    if others:
        lines += table(["figure", "median [min\u2013max]"],
                       [[p, fmt_summary(v)] for p, v in others])
    if not lines:
        lines = [f"{name} returned no figures."]
    if name in plots:
        lines += ["", f"![{name} ratios]({plots[name]})"]
    return lines


def section_issuance(entry: dict | None, plots: dict) -> list[str]:
    if entry_error(entry) is not None:
        return error_rows("issuance", entry, 4)
    result = entry["result"]
    docs = dig(result, "docs_per_s", default={}) or {}
    mb = dig(result, "mb_per_s", default={}) or {}
    mean_bytes = median_of(dig(result, "document_bytes", "mean"))
    ratios = issuance_ratios(result)
    rows = []
    for stage in ISSUANCE_STAGES:
        if stage not in docs:
            continue
        mb_text = fmt_summary(mb[stage]) if stage in mb else (
            fmt_summary(docs[stage], mean_bytes / 1e6) if mean_bytes else "n/a")
        rows.append([STAGE_LABELS.get(stage, stage), fmt_summary(docs[stage]), mb_text,
                     fmt_ratio(ratios.get(stage))])
    sha = dig(result, "sha256_single_core_same_bytes", default={}) or {}
    rows.append(["**SHA-256, one core, same bytes** (the comparison)",
                 fmt_summary(sha.get("docs_per_s_summary", sha.get("docs_per_s"))),
                 fmt_summary(sha.get("mb_per_s_summary", sha.get("mb_per_s"))), "1.00\u00d7"])
    lines = table(["stage", "documents/s", "MB/s", "ratio to SHA-256"], rows)
    lines += ["", *table(["documents per run", "batch size", "mean document (bytes)",
                          "peak memory (RSS, MB)", "gas per document", "runs"],
                         [[fmt(result.get("documents_per_run")), fmt(result.get("batch_size")),
                           fmt(mean_bytes), fmt_summary(result.get("peak_rss_mb")),
                           fmt_summary(result.get("gas_per_document")), fmt(result.get("runs"))]])]
    notes = result.get("notes") or []
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    if "issuance" in plots:
        lines += ["", f"![issuance stages against SHA-256]({plots['issuance']})"]
    return lines


def section_store(entry: dict | None, plots: dict) -> list[str]:
    if entry_error(entry) is not None:
        return error_rows("store", entry, 4)
    result = entry["result"]
    sha = dig(result, "limit", "sha256_single_core_MB_per_s")
    ratios = store_ratios(result)
    rows = []
    for workload, value in result.items():
        if not isinstance(value, dict) or "documents_per_run" not in value:
            continue
        for store in ("embedded", "kubo"):
            for direction in STORE_DIRECTIONS:
                key = f"{workload}/{store}/{direction}"
                if key in ratios:
                    rows.append([workload, store, direction,
                                 fmt_summary(dig(value, store, f"{direction}_docs_per_s")),
                                 fmt_summary(dig(value, store, f"{direction}_MB_per_s")),
                                 fmt_ratio(ratios[key])])
    buffer = dig(result, "limit", "buffer_MiB")
    rows.append([f"{fmt(buffer)} MiB buffer" if buffer is not None else "one buffer",
                 "**SHA-256, one core** (the comparison)", "", "", fmt_summary(sha),
                 "1.00\u00d7"])
    return table(["documents", "store", "direction", "documents/s", "MB/s",
                  "ratio to SHA-256"], rows)


def section_cascade(entry: dict | None, plots: dict) -> list[str]:
    """scripts/bench_trace.py --cascade-only: the cascades (in a fresh process) and the
    alerts feed over HTTP after the NMI certificate is revoked."""
    if entry_error(entry) is not None:
        return error_rows("cascade", entry, 6)
    result = entry["result"]
    graph = dig(result, "graph", default={}) or {}
    lines = [f"1 NMI certificate <- {fmt(graph.get('laboratory_standards'))} laboratory "
             f"standards <- {fmt(graph.get('instrument_certificates'))} instrument "
             f"certificates ({fmt(graph.get('indexed_documents'))} indexed documents, "
             "PostgreSQL).", ""]
    rows = []
    for key, label in (("nmi_revocation", "NMI certificate revoked"),
                       ("lab_revocation", "one laboratory standard revoked")):
        run = dig(result, "cascade", key)
        if run:
            rows.append([label, fmt(run.get("affected")),
                         fmt_summary(run.get("first_item_seconds"), 1000),
                         fmt_summary(run.get("seconds"), 1000),
                         fmt(run.get("peak_rss_growth_mb")), fmt(run.get("tracemalloc_peak_mb"))])
    feed = dig(result, "http", "alerts_feed_after_nmi_revocation")
    if feed:
        rows.append(["GET /v1/alerts after the NMI revocation", fmt(feed.get("lines")),
                     fmt_summary(feed.get("first_line_seconds"), 1000),
                     fmt_summary(feed.get("seconds"), 1000),
                     fmt_summary(feed.get("server_peak_rss_growth_mb")), ""])
    lines += table(["cascade", "affected", "first (ms)", "all (ms)", "peak RSS growth (MB)",
                    "tracemalloc peak (MB)"], rows)
    return lines


def section_api(entry: dict | None, plots: dict) -> list[str]:
    if entry_error(entry) is not None:
        return error_rows("api", entry, 5)
    result = entry["result"]
    http = dig(result, "http", default={}) or {}
    ratios = api_ratios(result)
    rows = []
    for ours, bare, label, bare_label in API_PAIRS:
        if ours not in http:
            continue  # not measured in this run (e.g. an older result)
        rows.append([label, bare_label,
                     f"{fmt_summary(dig(http, ours, 'rps'))} vs "
                     f"{fmt_summary(dig(http, bare, 'rps'))}",
                     fmt_ratio(dig(ratios, ours, "rps")),
                     f"{fmt_summary(dig(http, ours, 'p50_ms'))} vs "
                     f"{fmt_summary(dig(http, bare, 'p50_ms'))}",
                     fmt_ratio(dig(ratios, ours, "p50_ms")),
                     f"{fmt_summary(dig(http, ours, 'p99_ms'))} vs "
                     f"{fmt_summary(dig(http, bare, 'p99_ms'))}",
                     fmt_ratio(dig(ratios, ours, "p99_ms"))])
    lines = table(["endpoint", "compared with", "requests/s (ours vs bare)", "ratio",
                   "p50 ms (ours vs bare)", "ratio", "p99 ms (ours vs bare)", "ratio"], rows)
    parameters = dig(result, "parameters", default={}) or {}
    lines += ["", *table(
        ["certificates indexed", "upload (bytes)", "wrk connections", "seconds per run", "runs",
         "database", "indexer catch-up (events/s)"],
        [[fmt(dig(result, "dataset", "indexed_documents")),
          fmt(dig(result, "dataset", "upload_bytes")), fmt(parameters.get("connections")),
          fmt(parameters.get("seconds_per_run")), fmt(parameters.get("runs")),
          str(result.get("database", "")),
          fmt_summary(dig(result, "indexer", "catch_up_events_per_second"))]])]
    sizes = [size for size in result.get("sizes") or [] if isinstance(size, dict)]
    if len(sizes) > 1:
        lines += ["", "Requests/s as a fraction of the bare endpoint's, by registry size "
                  "(the same servers; synthetic rows added between sizes):", "",
                  *size_table(sizes)]
    if "api" in plots:
        lines += ["", f"![verification API against a bare endpoint]({plots['api']})"]
    return lines


def size_table(sizes: list[dict]) -> list[str]:
    """Per registry size: each endpoint's requests/s over its bare endpoint's, and the
    verify-by-hash p50; the last row compares the largest size with the smallest."""
    measured = [pair for pair in API_PAIRS if all(pair[0] in dig(s, "http", default={})
                                                  for s in sizes)]
    rows = [[fmt(dig(size, "dataset", "indexed_documents")),
             *(fmt_ratio(ratio(dig(size, "http", ours, "rps"), dig(size, "http", bare, "rps")))
               for ours, bare, _, _ in measured),
             fmt_summary(dig(size, "http", "verify_by_hash", "p50_ms"))] for size in sizes]
    first, last = sizes[0], sizes[-1]
    rows.append([f"{fmt(dig(last, 'dataset', 'indexed_documents'))} vs "
                 f"{fmt(dig(first, 'dataset', 'indexed_documents'))} (p50 ratio)",
                 *("" for _ in measured),
                 fmt_ratio(ratio(dig(last, "http", "verify_by_hash", "p50_ms"),
                                 dig(first, "http", "verify_by_hash", "p50_ms")))])
    return table(["certificates indexed", *(label for _, _, label, _ in measured),
                  "verify-by-hash p50 ms"], rows)


def section_receipts(entry: dict | None, published: dict | None, plots: dict) -> list[str]:
    proofs = published_proofs(published)
    published_table = table(
        ["proof", "bytes", "status", "what", "source"],
        [[p.get("label", p["id"]), fmt(p["value"]), PUBLISHED_LABEL, p.get("what", ""),
          f"[{p.get('system', 'source')}]({p.get('url', '')}) — \u201c{p.get('quote', '')}\u201d"]
         for p in proofs])
    about = dig(published, "about")
    tail = ["", f"**Published proof sizes ({PUBLISHED_LABEL})**, from "
            "`docs/published_proof_sizes.json`:", ""]
    if proofs:
        tail += published_table
    else:
        error = dig(published, "error") or "the file lists no proof"
        tail += [f"No published proof sizes: {error}."]
    if about:
        tail += ["", f"_{about}_"]
    if entry_error(entry) is not None:
        return error_rows("receipts", entry, 4) + tail
    result = entry["result"]
    ratios = receipt_ratios(result, published)
    batches = sorted((dig(result, "batches", default={}) or {}).items(),
                     key=lambda item: int(item[0]))
    size_rows = []
    for size, batch in batches:
        over = batch.get("receipt_bytes_over_sampled_members") or {}
        size_rows.append([f"{int(size):,}", fmt(batch.get("proof_length")),
                          fmt(batch.get("receipt_bytes")),
                          f"{fmt(over.get('min'))}\u2013{fmt(over.get('max'))}" if over else "n/a",
                          fmt(batch.get("receipt_bytes_zlib")),
                          *[fmt_ratio(ratios["receipt_bytes_vs_published"][size].get(p["id"]))
                            for p in proofs]])
    lines = table(["batch size", "proof length", "receipt bytes (as written)",
                   "range over sampled members", "zlib bytes",
                   *[f"ratio to {p.get('label', p['id'])} ({PUBLISHED_LABEL})" for p in proofs]],
                  size_rows)
    time_rows = []
    for size, batch in batches:
        for method, label in VERIFY_METHODS:
            timing = dig(batch, "verification", method)
            if not isinstance(timing, dict):
                continue
            time_rows.append([
                f"{int(size):,}", label,
                fmt_summary(timing.get("seconds_per_verification"), 1000),
                fmt_summary(timing.get("verifications_per_second")),
                fmt(timing.get("rpc_requests_per_verification")),
                fmt_ratio(dig(ratios, "verify_seconds_vs_smallest_batch", size, method))])
    lines += ["", *table(["batch size", "verification", "ms per verification",
                          "verifications/s", "JSON-RPC requests",
                          "time ratio to the smallest batch"], time_rows)]
    if "receipts" in plots:
        lines += ["", f"![receipt size by batch size]({plots['receipts']})"]
    notes = result.get("notes") or []
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return lines + tail


MACHINE_LABELS = {"cpu_model": "CPU", "logical_cpus": "logical CPUs",
                  "cpus_available": "CPUs available to the run", "physical_cores": "cores",
                  "memory_gib": "memory (GiB)", "kernel": "kernel", "platform": "platform",
                  "load_average_at_start": "load average at start (1, 5, 15 min)"}


def section_machine(report: dict) -> list[str]:
    machine = report.get("machine") or {}
    rows = [[MACHINE_LABELS.get(key, key.replace("_", " ")),
             fmt(value) if not isinstance(value, str) else value]
            for key, value in machine.items()]
    lines = table(["machine", ""], rows) if rows else ["No machine information."]
    versions = report.get("versions") or {}
    vrows = []
    for key, value in versions.items():
        if isinstance(value, dict):
            vrows += [[f"{key}: {k}", str(v)] for k, v in value.items()]
        else:
            vrows.append([key, str(value)])
    if vrows:
        lines += ["", *table(["software", "version"], vrows)]
    return lines


def render_markdown(report: dict, plots: dict[str, str] | None = None) -> str:
    """The whole report as markdown; `plots` maps section names to image paths."""
    plots = plots or {}
    benchmarks = report.get("benchmarks") or {}
    published = report.get("published_proof_sizes")
    mode = report.get("mode", "?")
    lines = ["# certreg benchmarks", ""]
    lines += [f"Generated by `{report.get('command', 'scripts/bench.py')}` "
              f"({mode} mode, {fmt(report.get('runs'))} runs per figure) "
              f"at {report.get('started_at', '?')} in {fmt(report.get('total_seconds'))} s"
              + (f" (budget {fmt(report.get('budget_seconds'))} s: "
                 f"{'within' if report.get('within_budget') else '**exceeded**'})"
                 if report.get("budget_seconds") else "") + ".", ""]
    lines += ["These machines are shared and noisy, so what we compare are **ratios**: each "
              "figure is set against a comparison measured in the same run (single-core SHA-256 "
              "of the same bytes, a bare FastAPI endpoint served the same way, single-document "
              "anchoring, EAS). Absolute values are the median of the runs with [min\u2013max] "
              "beside them; ratios are of medians. Nothing here is hard-coded: every measured "
              "figure comes from the run that wrote this file (its JSON is beside it), and the "
              f"only other figures, other systems' proof sizes, are labelled *{PUBLISHED_LABEL}*.",
              ""]
    if mode == "quick":
        lines += ["> **Quick mode** (CI): small sizes, so the ratios are indicative only. "
                  "The full mode (`scripts/bench.py`) is the one to quote.", ""]
    if (median_of(report.get("runs")) or 0) < 5:
        lines += ["> **Fewer than 5 runs per figure**: not valid for comparison.", ""]
    rows = []
    for name, title in SECTIONS:
        entry = benchmarks.get(name)
        rows.append([f"[{name}](#{slug(title)})", status_text(entry),
                     fmt(dig(entry, "wall_seconds")), headline(name, entry, published)])
    for name, entry in benchmarks.items():  # any the sections do not know
        if name not in TITLES:
            rows.append([name, status_text(entry), fmt(dig(entry, "wall_seconds")), ""])
    lines += ["## Summary", "", *table(["benchmark", "status", "wall time (s)", "headline"],
                                       rows), ""]
    renderers = {"anchor": section_anchor, "eas": section_eas, "issuance": section_issuance,
                 "store": section_store, "api": section_api, "cascade": section_cascade}
    for name, title in SECTIONS:
        entry = benchmarks.get(name)
        lines += [f"## {title}", ""]
        command = dig(entry, "command")
        if command:
            lines += [f"`{' '.join(command)}`", ""]
        if name == "receipts":
            lines += section_receipts(entry, published, plots)
        else:
            lines += renderers[name](entry, plots)
        lines.append("")
    lines += ["## Machine and versions", "", *section_machine(report), ""]
    failed = [(n, e) for n, e in benchmarks.items() if entry_error(e) is not None]
    if failed:
        lines += ["## Errors", ""]
        for name, entry in failed:
            lines += [f"### {name}", "", f"{entry_error(entry)}", ""]
            tail = (entry or {}).get("stderr_tail")
            if tail:
                lines += ["```", tail.rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def slug(title: str) -> str:
    """GitHub's heading anchor."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


# -------------------------------------------------------------------- plots

def make_plots(report: dict, image_dir: Path, link_prefix: str) -> dict[str, str]:
    """PNG figures (matplotlib, Agg) of the ratios into `image_dir`; returns the markdown
    links by section. A section without data gets no figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image_dir.mkdir(parents=True, exist_ok=True)
    benchmarks = report.get("benchmarks") or {}
    ratios = compute_ratios(report)
    links: dict[str, str] = {}

    def save(fig: Any, name: str, section: str) -> None:
        fig.tight_layout()
        fig.savefig(image_dir / f"{name}.png", dpi=110)
        plt.close(fig)
        links[section] = f"{link_prefix}/{name}.png"

    issuance = ratios.get("issuance") or {}
    values = [(STAGE_LABELS.get(s, s), v) for s, v in issuance.items() if v]
    if values:
        fig, ax = plt.subplots(figsize=(7, 0.4 * len(values) + 1.2))
        ax.barh([label for label, _ in values][::-1], [v for _, v in values][::-1],
                color="#4C72B0")
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("documents/s as a ratio to single-core SHA-256 of the same bytes (log)")
        ax.set_title("Issuance stages")
        save(fig, "issuance_vs_sha256", "issuance")

    api = ratios.get("api") or {}
    bars = [(f"{label}: {metric_label}", dig(api, ours, metric))
            for ours, _, label, _ in API_PAIRS
            for metric, metric_label in (("rps", "requests/s"), ("p50_ms", "p50 latency"),
                                         ("p99_ms", "p99 latency"))
            if dig(api, ours, metric)]
    if bars:
        fig, ax = plt.subplots(figsize=(7.5, 0.4 * len(bars) + 1.3))
        names, values = [b[0] for b in bars][::-1], [b[1] for b in bars][::-1]
        ax.barh(names, values, color=["#55A868" if "requests" in n else "#DD8452"
                                      for n in names])
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=0.8)
        for y, value in enumerate(values):
            ax.annotate(fmt_ratio(value), (value, y), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=7)
        ax.set_xlim(min(*values, 1.0) / 3, max(*values, 1.0) * 5)
        ax.set_xlabel("ours / bare FastAPI endpoint, same run (log)")
        ax.set_title("Verification API against a bare endpoint")
        save(fig, "api_vs_bare", "api")

    receipts = dig(benchmarks, "receipts", "result", "batches")
    if entry_error(benchmarks.get("receipts")) is None and receipts:
        sizes = sorted(receipts, key=int)
        fig, ax = plt.subplots(figsize=(7, 3.6))
        ax.plot([int(s) for s in sizes], [receipts[s].get("receipt_bytes") for s in sizes],
                marker="o", label="certreg receipt (measured)")
        for i, proof in enumerate(published_proofs(report.get("published_proof_sizes"))):
            ax.axhline(median_of(proof["value"]), linestyle="--", linewidth=0.9,
                       label=f"{proof.get('label', proof['id'])} ({PUBLISHED_LABEL})",
                       color=plt.cm.tab10(1 + i % 9))
        ax.set_xscale("log")
        ax.set_xlabel("documents in the batch (log)")
        ax.set_ylabel("bytes")
        ax.set_title("Receipt size")
        ax.legend(fontsize=7)
        save(fig, "receipt_size", "receipts")

    anchor = dig(benchmarks, "anchor", "result")
    gas = dig(ratios, "anchor", "gas_per_document_vs_anchor_document") or {}
    if anchor and gas:
        sizes = sorted(gas, key=int)
        fig, ax = plt.subplots(figsize=(7, 3.4))
        ax.plot([int(s) for s in sizes], [gas[s] for s in sizes], marker="o")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("documents in the batch (log)")
        ax.set_ylabel("gas per document / anchorDocument gas")
        ax.set_title("Anchoring cost per document")
        save(fig, "anchor_gas_ratio", "anchor")

    gas = dig(ratios, "eas", "gas_per_certificate_eas_vs_ours")
    if isinstance(gas, dict) and gas:
        sizes = sorted(gas, key=_as_int)
        fig, ax = plt.subplots(figsize=(7, 3.6))
        for method, label in EAS_METHODS:
            points = [(_as_int(n), gas[n].get(method)) for n in sizes
                      if gas[n].get(method) is not None]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                        label=f"EAS {label}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("documents (log)")
        ax.set_ylabel("EAS gas per document / ours (log)")
        ax.set_title("Anchoring cost against EAS")
        if ax.lines:
            ax.legend(fontsize=7)
        save(fig, "eas_gas_ratio", "eas")
    return links
