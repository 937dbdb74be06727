"""The cascade and alerts-feed measurements of scripts/bench_trace.py: the revocation
cascade consumed in process as a feed client would (time to the first certificate and to
the last, SQL statements, peak RSS growth, tracemalloc), in a fresh interpreter of its own
(`cascades_in_child`, this file's `--cascade-worker`), optionally another implementation
of `affected_by` loaded from a file; and GET /v1/alerts read line by line over HTTP.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from registry.db import open_database  # noqa: E402
from registry.db.cascade import AffectedCertificate, affected_by  # noqa: E402
from scripts.bench_api import summary  # noqa: E402


def status_mb(field: str, pid: int | str = "self") -> float:
    """VmRSS (resident now) or VmHWM (its high-water mark) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss(pid: int | str = "self") -> bool:
    """Reset VmHWM to the current RSS (Linux: "5" > /proc/PID/clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@contextlib.contextmanager
def sql_statements(engine: Engine) -> Iterator[dict[str, float]]:
    """Count the statements run on `engine` and the seconds spent in cursor.execute
    (PostgreSQL's work plus the transfer; psycopg receives whole results there)."""
    stats = {"statements": 0, "seconds": 0.0}
    started: list[float] = []

    def before(*_: Any) -> None:
        started.append(time.perf_counter())

    def after(*_: Any) -> None:
        stats["seconds"] += time.perf_counter() - started.pop()
        stats["statements"] += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield stats
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


AffectedBy = Callable[..., Iterable[AffectedCertificate]]


def load_affected_by(path: str | None) -> AffectedBy:
    """registry.db.cascade.affected_by, or the function of that name in the Python file
    `path` (a patched copy, or an earlier version, to compare with the same harness and
    data; one returning a list is timed the same way, its first item coming last)."""
    if path is None:
        return affected_by
    spec = importlib.util.spec_from_file_location("bench_trace_affected_by", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.affected_by


class CascadeRun(NamedTuple):
    first_seconds: float  # until the first affected certificate was in hand
    seconds: float  # until the last
    depths: dict[int, int]
    digest: int  # order-independent fingerprint of the set (XOR of the digests)


def consume_cascade(function: AffectedBy, sessions: sessionmaker[Session], revoked: str,
                    effective_from: dt.date) -> CascadeRun:
    """Consume the cascade as a client of the feed would, one certificate at a time,
    keeping none of them: what stays in memory is the implementation's own."""
    started = time.perf_counter()
    first = 0.0
    depths: dict[int, int] = {}
    digest = 0
    for affected in function(sessions, revoked, effective_from):
        if not first:
            first = time.perf_counter() - started
        depths[affected.depth] = depths.get(affected.depth, 0) + 1
        digest ^= int(affected.sha256, 16)
    return CascadeRun(first, time.perf_counter() - started, depths, digest)


def measure_cascade(url: str, revoked: str, effective_from: dt.date, runs: int,
                    expected: int, function: AffectedBy = affected_by) -> dict[str, Any]:
    """`affected_by` in this process, consumed lazily: a first run (counting its SQL
    statements), `runs` timed runs (time to the first certificate and to the last), one
    run under tracemalloc, then one that checks each certificate comes once; `expected`
    certificates every time. Peak RSS is VmHWM, reset before the first run (getrusage's
    ru_maxrss is not: it keeps the parent's high-water mark across fork and exec)."""
    sessions = open_database(url, migrate=False)
    engine = sessions.kw["bind"]

    def once() -> CascadeRun:
        run = consume_cascade(function, sessions, revoked, effective_from)
        assert sum(run.depths.values()) == expected, (run.depths, expected)
        return run

    reset = reset_peak_rss()
    rss_before = status_mb("VmRSS")
    with sql_statements(engine) as stats:
        first_run = once()
    timed = [once() for _ in range(runs)]
    peak_rss = status_mb("VmHWM")
    tracemalloc.start()
    traced = once()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # After the memory figures: a set of every digest is as large as the affected set.
    assert len({a.sha256 for a in function(sessions, revoked, effective_from)}) == expected
    assert all(run.digest == first_run.digest for run in (*timed, traced))
    engine.dispose()
    seconds = [run.seconds for run in timed]
    return {"affected": expected,
            "by_depth": {str(d): n for d, n in sorted(first_run.depths.items())},
            "first_item_seconds": summary([run.first_seconds for run in timed], 4),
            "seconds": summary(seconds, 4),  # as first_item_seconds: comparable
            "affected_per_second": round(expected / statistics.median(seconds)),
            "first_run_seconds": round(first_run.seconds, 3),
            "sql_statements": int(stats["statements"]),
            "sql_execute_seconds_first_run": round(stats["seconds"], 3),
            "rss_before_mb": round(rss_before, 1), "peak_rss_mb": round(peak_rss, 1),
            "peak_rss_growth_mb": round(peak_rss - rss_before, 1),
            "peak_rss_reset": reset,
            "tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
            "tracemalloc_run_seconds": round(traced.seconds, 3),
            "fingerprint": f"{first_run.digest:064x}"}


def cascades_in_child(url: str, cascades: list[dict[str, Any]], runs: int,
                      implementation: str | None = None) -> list[dict[str, Any]]:
    """measure_cascade for each of `cascades` ({"revoked", "effective_from", "expected"}),
    in order, in one fresh interpreter that does nothing else (so its memory is the
    cascade's). The URL holds a password: it goes through stdin, not the command line."""
    request = {"url": url, "runs": runs, "implementation": implementation, "cascades": [
        dict(c, effective_from=c["effective_from"].isoformat()) for c in cascades]}
    out = subprocess.run([sys.executable, __file__, "--cascade-worker"], cwd=REPO_ROOT,
                         input=json.dumps(request), capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"cascade worker failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout)


def cascade_worker() -> None:
    request = json.loads(sys.stdin.read())
    function = load_affected_by(request.get("implementation"))
    print(json.dumps([measure_cascade(request["url"], c["revoked"],
                                      dt.date.fromisoformat(c["effective_from"]),
                                      request["runs"], c["expected"], function)
                      for c in request["cascades"]]))


def measure_feed(base: str, server_pid: int, cause: str, expected: int,
                 runs: int) -> dict[str, Any]:
    """GET /v1/alerts read line by line as it streams: time to the first line and to
    the last, and the server's peak RSS growth (VmHWM reset before each run)."""
    first, total, growth, sizes = [], [], [], []
    for _ in range(runs):
        reset = reset_peak_rss(server_pid)
        before = status_mb("VmRSS", server_pid)
        started = time.perf_counter()
        lines = size = 0
        with urllib.request.urlopen(f"{base}/v1/alerts", timeout=600) as answer:
            for line in answer:
                if not lines:
                    first.append(time.perf_counter() - started)
                    assert json.loads(line)["cause"]["sha256"] == "0x" + cause
                lines += 1
                size += len(line)
        total.append(time.perf_counter() - started)
        growth.append(status_mb("VmHWM", server_pid) - before)
        sizes.append(size)
        assert lines == expected, (lines, expected)
    return {"lines": expected, "mb": round(statistics.median(sizes) / 2**20, 1),
            "first_line_seconds": summary(first, 4), "seconds": summary(total, 3),
            "lines_per_second": round(expected / statistics.median(total)),
            "server_peak_rss_growth_mb": summary(growth, 1), "peak_rss_reset": reset}


if __name__ == "__main__":
    cascade_worker()
