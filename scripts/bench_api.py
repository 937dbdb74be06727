#!/usr/bin/env python
"""API benchmark: verification over HTTP with N certificates indexed in PostgreSQL.

Prints JSON. Setup: a private PostgreSQL cluster (anchor.services.postgres), anvil with
the dev registry, `--real` DCCs issued through the real pipeline (signed, stored,
anchored in batches, indexed), then N synthetic projection rows bulk-inserted with
SQLAlchemy Core (valid-looking hashes and CIDs, batches of 256 with 8-sibling proofs,
DCC metadata of the real documents) so lookups run against an index of N rows.

Measured at each of --sizes (synthetic rows added between sizes; the same servers),
median of --runs runs with min and max:
* requests/s and p50/p99 latency (wrk on loopback) of GET /v1/verify/{sha256} (real,
  anchored documents, so every request does the full verification: index, Merkle
  proof, chain root, revocation, issuer, traceability, accreditation scope), by default
  and with `fresh=true` (every fact read from chain and store: the path before the
  verdict inputs), and POST /v1/verify with a ~20 KB signed DCC (plus the signature
  check), both ways; GET /v1/certificates/{sha256} (lookup) and GET /v1/search?number=
  (search); next to a bare FastAPI endpoint (GET, and POST that reads the body) served
  the same way (uvicorn, --workers processes each) in the same run;
* the indexer's catch-up rate from the chain into an empty database (events/s) and the
  time to rebuild the projection from the chain (Indexer.rebuild).
Rate limits are off for the run (a load generator is one client address).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from fastapi import FastAPI, Request  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sqlalchemy import create_engine, func, insert, select  # noqa: E402

from anchor.cid import CODEC_RAW, Cid  # noqa: E402
from anchor.services._process import die_with_parent, free_port, port_open  # noqa: E402
from anchor.services.anvil import AnvilNode  # noqa: E402
from anchor.services.postgres import PostgresCluster  # noqa: E402
from registry.db import ChainBatch, ChainDocument, DocumentIdentifier, open_database  # noqa: E402
from registry.db.models import VerdictInputs  # noqa: E402
from registry.db.search import NUMBER, normalise  # noqa: E402
from registry.devnet import DEV_ISSUER_CODE as DEV_ISSUER  # noqa: E402
from registry.devnet import ensure_dev_registry  # noqa: E402
from registry.documents.keys import generate_test_signing_identity  # noqa: E402
from registry.index import Indexer  # noqa: E402
from registry.issuance import Issuer  # noqa: E402
from registry.settings import Settings, load_settings  # noqa: E402

SHARED_DCC = (REPO_ROOT / ".." / "shared" / "dcc").resolve()
TEMPLATE = "dcc_gp_temperature_simplified_v12.xml"  # ~19 KB once signed
SIGNING_PASSWORD = "benchmark signing key"
SYNTHETIC_BATCH = 256
SYNTHETIC_BATCH_ID_OFFSET = 1_000_000_000  # far above any real batch id of the run
INSERT_CHUNK = 10_000
_UNIQUE_IDENTIFIER = re.compile(rb"(<dcc:uniqueIdentifier>)([^<]*)(</dcc:uniqueIdentifier>)")

GET_LUA = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""
POST_LUA = """
local f = assert(io.open("%(body)s", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/xml"
"""


def summary(values: list[float], digits: int = 2) -> dict:
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits),
            "runs": len(values)}


# -------------------------------------------------------------------- servers

def bare_app() -> FastAPI:
    """The floor: FastAPI + uvicorn doing nothing but routing (and reading a body)."""
    app = FastAPI()

    @app.get("/bare/{sha256}")
    def bare_get(sha256: str) -> dict:
        return {"sha256": sha256, "verdict": "unknown"}

    @app.post("/bare")
    async def bare_post(request: Request) -> dict:
        body = await request.body()
        return {"bytes": len(body)}

    return app


def serve(kind: str, port: int, workers: int) -> None:
    from registry.cli.up import run_workers

    factory = ("scripts.bench_api:bare_app" if kind == "bare"
               else "registry.api.app:create_worker_app")
    # Same settings for both: served as `certreg up` serves (`workers` processes,
    # uvicorn's defaults for loop and parser).
    run_workers(factory, workers, "127.0.0.1", port, log_level="warning", access_log=False)


def start_server(kind: str, env: dict[str, str], log_path: Path,
                 workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port),
                                 "--workers", str(workers)],
                                env=env, stdout=log, stderr=log, cwd=REPO_ROOT,
                                preexec_fn=die_with_parent)
    deadline = time.monotonic() + 120
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise SystemExit(f"{kind} server did not start; see {log_path}")
        time.sleep(0.1)
    return proc, port


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------------ wrk

_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, script: Path, seconds: int, connections: int, threads: int) -> dict:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                          "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {p: float(v) * _UNIT[u] for p, v, u in _LATENCY.findall(out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses from {url}:\n{out}")
    return {"rps": rps, "p50_ms": latency["50"], "p99_ms": latency["99"]}


def load_runs(url: str, script: Path, args: argparse.Namespace) -> dict:
    wrk(url, script, args.warmup, args.connections, args.threads)  # warm-up, not counted
    runs = [wrk(url, script, args.seconds, args.connections, args.threads)
            for _ in range(args.runs)]
    return {key: summary([r[key] for r in runs]) for key in ("rps", "p50_ms", "p99_ms")}


# ---------------------------------------------------------------- data set

def make_dccs(directory: Path, n: int) -> list[Path]:
    template = (SHARED_DCC / "examples" / TEMPLATE).read_bytes()
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = directory / f"bench-{i:05d}.xml"
        path.write_bytes(_UNIQUE_IDENTIFIER.sub(
            lambda m, i=i: m.group(1) + f"BENCH-{i:05d}".encode() + m.group(3), template,
            count=1))
        paths.append(path)
    return paths


def bulk_insert_synthetic(url: str, start: int, n: int, first_block: int, issuer_hex: str,
                          operator: str, metadata_template: dict | None,
                          inputs_template: dict) -> float:
    """Synthetic documents start..n-1 (chain_documents rows with their certificate-number
    identifiers and verdict inputs) in batches of 256, as the indexer would write them
    (a batch is created whole, with the first of its documents)."""
    engine = create_engine(url)
    started = time.perf_counter()
    batches = (n + SYNTHETIC_BATCH - 1) // SYNTHETIC_BATCH
    anchored_at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as connection:
        rows = []
        for b in range((start + SYNTHETIC_BATCH - 1) // SYNTHETIC_BATCH, batches):
            rows.append({
                "batch_id": SYNTHETIC_BATCH_ID_OFFSET + b, "issuer_id": issuer_hex,
                "root": hashlib.sha256(f"synthetic-root:{b}".encode()).hexdigest(),
                "count": SYNTHETIC_BATCH,
                "manifest_cid": str(Cid(1, CODEC_RAW, hashlib.sha256(
                    f"synthetic-manifest:{b}".encode()).digest())),
                "manifest_status": "ok", "operator": operator,
                "block_number": first_block + b, "block_hash": "0x" + secrets.token_hex(32),
                "tx_hash": "0x" + secrets.token_hex(32), "log_index": 0,
                "anchored_at": anchored_at + dt.timedelta(seconds=12 * b)})
            if len(rows) == INSERT_CHUNK:
                connection.execute(insert(ChainBatch), rows)
                rows = []
        if rows:
            connection.execute(insert(ChainBatch), rows)
    documents_table = ChainDocument.__table__
    for chunk_start in range(start, n, INSERT_CHUNK):
        rows = []
        for i in range(chunk_start, min(n, chunk_start + INSERT_CHUNK)):
            digest = hashlib.sha256(f"synthetic-document:{i}".encode()).digest()
            identifier = f"SYN-{i:09d}"
            metadata = None
            if metadata_template is not None:
                metadata = dict(metadata_template, unique_identifier=identifier)
            rows.append({
                "sha256": digest.hex(),
                "batch_id": SYNTHETIC_BATCH_ID_OFFSET + i // SYNTHETIC_BATCH,
                "issuer_id": issuer_hex, "cid": str(Cid(1, CODEC_RAW, digest)),
                "document_type": "dcc", "unique_identifier": identifier,
                "metadata": metadata, "encrypted": False,
                "proof": ["0x" + hashlib.sha256(f"{i}:{level}".encode()).hexdigest()
                          for level in range(8)],
                "block_number": first_block + i // SYNTHETIC_BATCH})
        with engine.begin() as connection:
            ids = connection.execute(insert(documents_table).returning(
                documents_table.c.id, documents_table.c.sha256, documents_table.c.block_number,
                documents_table.c.unique_identifier), rows).all()
            connection.execute(insert(DocumentIdentifier), [
                {"document_id": i, "kind": NUMBER, "value": normalise(number)}
                for i, _, _, number in ids])
            connection.execute(insert(VerdictInputs), [
                dict(inputs_template, document_id=i, sha256=sha256, issuer_id=issuer_hex,
                     block_number=block) for i, sha256, block, _ in ids])
    with engine.begin() as connection:
        for table in ("chain_documents", "chain_batches", "document_identifiers",
                      "verdict_inputs"):
            connection.exec_driver_sql(f"ANALYZE {table}")
    engine.dispose()
    return time.perf_counter() - started


# -------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated numbers of synthetic indexed documents, "
                             "measured in turn")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes, for the registry and the bare app")
    parser.add_argument("--no-fresh", action="store_true",
                        help="skip the fresh=true (uncached) verify runs")
    parser.add_argument("--real", type=int, default=400,
                        help="documents issued through the real pipeline (anchored on chain)")
    parser.add_argument("--real-batch", type=int, default=2,
                        help="documents per anchored batch of the real ones (more events)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="per wrk run")
    parser.add_argument("--warmup", type=int, default=2,
                        help="seconds of uncounted wrk load before each endpoint's runs")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--serve", choices=["bare", "registry"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workers)
        return
    args.sizes = sorted(int(n) for n in args.sizes.split(","))
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package `wrk`; scripts/setup.sh)")

    print(json.dumps(on_private_services(
        "certreg-bench-api-", lambda *services: run(args, *services)), indent=2))


def on_private_services(prefix: str, body: Callable[..., dict]) -> dict:
    """Run `body(workdir, cluster, anvil, servers)` on a private PostgreSQL cluster and
    anvil, stop the servers it started and remove everything; adds total_seconds."""
    total_started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    workdir.chmod(0o711)  # the `postgres` user must reach the cluster below it
    cluster = PostgresCluster.start(workdir / "pg", durable=False)
    anvil = AnvilNode.start(workdir=workdir / "anvil")
    servers: list[subprocess.Popen] = []
    try:
        result = body(workdir, cluster, anvil, servers)
    finally:
        for proc in servers:
            stop_server(proc)
        anvil.stop()
        cluster.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    result["total_seconds"] = round(time.perf_counter() - total_started, 1)
    return result


def dev_registry_settings(workdir: Path, anvil: AnvilNode, database_url: str, signer: str,
                          organisation: str) -> tuple[Settings, dict]:
    """The dev registry deployed on `anvil` (its deployment record), and settings for
    issuing on it: data in workdir/data, the database at `database_url`, signing with a
    test identity (`signer` of `organisation`) made in workdir/signing."""
    data_dir = workdir / "data"
    signing = generate_test_signing_identity(signer, organisation, "DE",
                                             workdir / "signing", SIGNING_PASSWORD)
    deployment = ensure_dev_registry(load_settings(rpc_url=anvil.rpc_url, data_dir=data_dir))
    settings = Settings(
        data_dir=data_dir, rpc_url=anvil.rpc_url, database_url=database_url,
        contract_address=deployment["address"],
        deployment_block=int(deployment.get("block_number", 0)),
        signing_key=signing.private_key_pem, signing_certificate=signing.certificate_pem,
        signing_password=SecretStr(SIGNING_PASSWORD))
    return settings, deployment


def server_environment(data_dir: Path, rpc_url: str, database_url: str,
                       deployment: dict) -> dict[str, str]:
    """The environment of a registry server (`start_server`) on that registry: this
    process's without its CERTREG_* variables, rate limits off (a load generator is one
    client address)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CERTREG_")} | {
        "CERTREG_DATA_DIR": str(data_dir), "CERTREG_RPC_URL": rpc_url,
        "CERTREG_DATABASE_URL": database_url,
        "CERTREG_CONTRACT_ADDRESS": deployment["address"],
        "CERTREG_DEPLOYMENT_BLOCK": str(deployment.get("block_number", 0)),
        "CERTREG_RATE_LIMIT_PER_SECOND": "0", "CERTREG_ISSUANCE_RATE_LIMIT_PER_MINUTE": "0"}


