#!/usr/bin/env python
"""Every benchmark in one command: JSON on stdout, a markdown report with plots on disk.

Runs each sub-benchmark (scripts/bench_<name>.py) as a subprocess with quick or full
arguments and --runs N, collects its JSON, adds the machine (CPU, cores, memory) and
the versions used, prints the combined JSON and writes:

* full mode: docs/benchmarks.md, its figures under docs/benchmarks/ and its JSON as
  docs/benchmarks.json;
* --quick (CI, small sizes, a time budget of 180 s including starting anvil, Kubo and
  PostgreSQL): the same under test-artifacts/benchmarks-quick/, never over the committed
  report.

A sub-benchmark that is missing, fails, prints no JSON or runs out of time becomes an
error entry (and an error row in the report); the others still run. The exit status is
1 when any sub-benchmark failed or the budget was exceeded, so CI fails.

Usage: scripts/bench.py [--quick] [--runs 5] [--output FILE.md] [--json-out FILE]
                        [--only name,...] [--budget SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts"
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(SCRIPTS))

import bench_report  # noqa: E402

FULL_OUTPUT = REPO_ROOT / "docs" / "benchmarks.md"
QUICK_OUTPUT = REPO_ROOT / "test-artifacts" / "benchmarks-quick" / "benchmarks.md"
PUBLISHED_PROOF_SIZES = REPO_ROOT / "docs" / "published_proof_sizes.json"
QUICK_BUDGET_SECONDS = 180.0
FULL_TIMEOUT_SECONDS = 4 * 3600.0  # per sub-benchmark in full mode
INTERRUPT_GRACE_SECONDS = 30.0  # after SIGINT, for a timed-out benchmark to stop its nodes
PACKAGES = ("web3", "eth-abi", "fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy",
            "alembic", "psycopg", "lxml", "signxml", "cryptography", "ipfshttpclient",
            "py-solc-x", "matplotlib", "numpy")


@dataclass(frozen=True)
class SubBenchmark:
    name: str
    script: str
    quick: tuple[str, ...]
    full: tuple[str, ...] = ()

    def command(self, quick: bool, runs: int) -> list[str]:
        return [sys.executable, f"scripts/{self.script}",
                *(self.quick if quick else self.full), "--runs", str(runs)]


# Quick arguments keep --runs (>= 5) but shrink the sizes so the whole quick run fits in
# QUICK_BUDGET_SECONDS on a 2-core machine; full arguments are the sizes.
BENCHMARKS = (
    SubBenchmark("receipts", "bench_receipts.py", ("--quick",)),
    SubBenchmark("anchor", "bench_anchor.py", ("--sizes", "1,100,1000", "--txs", "20"),
                 ("--sizes", "1,100,1000,10000,100000")),
    SubBenchmark("eas", "bench_eas.py", ("--quick",)),
    SubBenchmark("store", "bench_store.py", ("--quick",)),
    SubBenchmark("issuance", "bench_issuance.py", ("--n", "100", "--batch-size", "50"),
                 ("--n", "10000", "--batch-size", "1000")),
    SubBenchmark("api", "bench_api.py",
                 # Quick: one size (each endpoint, cached and `fresh=true`, next to its
                 # bare one); growth with the registry's size is for the full run.
                 ("--sizes", "1000", "--real", "20", "--seconds", "1", "--warmup", "1"),
                 ("--sizes", "10000,100000,1000000", "--seconds", "5")),
    # The revocation cascade: quick 20 x 50 (about 1,000 certificates, a few seconds),
    # full the 1 NMI <- 1,000 standards <- 1,000 instruments each (1,001,001).
    SubBenchmark("cascade", "bench_trace.py",
                 ("--cascade-only", "--labs", "20", "--instruments", "50", "--real", "4",
                  "--seconds", "1", "--warmup", "1"),
                 ("--cascade-only", "--labs", "1000", "--instruments", "1000")),
)
BY_NAME = {b.name: b for b in BENCHMARKS}


# ------------------------------------------------------------------ running

def parse_json_output(stdout: str) -> dict:
    """The JSON object a sub-benchmark printed (the whole stdout, else the first object
    that starts a line: some print progress before it)."""
    text = stdout.strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
        decoder = json.JSONDecoder()
        for match in re.finditer(r"^\{", stdout, re.MULTILINE):
            try:
                value, _ = decoder.raw_decode(stdout[match.start():])
                break
            except ValueError:
                continue
    if not isinstance(value, dict):
        raise ValueError("no JSON object on stdout")
    return value


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGINT first (Python runs its finally blocks: nodes stopped, temp dirs removed),
    then SIGKILL to the whole process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(INTERRUPT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_subbenchmark(spec: SubBenchmark, quick: bool, runs: int, timeout: float) -> dict:
    command = spec.command(quick, runs)
    shown = ["scripts/" + spec.script, *command[2:]]
    entry: dict = {"name": spec.name, "script": f"scripts/{spec.script}", "command": shown,
                   "ok": False, "wall_seconds": 0.0}
    if not (REPO_ROOT / "scripts" / spec.script).is_file():
        entry["error"] = f"scripts/{spec.script} does not exist"
        return entry
    if timeout <= 0:
        entry["error"] = "not run: the time budget was used up before it started"
        return entry
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        stdout, stderr = proc.communicate()
        entry["wall_seconds"] = round(time.perf_counter() - started, 1)
        entry["error"] = f"timed out after {timeout:.0f} s"
        entry["stderr_tail"] = _tail(stderr)
        return entry
    except BaseException:
        _stop_group(proc)
        raise
    entry["wall_seconds"] = round(time.perf_counter() - started, 1)
    if proc.returncode != 0:
        entry["error"] = f"exited with status {proc.returncode}: {_last_line(stderr)}"
        entry["stderr_tail"] = _tail(stderr)
        return entry
    try:
        entry["result"] = parse_json_output(stdout)
    except ValueError as exc:
        entry["error"] = f"{exc}: {_last_line(stdout) or 'empty'}"
        entry["stderr_tail"] = _tail(stderr)
        return entry
    entry["ok"] = True
    return entry


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join((text or "").rstrip().splitlines()[-lines:])


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


# ------------------------------------------------------- machine and versions

def _proc_field(path: str, name: str) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    return None


def machine_info() -> dict:
    memory_kb = _proc_field("/proc/meminfo", "MemTotal")
    physical = {line for line in _cpuinfo_lines("physical id")} or {"0"}
    cores_per_socket = _proc_field("/proc/cpuinfo", "cpu cores")
    info = {
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor()
        or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)),
        "physical_cores": (int(cores_per_socket) * len(physical)) if cores_per_socket else None,
        "memory_gib": round(int(memory_kb.split()[0]) / 1024**2, 1) if memory_kb else None,
        "kernel": platform.release(),
        "platform": platform.platform(),
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    return {k: v for k, v in info.items() if v is not None}


def _cpuinfo_lines(name: str) -> list[str]:
    with contextlib.suppress(OSError):
        return [line.partition(":")[2].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.partition(":")[0].strip() == name]
    return []


def _tool_version(args: list[str], pattern: str = r"\S.*") -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({type(exc).__name__})"
    text = (done.stdout or "") + "\n" + (done.stderr or "")
    match = re.search(pattern, text)
    return match.group(0).strip() if match else f"unknown (exit {done.returncode})"


def versions() -> dict:
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = "not installed"
    tools: dict[str, str] = {}
    try:
        from anchor.services.anvil import anvil_binary

        tools["anvil"] = _tool_version([str(anvil_binary()), "--version"], r"anvil.*")
    except Exception as exc:  # reported, not fatal
        tools["anvil"] = f"unavailable ({exc})"
    try:
        from anchor.services.kubo import kubo_binary

        tools["kubo"] = _tool_version([str(kubo_binary()), "version"], r"ipfs version.*")
    except Exception as exc:
        tools["kubo"] = f"unavailable ({exc})"
    try:
        from anchor.services.postgres import postgres_bin_dir

        tools["postgresql"] = _tool_version([str(postgres_bin_dir() / "postgres"), "--version"])
    except Exception as exc:
        tools["postgresql"] = f"unavailable ({exc})"
    tools["solc"] = _tool_version([str(SCRIPTS / "solc"), "--version"],
                                  r"Version:.*|\d+\.\d+\.\d+\S*")
    tools["wrk"] = _tool_version(["wrk", "-v"], r"wrk \S+")
    tools["node"] = _tool_version(["node", "--version"])
    return {"python": platform.python_version(), "packages": packages, "tools": tools}


def published_proof_sizes(path: Path = PUBLISHED_PROOF_SIZES) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {"error": f"{path.relative_to(REPO_ROOT)}: {exc}"}


# --------------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for CI; writes under test-artifacts/benchmarks-quick/")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median, min, max)")
    parser.add_argument("--output", type=Path,
                        help=f"markdown report (default {FULL_OUTPUT.relative_to(REPO_ROOT)}, "
                             f"quick: {QUICK_OUTPUT.relative_to(REPO_ROOT)})")
    parser.add_argument("--json-out", type=Path,
                        help="also write the combined JSON here (default: beside the report)")
    parser.add_argument("--only", help="comma-separated sub-benchmarks: "
                                       + ",".join(b.name for b in BENCHMARKS))
    parser.add_argument("--budget", type=float,
                        help=f"seconds for the whole run (default {QUICK_BUDGET_SECONDS:.0f} "
                             "with --quick, none otherwise); exceeding it fails")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.only:
        unknown = [n for n in args.only.split(",") if n not in BY_NAME]
        if unknown:
            parser.error(f"unknown sub-benchmark(s): {', '.join(unknown)}")
    return args


def output_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """The markdown report and its JSON. Quick mode never defaults to the committed
    docs/benchmarks.md: its figures are too small to quote."""
    output = (args.output or (QUICK_OUTPUT if args.quick else FULL_OUTPUT)).resolve()
    return output, (args.json_out or output.with_suffix(".json")).resolve()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_wall = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z")
    budget = args.budget if args.budget is not None else (
        QUICK_BUDGET_SECONDS if args.quick else None)
    output, json_out = output_paths(args)
    selected = [BY_NAME[n] for n in args.only.split(",")] if args.only else list(BENCHMARKS)

    report: dict = {
        "format": "certreg-bench/1",
        "mode": "quick" if args.quick else "full",
        "runs": args.runs,
        "command": shlex.join(["scripts/bench.py", *(argv if argv is not None
                                                     else sys.argv[1:])]),
        "started_at": started_at,
        "budget_seconds": budget,
        "machine": machine_info(),
        "versions": versions(),
        "published_proof_sizes": published_proof_sizes(),
        "benchmarks": {},
    }
    for spec in selected:
        elapsed = time.perf_counter() - started_wall
        timeout = (budget - elapsed) if budget is not None else FULL_TIMEOUT_SECONDS
        print(f"bench: {spec.name} ...", file=sys.stderr, flush=True)
        entry = run_subbenchmark(spec, args.quick, args.runs, timeout)
        report["benchmarks"][spec.name] = entry
        status = "ok" if entry["ok"] else f"ERROR: {entry.get('error')}"
        print(f"bench: {spec.name} {status} ({entry['wall_seconds']} s)", file=sys.stderr,
              flush=True)
    report["ratios"] = bench_report.compute_ratios(report)
    image_dir = output.parent / output.stem
    plots = bench_report.make_plots(report, image_dir, image_dir.name)
    # The budget covers everything but writing two files: nodes, runs, versions, plots.
    report["total_seconds"] = round(time.perf_counter() - started_wall, 1)
    report["within_budget"] = None if budget is None else report["total_seconds"] <= budget

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(bench_report.render_markdown(report, plots))
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))

    failed = [name for name, entry in report["benchmarks"].items() if not entry["ok"]]
    print(f"bench: wrote {_shown(output)} and {_shown(json_out)} in "
          f"{report['total_seconds']} s" + (f" (budget {budget:.0f} s)" if budget else ""),
          file=sys.stderr)
    if failed:
        print(f"bench: FAILED: {', '.join(failed)}", file=sys.stderr)
    if report["within_budget"] is False:
        print(f"bench: FAILED: {report['total_seconds']} s exceeds the {budget:.0f} s budget",
              file=sys.stderr)
    return 1 if failed or report["within_budget"] is False else 0


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(REPO_ROOT))
    return str(path)


if __name__ == "__main__":
    sys.exit(main())
