"""The markdown sections of `scripts/bench.py`'s report: one renderer per benchmark
(a table of its figures and their ratios, or its error row), and the machine's.
"""

from __future__ import annotations

from scripts.bench_figures import (
    _as_int,
    _mean_range,
    dig,
    entry_error,
    error_rows,
    flatten_numbers,
    fmt,
    fmt_ratio,
    fmt_summary,
    median_of,
    ratio,
    table,
)
from scripts.bench_ratios import (
    API_PAIRS,
    EAS_METHODS,
    ISSUANCE_STAGES,
    PUBLISHED_LABEL,
    STAGE_LABELS,
    STORE_DIRECTIONS,
    VERIFY_METHODS,
    anchor_ratios,
    api_ratios,
    eas_ratios,
    issuance_ratios,
    published_proofs,
    receipt_ratios,
    store_ratios,
)


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
    lines += _revocation_floor_lines(result)
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


def _revocation_floor_lines(result: dict) -> list[str]:
    """scripts/bench_gas_floor.py's figures, beside ours and EAS's from the same chain."""
    floor = dig(result, "revocation_floor", "gas", default={}) or {}
    revocations = dig(result, "revocation_gas", default={}) or {}
    sizes = sorted((n for n in floor if isinstance(floor[n], dict)), key=_as_int)
    if not sizes:
        return []
    lines = ["", *table(
        ["documents in the batch", "unavoidable: intrinsic + calldata + one new slot",
         "floor without pause/operator/retirement checks", "floor with every guarantee",
         "ours: revoke", "EAS revoke", "ratio EAS/floor"],
        [[fmt(_as_int(n)), _mean_range(dig(floor[n], "unguarded", "unavoidable")),
          _mean_range(dig(floor[n], "unguarded")), _mean_range(dig(floor[n], "floor")),
          _mean_range(dig(revocations, n, "ours")), _mean_range(dig(revocations, n, "eas_revoke")),
          fmt_ratio(ratio(dig(revocations, n, "eas_revoke", "mean"),
                          dig(floor[n], "floor", "mean")))]
         for n in sizes])]
    many = [n for n in sizes if isinstance(floor[n].get("floor_many"), dict)]
    if many:
        lines += ["", *table(
            ["documents in the batch", "revocations per transaction",
             "unavoidable per revocation", "floor revokeMany per revocation (multiproof length)",
             "ours: revokeMany per revocation", "EAS multiRevoke per revocation"],
            [[fmt(_as_int(n)), fmt(dig(floor[n], "floor_many", "revocations")),
              fmt(dig(floor[n], "floor_many", "unavoidable_per_revocation")),
              f"{fmt(dig(floor[n], 'floor_many', 'gas_per_revocation'))} "
              f"({fmt(dig(floor[n], 'floor_many', 'multiproof_length'))})",
              fmt(dig(revocations, n, "ours_revoke_many", "gas_per_revocation")),
              fmt(dig(revocations, n, "eas_multi_revoke", "gas_per_revocation"))]
             for n in many])]
    lines += ["", "_The revocation floor (`scripts/bench_gas_floor.py`, same chain): "
              "`scripts/gas_floor/RevocationFloor.sol` keeps exactly our revocation's "
              "guarantees (pause, the operator's issuer, issuer not retired, the batch's own "
              "issuer, the inclusion proof, one irreversible record, one event) and nothing "
              "else. *Unavoidable* is what no code can go below: 21,000 per transaction, its "
              "calldata (16 gas per non-zero byte, EIP-2028) and one new storage slot per "
              "revoked document (22,100, EIP-2200 + EIP-2929). EAS revoke rewrites a slot its "
              "attestation already wrote (5,000), so where the floor is above EAS no contract "
              "that stores a revocation per document can match it._"]
    return lines