def run(args: argparse.Namespace, workdir: Path, cluster: PostgresCluster, anvil: AnvilNode,
        servers: list[subprocess.Popen]) -> dict:
    database = cluster.create_database("bench")
    settings, deployment = dev_registry_settings(workdir, anvil, database.url,
                                                 "Bench signer", "Bench NMI")
    data_dir = settings.data_dir
    result: dict = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "cpu": platform.processor() or platform.machine()},
        "database": "PostgreSQL (private cluster, fsync off)", "chain": "anvil (automine)",
        "parameters": {"sizes": args.sizes, "n_real": args.real, "runs": args.runs,
                       "workers": args.workers,
                       "seconds_per_run": args.seconds, "warmup_seconds": args.warmup,
                       "connections": args.connections,
                       "wrk_threads": args.threads}}

    # Real documents: the full pipeline, so verification has real anchorings to check.
    issuer = Issuer.from_settings(settings)
    started = time.perf_counter()
    report = issuer.run(make_dccs(workdir / "dcc", args.real), batch_size=args.real_batch)
    result["issue_real_seconds"] = round(time.perf_counter() - started, 1)
    real = [s.sha256 for s in report.submissions if s.sha256]
    assert report.pending_documents == 0 and len(real) == args.real
    upload = issuer.store.get(Cid.parse(report.submissions[0].cid))
    with issuer.sessions() as session:
        template = session.scalar(select(ChainDocument.public_metadata).limit(1))

    # Indexer: catch-up into an empty database, and rebuild of the populated one.
    catch_up_rates, catch_up_events = [], 0
    for run_number in range(args.runs):
        empty = cluster.create_database(f"catchup{run_number}")
        indexer = Indexer(issuer.client, open_database(empty.url), issuer.store, 1)
        started = time.perf_counter()
        indexed = indexer.catch_up()
        seconds = time.perf_counter() - started
        catch_up_events = indexed.events
        catch_up_rates.append(indexed.events / seconds)
        cluster.drop_database(empty)
    rebuild_seconds = []
    for _ in range(args.runs):
        started = time.perf_counter()
        issuer.indexer.rebuild()
        rebuild_seconds.append(time.perf_counter() - started)
    result["indexer"] = {"chain_events": catch_up_events, "real_documents": args.real,
                         "batches": len(report.anchored),
                         "catch_up_events_per_second": summary(catch_up_rates, 1),
                         "rebuild_seconds": summary(rebuild_seconds, 3)}

    # Synthetic rows around the real ones, as many as each size wants.
    operator = issuer.client.account.address
    with issuer.sessions() as session:
        first_block = session.scalar(select(func.max(ChainBatch.block_number))) + 1
        real_inputs = session.scalars(select(VerdictInputs).limit(1)).one()
    inputs_template = {"issuer_status_at_issue": real_inputs.issuer_status_at_issue,
                       "traceability": real_inputs.traceability, "scope": real_inputs.scope,
                       "computed_block": real_inputs.computed_block}
    with issuer.sessions() as session:
        number = session.scalar(select(ChainDocument.unique_identifier).where(
            ChainDocument.sha256 == real[0]))

    lines = {
        "verify": [f"/v1/verify/{h}" for h in real],
        "verify_fresh": [f"/v1/verify/{h}?fresh=true" for h in real],
        "lookup": [f"/v1/certificates/{h}" for h in real],
        "search": [f"/v1/search?number={number}&issuer={DEV_ISSUER}"],
        "bare": [f"/bare/{h}" for h in real]}
    body_file = workdir / "upload.xml"
    body_file.write_bytes(upload)
    scripts = {"post": workdir / "post.lua"}
    scripts["post"].write_text(POST_LUA % {"body": body_file})
    for name, paths in lines.items():
        paths_file = workdir / f"{name}_paths.txt"
        paths_file.write_text("".join(f"{path}\n" for path in paths))
        scripts[name] = workdir / f"{name}.lua"
        scripts[name].write_text(GET_LUA % {"paths": paths_file})

    env = server_environment(data_dir, anvil.rpc_url, database.url, deployment)
    registry_proc, registry_port = start_server("registry", env, workdir / "registry.log",
                                                args.workers)
    servers.append(registry_proc)
    bare_proc, bare_port = start_server("bare", env, workdir / "bare.log", args.workers)
    servers.append(bare_proc)
    registry_url, bare_url = f"http://127.0.0.1:{registry_port}", f"http://127.0.0.1:{bare_port}"

    result["sizes"] = []
    inserted = 0
    for size in args.sizes:
        insert_seconds = bulk_insert_synthetic(database.url, inserted, size, first_block,
                                               issuer.issuer_hex, operator, template,
                                               inputs_template)
        added, inserted = size - inserted, size
        with open_database(database.url)() as session:
            indexed_documents = session.scalar(select(func.count()).select_from(ChainDocument))
        for path in (lines["verify"][-1], lines["search"][0]):
            with urllib.request.urlopen(f"{registry_url}{path}", timeout=30) as answer:
                check = json.loads(answer.read())
            assert check.get("verdict", "valid") == "valid" and check.get("total", 1), check
        http = {
            "verify_by_hash": load_runs(registry_url, scripts["verify"], args),
            "verify_by_upload": load_runs(f"{registry_url}/v1/verify", scripts["post"], args),
            "lookup": load_runs(registry_url, scripts["lookup"], args),
            "search": load_runs(registry_url, scripts["search"], args),
            "bare_fastapi_get": load_runs(bare_url, scripts["bare"], args),
            "bare_fastapi_post": load_runs(f"{bare_url}/bare", scripts["post"], args)}
        if not args.no_fresh:
            http["verify_by_hash_fresh"] = load_runs(registry_url, scripts["verify_fresh"],
                                                     args)
            http["verify_by_upload_fresh"] = load_runs(
                f"{registry_url}/v1/verify?fresh=true", scripts["post"], args)
        result["sizes"].append({
            "dataset": {"indexed_documents": indexed_documents,
                        "bulk_insert_seconds": round(insert_seconds, 1),
                        "bulk_insert_rows_per_second": round(added / insert_seconds),
                        "upload_bytes": len(upload)},
            "http": http})
    # The largest size, where the report reads it.
    result["dataset"], result["http"] = result["sizes"][-1]["dataset"], \
        result["sizes"][-1]["http"]
    return result


if __name__ == "__main__":
    main()
