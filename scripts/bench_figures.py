"""Reading and formatting the figures of `scripts/bench.py`'s report: dig into it, take
a summary's median, divide two figures, write numbers, summaries and ratios as text, make
markdown tables, and say why a sub-benchmark has no result.

Shared by the ratios (`bench_ratios`), the sections (`bench_report_sections`), the summary
(`bench_report`) and the plots (`bench_plots`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


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
