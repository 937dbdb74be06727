#!/usr/bin/env python
"""Benchmark of the revocation cascade and of traceability (issue #9). Prints JSON.

Setup: a private PostgreSQL cluster (anchor.services.postgres) and anvil with the dev
registry. An accredited laboratory is registered on chain (with an accreditation
document, so verification step 11 does its full scope check) and issues `--real` DCCs
through the real pipeline (signed, stored, anchored, indexed); each cites a synthetic
laboratory standard by SHA-256. The synthetic graph is bulk-inserted with COPY as the
indexer would write it (chain_issuers, chain_batches of 256 per issuer, chain_documents
with DCC metadata, the certificate-number rows of document_identifiers and the
certificate_citations rows):

    1 NMI certificate  <-  `--labs` laboratory standards  <-  `--instruments` per lab

Measured (median, min and max of `--runs` runs):
* cascade: `registry.db.cascade.affected_by` after the NMI certificate is revoked
  (every synthetic certificate is affected) and after one laboratory standard is
  revoked, in a fresh child process, consumed lazily: time to the first affected
  certificate and to the last, peak RSS growth (VmHWM), the Python allocations' peak
  (tracemalloc, one extra run) and the SQL statements it issues; with `--baseline
  FILE.py`, the same for another implementation (e.g. an earlier version) on the same
  graph, with the ratios;
* the alerts feed over HTTP after the NMI revocation (GET /v1/alerts read line by line):
  time to the first line and to the last, and the server's peak RSS growth;
* verification over HTTP (wrk on loopback, the settings of scripts/bench_api.py):
  GET /v1/verify/{sha256}?metrology=false vs ?metrology=true (steps 10 traceability and
  11 accreditation scope), the same after the NMI revocation (verdict
  traceability-compromised), and GET /v1/certificates/{sha256}/traceability; plus the
  two metrological steps timed in process.

Usage: scripts/bench_trace.py [--quick] [--runs 5] [--labs 1000] [--instruments 1000]
                              [--baseline FILE.py] [--cascade-only]
--quick: 20 labs x 50 instruments (about 1,000 certificates), 1 s wrk runs.
--cascade-only: no wrk runs nor in-process steps 9/10 (the feed and the cascades only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from anchor.services.anvil import AnvilNode  # noqa: E402
from anchor.services.postgres import PostgresCluster  # noqa: E402
from registry.context import content_store  # noqa: E402
from registry.db import ChainDocument, ChainIssuer, open_database  # noqa: E402
from registry.db.queries import DatabaseIndexView  # noqa: E402
from registry.issuance import Issuer  # noqa: E402
from registry.settings import Settings  # noqa: E402
from registry.trust import RegistryTrustChecks  # noqa: E402
from scripts.bench_api import (  # noqa: E402
    GET_LUA,
    SHARED_DCC,
    dev_registry_settings,
    load_runs,
    on_private_services,
    server_environment,
    start_server,
    stop_server,
    summary,
)
from scripts.bench_trace_cascade import (  # noqa: E402
    cascade_worker,
    cascades_in_child,
    measure_feed,
    sql_statements,
)
from scripts.bench_trace_graph import (  # noqa: E402
    GraphSpec,
    build_graph,
    psycopg_dsn,
    revoke_in_projection,
)
from scripts.bench_trace_lab import (  # noqa: E402
    KEYSTORE_PASSWORD,
    LAB_CODE,
    chain_day,
    register_laboratory,
)
from tests.registry.trust_fixtures import TEMPLATE, Cite, chain_dcc  # noqa: E402

QUICK = {"labs": 20, "instruments": 50, "real": 4, "seconds": 1, "warmup": 1,
         "trace_calls": 20}
FULL = {"labs": 1000, "instruments": 1000, "real": 32, "seconds": 5, "warmup": 2,
        "trace_calls": 50}


# ------------------------------------------------------------------ verification

def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.loads(answer.read())


def time_steps_in_process(sessions: sessionmaker[Session], settings: Settings,
                          shas: list[str], runs: int, calls: int) -> dict[str, Any]:
    """Steps 10 and 11 as the API runs them (RegistryTrustChecks), per call, in process."""
    trust = RegistryTrustChecks(sessions, content_store(settings))
    anchorings = {sha: DatabaseIndexView(sessions).anchorings(sha)[0] for sha in shas}
    engine = sessions.kw["bind"]
    with sql_statements(engine) as stats:
        trust.traceability(shas[0])
    statements_trace = int(stats["statements"])
    with sql_statements(engine) as stats:
        trust.accreditation_scope(anchorings[shas[0]], None)
    statements_scope = int(stats["statements"])
    trace_ms, scope_ms = [], []
    for _ in range(runs):
        a = b = 0.0
        for i in range(calls):
            sha = shas[i % len(shas)]
            started = time.perf_counter()
            trust.traceability(sha)
            middle = time.perf_counter()
            trust.accreditation_scope(anchorings[sha], None)
            a += middle - started
            b += time.perf_counter() - middle
        trace_ms.append(1000 * a / calls)
        scope_ms.append(1000 * b / calls)
    return {"calls_per_run": calls,
            "traceability_ms_per_call": summary(trace_ms, 3),
            "traceability_sql_statements": statements_trace,
            "accreditation_scope_ms_per_call": summary(scope_ms, 3),
            "accreditation_scope_sql_statements": statements_scope}


# ------------------------------------------------------------------ main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="20 labs x 50 instruments, 4 real DCCs, 1 s wrk runs")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--labs", type=int, help="laboratory standards citing the NMI "
                        "certificate (full 1000, quick 20)")
    parser.add_argument("--instruments", type=int, help="instrument certificates citing each "
                        "laboratory standard (full 1000, quick 50)")
    parser.add_argument("--lab-issuers", type=int, default=8,
                        help="accredited laboratories issuing the synthetic certificates")
    parser.add_argument("--real", type=int, help="DCCs issued through the real pipeline "
                        "(full 32, quick 4)")
    parser.add_argument("--real-batch", type=int, default=4)
    parser.add_argument("--seconds", type=int, help="per wrk run (full 5, quick 1)")
    parser.add_argument("--warmup", type=int, help="uncounted wrk seconds per endpoint")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--trace-calls", type=int,
                        help="in-process step 10/11 calls per run (full 50, quick 20)")
    parser.add_argument("--affected-by", metavar="FILE.py",
                        help="time the affected_by of this file instead of "
                        "registry.db.cascade's (e.g. a patched copy); "
                        "its results must be the same")
    parser.add_argument("--baseline", metavar="FILE.py",
                        help="also time the affected_by of this file (e.g. an earlier "
                        "version: git show REV:registry/db/traceability.py > FILE.py) "
                        "on the same graph, and report the ratios")
    parser.add_argument("--cascade-only", action="store_true",
                        help="skip the wrk runs and the in-process steps 9/10: only the "
                        "alerts feed and the cascades")
    parser.add_argument("--cascade-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cascade_worker:
        cascade_worker()
        return
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.runs < 5:
        raise SystemExit("--runs must be at least 5 (median of at least 5 runs)")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package `wrk`; scripts/setup.sh)")

    print(json.dumps(on_private_services(
        "certreg-bench-trace-", lambda *services: run(args, *services)), indent=2))


def run(args: argparse.Namespace, workdir: Path, cluster: PostgresCluster, anvil: AnvilNode,
        servers: list[subprocess.Popen]) -> dict:
    spec = GraphSpec(labs=args.labs, instruments=args.instruments, lab_issuers=args.lab_issuers)
    database = cluster.create_database("trace")
    with psycopg.connect(psycopg_dsn(database.url)) as connection:
        server_version = connection.execute("SHOW server_version").fetchone()[0]
        server_settings = {name: connection.execute(f"SHOW {name}").fetchone()[0]
                           for name in ("shared_buffers", "work_mem", "effective_cache_size",
                                        "jit", "random_page_cost")}
    settings, deployment = dev_registry_settings(workdir, anvil, database.url,
                                                 "Bench lab signer", "Bench Lab")
    data_dir = settings.data_dir
    result: dict = {
        "benchmark": "trace", "mode": "quick" if args.quick else "full",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "cpu": platform.processor() or platform.machine(),
                    "load_average_1m_at_start": round(os.getloadavg()[0], 2)},
        "database": f"PostgreSQL {server_version} (private cluster, fsync off, otherwise "
                    "default settings)",
        "database_settings": server_settings,
        "chain": "anvil (automine)",
        "parameters": {"labs": args.labs, "instruments_per_lab": args.instruments,
                       "lab_issuers": spec.issuers, "real": args.real, "runs": args.runs,
                       "seconds_per_run": args.seconds, "warmup_seconds": args.warmup,
                       "connections": args.connections, "wrk_threads": args.threads}}

    phases: dict[str, float] = {}
    mark = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = round(now - mark, 1)
        mark = now

    # Real documents: an accredited laboratory's DCCs citing synthetic standards.
    started = time.perf_counter()
    register_laboratory(anvil.rpc_url, deployment["address"], settings)
    lab_settings = settings.model_copy(update={
        "operator_keystore": data_dir / "lab-operator.json",
        "operator_password": SecretStr(KEYSTORE_PASSWORD)})
    issuer = Issuer.from_settings(lab_settings)
    today = chain_day(issuer.client)
    template = (SHARED_DCC / "examples" / TEMPLATE).read_bytes()
    cited = [i % spec.labs for i in range(args.real)]
    report = issuer.run([chain_dcc(template, f"BENCH-INS-{i:05d}", today,
                                   Cite(spec.lab_number(j), spec.lab_sha(j)))
                         for i, j in enumerate(cited)], batch_size=args.real_batch)
    real = [s.sha256 for s in report.submissions if s.sha256]
    assert report.pending_documents == 0 and len(real) == args.real
    issue_seconds = time.perf_counter() - started

    phase("register_laboratory_and_issue_real_dccs")
    built = build_graph(database.url, spec, template)
    phase("bulk_insert_and_analyze")
    sessions = open_database(database.url, migrate=False)
    with sessions() as session:
        indexed = session.scalar(select(func.count()).select_from(ChainDocument))
        issuers = session.scalar(select(func.count()).select_from(ChainIssuer))
    result["graph"] = {
        "synthetic_certificates": spec.total, "nmi": 1, "laboratory_standards": spec.labs,
        "instrument_certificates": spec.labs * spec.instruments,
        "real_dccs": args.real, "indexed_documents": indexed, "issuers": issuers,
        "calibrations": {"nmi": spec.start.isoformat(),
                         "laboratory_standards": [spec.lab_calibrated(0).isoformat(),
                                                  spec.lab_calibrated(spec.labs - 1).isoformat()],
                         "instruments": [spec.instrument_calibrated(0, 0).isoformat(),
                                         spec.instrument_calibrated(
                                             spec.labs - 1, spec.instruments - 1).isoformat()],
                         "real_dccs": today.isoformat()},
        "nmi_revocation": {"reason": "compromised",
                           "effective_from": spec.effective_from.isoformat()}}
    result["setup"] = {"issue_real_seconds": round(issue_seconds, 1),
                       "bulk_insert": built}

    # HTTP: verification with the metrological steps off and on, and the tree.
    env = server_environment(data_dir, anvil.rpc_url, database.url, deployment)
    # One worker: the feed server's memory is one process's (measure_feed reads its RSS).
    proc, port = start_server("registry", env, workdir / "registry.log", 1)
    servers.append(proc)
    base = f"http://127.0.0.1:{port}"

    def script(name: str, paths: list[str]) -> Path:
        paths_file = workdir / f"{name}.txt"
        paths_file.write_text("".join(p + "\n" for p in paths))
        lua = workdir / f"{name}.lua"
        lua.write_text(GET_LUA % {"paths": paths_file})
        return lua

    # fresh=true: the synthetic graph was written with COPY after the real DCCs were
    # indexed, so their indexer-kept verdict inputs predate the standards they cite.
    on = _get_json(f"{base}/v1/verify/{real[-1]}?metrology=true&fresh=true")
    off = _get_json(f"{base}/v1/verify/{real[-1]}?metrology=false")
    tree = _get_json(f"{base}/v1/certificates/{real[-1]}/traceability")
    assert off["verdict"] == on["verdict"] == "valid", (off, on)
    assert on["traceability"]["status"] == "complete", on["traceability"]
    assert on["traceability"]["certificates"] == 3 and len(tree["nodes"]) == 3, tree
    http: dict[str, Any] = {
        "checked": {"verdict": on["verdict"], "traceability": on["traceability"]["status"],
                    "certificates_in_tree": on["traceability"]["certificates"],
                    "accreditation_scope": (on.get("accreditation_scope") or {}).get("status")}}
    result["http"] = http
    if not args.cascade_only:
        http |= {
            "verify_metrology_off": load_runs(base, script(
                "off", [f"/v1/verify/{h}?metrology=false" for h in real]), args),
            "verify_metrology_on": load_runs(base, script(
                "on", [f"/v1/verify/{h}?metrology=true" for h in real]), args),
            "traceability_tree": load_runs(base, script(
                "tree", [f"/v1/certificates/{h}/traceability" for h in real]), args)}
        http["in_process_steps"] = time_steps_in_process(sessions, settings, real,
                                                         args.runs, args.trace_calls)

    # The NMI certificate revoked (compromised, effective before every calibration).
    revoke_in_projection(sessions, spec, dt.datetime.now(dt.UTC))
    compromised = _get_json(f"{base}/v1/verify/{real[-1]}?metrology=true&fresh=true")
    assert compromised["verdict"] == "traceability-compromised", compromised["verdict"]
    nmi_affected = spec.labs + spec.labs * spec.instruments + args.real
    http["alerts_feed_after_nmi_revocation"] = measure_feed(
        base, proc.pid, spec.nmi_sha, nmi_affected, args.runs)
    if not args.cascade_only:
        http["verify_metrology_on_after_nmi_revocation"] = load_runs(base, script(
            "compromised", [f"/v1/verify/{h}?metrology=true" for h in real]), args)
        off_rps = http["verify_metrology_off"]["rps"]["median"]
        on_rps = http["verify_metrology_on"]["rps"]["median"]
        http["ratios"] = {
            "rps_off_over_on": round(off_rps / on_rps, 2),
            "p50_on_over_off": round(http["verify_metrology_on"]["p50_ms"]["median"]
                                     / http["verify_metrology_off"]["p50_ms"]["median"], 2),
            "p99_on_over_off": round(http["verify_metrology_on"]["p99_ms"]["median"]
                                     / http["verify_metrology_off"]["p99_ms"]["median"], 2)}
    stop_server(proc)
    servers.remove(proc)
    sessions.kw["bind"].dispose()
    phase("http_and_in_process_steps")

    # The cascades, in a fresh process of their own (peak RSS), the server stopped.
    lab = spec.labs - 1
    # The small cascade first: without a VmHWM reset its peak would be the larger one's.
    cascades = [
        {"revoked": spec.lab_sha(lab), "effective_from": spec.lab_calibrated(lab),
         "expected": spec.instruments + cited.count(lab)},
        {"revoked": spec.nmi_sha, "effective_from": spec.effective_from,
         "expected": nmi_affected}]
    lab_cascade, nmi_cascade = cascades_in_child(database.url, cascades, args.runs,
                                                 args.affected_by)
    result["cascade"] = {
        "implementation": args.affected_by or "registry.db.cascade.affected_by",
        "nmi_revocation": nmi_cascade, "lab_revocation": lab_cascade}
    if args.baseline:
        lab_base, nmi_base = cascades_in_child(database.url, cascades, args.runs,
                                               args.baseline)
        # The same certificates (a different order or `via` may be the baseline's).
        assert (nmi_base["fingerprint"], nmi_base["by_depth"]) == (
            nmi_cascade["fingerprint"], nmi_cascade["by_depth"])
        assert lab_base["fingerprint"] == lab_cascade["fingerprint"]
        result["cascade"]["baseline"] = {"implementation": args.baseline,
                                         "nmi_revocation": nmi_base,
                                         "lab_revocation": lab_base}
        result["cascade"]["ratios_baseline_over_this"] = {
            name: {key: round(base[key]["median"] / this[key]["median"], 2)
                   for key in ("first_item_seconds", "seconds")}
            | {"peak_rss_growth_mb": round(base["peak_rss_growth_mb"]
                                           / max(this["peak_rss_growth_mb"], 1.0), 1),
               "tracemalloc_peak_mb": round(base["tracemalloc_peak_mb"]
                                            / max(this["tracemalloc_peak_mb"], 0.1), 1)}
            for name, base, this in (("nmi_revocation", nmi_base, nmi_cascade),
                                     ("lab_revocation", lab_base, lab_cascade))}
    phase("cascades")
    result["phase_seconds"] = phases
    result["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    result["notes"] = [
        "Synthetic certificates are projection rows written with COPY as the indexer would "
        "write them (batches of 256 per issuer, 8-sibling proofs, DCC metadata of the "
        f"{TEMPLATE} example with its citation, the certificate-number identifier and the "
        "citation row); they have no on-chain batches, so the NMI revocation is the "
        "chain_revocations row the indexer would write (reason compromised), not a "
        "contract call. affected_by and the verification read only the projection.",
        f"The {args.real} real DCCs are issued through the pipeline by {LAB_CODE}, an "
        "accredited laboratory registered on anvil with an accreditation recorded by "
        "governance (scope covering the certificate's temperature results), each citing "
        "a synthetic laboratory standard by SHA-256: the traced chain is real DCC -> "
        "laboratory standard -> NMI certificate (3 certificates).",
        "metrology=true runs steps 10 (traceability) and 11 (accreditation scope, which "
        "reads the DCC from the content store and parses it); in_process_steps times the "
        "two steps separately. wrk cycles over the real DCCs; same wrk and uvicorn "
        "settings as scripts/bench_api.py.",
        "The NMI cascade's expected count includes the real DCCs (they rely on the NMI "
        "certificate through a laboratory standard); the laboratory standard revoked is "
        "the last one, effective from its own calibration date.",
        "Cascade memory: a fresh child process runs only the cascades, consuming each "
        "lazily and keeping none of the certificates (as a feed client would); "
        "peak_rss_mb is its VmHWM (reset to the current RSS, rss_before_mb, before each "
        "cascade's first run) after the timed runs; tracemalloc_peak_mb is the peak of the "
        "Python allocations in one extra, slower run under tracemalloc. An implementation "
        "returning a list is timed the same way: its first item comes with the last.",
        "fingerprint: XOR of the affected digests, to check that two implementations "
        "find the same certificates whatever their order.",
        "alerts_feed_after_nmi_revocation: GET /v1/alerts (every line of the NMI "
        "cascade) read as it streams; server_peak_rss_growth_mb is the uvicorn process's "
        "VmHWM growth during the request (reset before each run).",
        "setup.bulk_insert.insert_seconds covers generating the rows in Python (one "
        "thread) and COPY into the indexed tables, in one transaction; VACUUM ANALYZE "
        "(analyze_seconds) is apart: the state autovacuum leaves a table in after a "
        "million inserts, which a running registry's tables are in.",
        "wrk, uvicorn, PostgreSQL and anvil share the machine's CPUs (other jobs may run: "
        "see machine.load_average_1m_*)."]
    return result


if __name__ == "__main__":
    main()
