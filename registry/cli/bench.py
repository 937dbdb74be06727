"""`certreg bench [--quick] ...`: run every benchmark (scripts/bench.py) from a checkout.

A thin wrapper: the benchmarks live in the repository's scripts/ (they start anvil, Kubo
and PostgreSQL and need the test corpus), so this works in a source checkout only. The
exit status is scripts/bench.py's: non-zero when a sub-benchmark failed or the quick
mode's time budget was exceeded.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from registry.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_SCRIPT = REPO_ROOT / "scripts" / "bench.py"


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser(
        "bench", help="run every benchmark, print JSON and write docs/benchmarks.md",
        description="Runs scripts/bench.py: every benchmark, JSON on stdout, a markdown "
                    "report with plots (--quick: small sizes for CI, written under "
                    "test-artifacts/benchmarks-quick/).")
    bench.add_argument("--quick", action="store_true", help="small sizes, 180 s budget (CI)")
    bench.add_argument("--runs", type=int, help="runs per figure (default 5)")
    bench.add_argument("--output", type=Path, help="markdown report path")
    bench.add_argument("--json-out", type=Path, help="combined JSON path")
    bench.add_argument("--only", help="comma-separated sub-benchmarks")
    bench.add_argument("--budget", type=float, help="seconds for the whole run")
    bench.set_defaults(handler=_bench)


def bench_command(args: argparse.Namespace) -> list[str]:
    command = [sys.executable, str(BENCH_SCRIPT)]
    if args.quick:
        command.append("--quick")
    for option in ("runs", "output", "json_out", "only", "budget"):
        value = getattr(args, option)
        if isinstance(value, Path):
            value = value.resolve()  # the script runs from the repository root
        if value is not None:
            command += ["--" + option.replace("_", "-"), str(value)]
    return command


def _bench(args: argparse.Namespace) -> int:
    if not BENCH_SCRIPT.is_file():
        raise ConfigurationError("certreg bench needs a source checkout: "
                                 f"{BENCH_SCRIPT} does not exist")
    return subprocess.run(bench_command(args), cwd=REPO_ROOT, check=False).returncode
