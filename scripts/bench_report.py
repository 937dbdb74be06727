"""Rendering of `scripts/bench.py`'s combined JSON: ratios, the markdown report, the plots.

Everything here except `make_plots` is a pure function of the report dict, so it can be
tested without running a benchmark. Every figure in a table comes from that dict, i.e.
from the run that wrote it; the only figures that do not are the published proof sizes,
which come from docs/published_proof_sizes.json and are labelled as such.

The report (see `scripts/bench.py`):
    {"mode", "runs", "command", "started_at", "total_seconds", "budget_seconds",
     "machine": {...}, "versions": {...}, "published_proof_sizes": {...},
     "benchmarks": {name: {"ok", "wall_seconds", "command", "result" | "error", ...}}}

The pieces: `bench_figures` (reading and formatting figures), `bench_ratios` (the ratios),
`bench_report_sections` (one markdown section per benchmark), `bench_plots` (the figures);
here, the summary and the whole document. Everything named in `__all__` is importable
from here, as before the split.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The pieces are imported as `scripts.*`: scripts/bench.py and pytest put the repository
# on sys.path, a direct import of this file may not.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts.bench_figures import (  # noqa: E402
    _as_int,
    dig,
    entry_error,
    fmt,
    fmt_ratio,
    median_of,
    ratio,
    status_text,
    table,
)
from scripts.bench_plots import make_plots  # noqa: E402
from scripts.bench_ratios import (  # noqa: E402
    EAS_METHODS,
    PUBLISHED_LABEL,
    anchor_ratios,
    api_ratios,
    compute_ratios,
    eas_ratios,
    issuance_ratios,
    published_proofs,
    receipt_ratios,
    store_ratios,
)
from scripts.bench_report_sections import (  # noqa: E402
    section_anchor,
    section_api,
    section_cascade,
    section_eas,
    section_issuance,
    section_machine,
    section_receipts,
    section_store,
)

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


__all__ = [
    "PUBLISHED_LABEL", "SECTIONS", "TITLES", "anchor_ratios", "api_ratios", "compute_ratios",
    "eas_ratios", "fmt_ratio", "headline", "issuance_ratios", "make_plots", "ratio",
    "receipt_ratios", "render_markdown", "section_anchor", "section_api", "section_eas",
    "section_issuance", "section_receipts", "section_store", "slug", "store_ratios",
]
