"""The plots of `scripts/bench.py`'s report: PNG figures of its ratios (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripts.bench_figures import _as_int, dig, entry_error, fmt_ratio, median_of
from scripts.bench_ratios import (
    API_PAIRS,
    EAS_METHODS,
    PUBLISHED_LABEL,
    STAGE_LABELS,
    compute_ratios,
    published_proofs,
)


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
