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
import contextlib
import datetime as dt
import hashlib
import importlib.util
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg  # noqa: E402
from eth_utils import to_checksum_address  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sqlalchemy import event, func, insert, select  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from anchor.accounts import create_keystore  # noqa: E402
from anchor.chain import (  # noqa: E402
    GovernanceAction,
    IssuerKind,
    RegistryClient,
    account_from_key,
    connect,
    issuer_id_from_name,
)
from anchor.cid import CODEC_RAW, Cid  # noqa: E402
from anchor.services.anvil import AnvilNode, dev_private_key  # noqa: E402
from anchor.services.postgres import PostgresCluster  # noqa: E402
from registry.context import content_store  # noqa: E402
from registry.db import ChainBatch, ChainDocument, ChainIssuer, open_database  # noqa: E402
from registry.db.cascade import AffectedCertificate, affected_by  # noqa: E402
from registry.db.engine import upgrade_to_head  # noqa: E402
from registry.db.models import ChainRevocation  # noqa: E402
from registry.db.queries import DatabaseIndexView  # noqa: E402
from registry.db.search import NUMBER, normalise  # noqa: E402
from registry.devnet import DEV_GOVERNOR_INDEXES, ensure_dev_registry  # noqa: E402
from registry.documents.accreditation import AccreditationDocument, ScopeEntry  # noqa: E402
from registry.documents.citations import CitationRole  # noqa: E402
from registry.documents.keys import generate_test_signing_identity  # noqa: E402
from registry.documents.metadata import extract_dcc_metadata  # noqa: E402
from registry.documents.parse import parse_xml  # noqa: E402
from registry.issuance import Issuer  # noqa: E402
from registry.settings import Settings, load_settings  # noqa: E402
from registry.trust import RegistryTrustChecks  # noqa: E402
from scripts.bench_api import (  # noqa: E402
    GET_LUA,
    SHARED_DCC,
    SYNTHETIC_BATCH,
    SYNTHETIC_BATCH_ID_OFFSET,
    load_runs,
    on_private_services,
    start_server,
    stop_server,
    summary,
)
from tests.registry.trust_fixtures import TEMPLATE, Cite, chain_dcc  # noqa: E402

QUICK = {"labs": 20, "instruments": 50, "real": 4, "seconds": 1, "warmup": 1,
         "trace_calls": 20}
FULL = {"labs": 1000, "instruments": 1000, "real": 32, "seconds": 5, "warmup": 2,
        "trace_calls": 50}
SIGNING_PASSWORD = "benchmark signing key"
KEYSTORE_PASSWORD = "benchmark operator keystore"
LAB_CODE = "BENCH-LAB"
LAB_ADMIN_INDEX, LAB_OPERATOR_INDEX = 6, 7  # anvil dev accounts the dev registry leaves free
ISSUE_DELAY = dt.timedelta(days=2)  # calibration -> certificate issued -> anchored next day
BLOCK_SECONDS = 12
PROOF_LEVELS = 8  # siblings per proof: batches of 256
REFERRAL = "Calibration certificate of the reference standard"
# Placeholders in the metadata template (replaced per certificate).
_NUMBER, _PARENT, _DAY = "BENCHTRACENUMBER", "BENCHTRACEPARENT", dt.date(1901, 2, 3)
_PARENT_SHA = hashlib.sha256(b"bench-trace placeholder").hexdigest()


# ------------------------------------------------------------------ the graph

class Doc(NamedTuple):
    sha256: str
    number: str
    issuer_id: str  # 64 hex
    calibrated: dt.date
    parent_number: str | None  # the certificate it cites (None: the NMI's)
    parent_sha256: str | None


@dataclass(frozen=True)
class GraphSpec:
    """1 NMI certificate <- `labs` laboratory standards <- `instruments` per standard.

    Laboratory standards are issued by `lab_issuers` accredited laboratories (standard j
    by laboratory j mod lab_issuers), which also issue the certificates of the
    instruments calibrated against them (in batches of their own). Dates: the NMI
    certificate is calibrated on `start`, the standards over the `lab_days` from
    start + 28 days, the instruments over the `instrument_days` starting 14 days after
    that (their order interleaves the standards); each certificate is issued 2 days
    after its calibration and anchored the day after its batch's last one was issued,
    so every certificate is anchored before any certificate citing it was calibrated.
    `older` lists numbers whose calibration predates `effective_from` (30 days before).
    """

    labs: int
    instruments: int  # per laboratory standard
    lab_issuers: int = 8
    start: dt.date = dt.date(2024, 1, 8)
    lab_days: int = 60
    instrument_days: int = 365
    seed: str = "bench-trace"
    older: frozenset[str] = field(default_factory=frozenset)

    @property
    def issuers(self) -> int:
        return max(1, min(self.lab_issuers, self.labs))

    @property
    def total(self) -> int:
        return 1 + self.labs + self.labs * self.instruments

    @property
    def effective_from(self) -> dt.date:
        """Effective date of the NMI revocation: after its calibration, before the rest."""
        return self.start + dt.timedelta(days=7)

    def sha(self, number: str) -> str:
        return hashlib.sha256(f"{self.seed}:{number}".encode()).hexdigest()

    nmi_number = "SYN-NMI-0000001"

    @staticmethod
    def lab_number(j: int) -> str:
        return f"SYN-LAB-{j:07d}"

    @staticmethod
    def instrument_number(j: int, k: int) -> str:
        return f"SYN-INS-{j:07d}-{k:07d}"

    @property
    def nmi_sha(self) -> str:
        return self.sha(self.nmi_number)

    def lab_sha(self, j: int) -> str:
        return self.sha(self.lab_number(j))

    def instrument_sha(self, j: int, k: int) -> str:
        return self.sha(self.instrument_number(j, k))

    @property
    def nmi_issuer(self) -> str:
        return issuer_id_from_name("SYN-NMI").hex()

    @staticmethod
    def lab_issuer(m: int) -> str:
        return issuer_id_from_name(f"SYN-LAB-{m:02d}").hex()

    def _date(self, number: str, day: dt.date) -> dt.date:
        return self.effective_from - dt.timedelta(days=30) if number in self.older else day

    def lab_calibrated(self, j: int) -> dt.date:
        day = self.start + dt.timedelta(days=28 + j * self.lab_days // self.labs)
        return self._date(self.lab_number(j), day)

    def instrument_calibrated(self, j: int, k: int) -> dt.date:
        first = self.start + dt.timedelta(days=28 + self.lab_days + 14)
        position = k * self.labs + j
        day = first + dt.timedelta(
            days=position * self.instrument_days // (self.labs * self.instruments))
        return self._date(self.instrument_number(j, k), day)

    # Documents, grouped by issuer (each issuer's batches hold only its documents).

    def nmi(self) -> Doc:
        return Doc(self.nmi_sha, self.nmi_number, self.nmi_issuer,
                   self._date(self.nmi_number, self.start), None, None)

    def lab(self, j: int) -> Doc:
        return Doc(self.lab_sha(j), self.lab_number(j), self.lab_issuer(j % self.issuers),
                   self.lab_calibrated(j), self.nmi_number, self.nmi_sha)

    def instrument(self, j: int, k: int) -> Doc:
        return Doc(self.instrument_sha(j, k), self.instrument_number(j, k),
                   self.lab_issuer(j % self.issuers), self.instrument_calibrated(j, k),
                   self.lab_number(j), self.lab_sha(j))

    def sequences(self) -> list[tuple[int, Callable[[int], Doc]]]:
        """Documents in issuance order, one sequence per issuer and kind: its length and
        its t-th document (the NMI's; then each laboratory's standards, which are issued
        before its instrument certificates; then its instrument certificates)."""
        sequences: list[tuple[int, Callable[[int], Doc]]] = [(1, lambda t: self.nmi())]
        for m in range(self.issuers):
            labs = range(m, self.labs, self.issuers)
            sequences.append((len(labs), lambda t, labs=labs: self.lab(labs[t])))
            sequences.append((len(labs) * self.instruments, lambda t, labs=labs: self.instrument(
                labs[t % len(labs)], t // len(labs))))
        return sequences


@dataclass(frozen=True)
class Batch:
    batch_id: int
    block_number: int
    anchored_at: dt.datetime  # naive UTC, as UtcDateTime stores it
    issuer_id: str
    at: Callable[[int], Doc]
    first: int  # index in its issuer's sequence
    count: int

    def documents(self) -> Iterator[Doc]:
        for t in range(self.first, self.first + self.count):
            yield self.at(t)


def plan_batches(spec: GraphSpec, first_block: int) -> list[Batch]:
    """Batches of up to 256 documents of one issuer and kind, anchored in order of their last
    issue day (BLOCK_SECONDS apart within a day), with consecutive block numbers."""
    pending = []
    for rank, (length, at) in enumerate(spec.sequences()):
        for first in range(0, length, SYNTHETIC_BATCH):
            count = min(SYNTHETIC_BATCH, length - first)
            last = max(at(t).calibrated for t in range(first, first + count))
            pending.append((last + ISSUE_DELAY + dt.timedelta(days=1), rank, first, count, at))
    pending.sort(key=lambda p: (p[0], p[1], p[2]))
    batches, day, second = [], None, 0
    for b, (anchor_day, _, first, count, at) in enumerate(pending):
        second = second + BLOCK_SECONDS if anchor_day == day else 0
        day = anchor_day
        batches.append(Batch(SYNTHETIC_BATCH_ID_OFFSET + b, first_block + b,
                             dt.datetime.combine(anchor_day, dt.time()) + dt.timedelta(
                                 seconds=second), at(first).issuer_id, at, first, count))
    return batches


def metadata_patterns(template: bytes) -> tuple[str, str]:
    """str.format patterns of the public metadata JSON (as the indexer stores it) of a
    certificate made from `template`: (citing a standard, citing none)."""
    def pattern(cite: Cite | None) -> str:
        xml = chain_dcc(template, _NUMBER, _DAY, cite)
        text = extract_dcc_metadata(parse_xml(xml)).to_json()
        text = text.replace("{", "{{").replace("}", "}}")
        for placeholder, name in ((_NUMBER, "number"), (_PARENT, "parent"),
                                  (_PARENT_SHA, "parent_sha"), (_DAY.isoformat(), "day")):
            if cite is None and name.startswith("parent"):
                continue
            assert f'"{placeholder}"' in text, placeholder
            text = text.replace(f'"{placeholder}"', f'"{{{name}}}"')
        return text
    return pattern(Cite(_PARENT, _PARENT_SHA, REFERRAL)), pattern(None)


def psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _copy(connection: psycopg.Connection, table: str, columns: tuple[str, ...],
          rows: Iterator[tuple]) -> int:
    n = 0
    with connection.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _hex(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def build_graph(url: str, spec: GraphSpec, template: bytes | None = None) -> dict[str, Any]:
    """Insert the synthetic graph into the (migrated) database at `url` with COPY, in
    one transaction, then VACUUM ANALYZE. Returns row counts and seconds."""
    upgrade_to_head(url)
    template = template or (SHARED_DCC / "examples" / TEMPLATE).read_bytes()
    citing, root = metadata_patterns(template)
    started = time.perf_counter()
    role = CitationRole.MEASURING_EQUIPMENT.value
    with psycopg.connect(psycopg_dsn(url)) as connection:
        first_block = (connection.execute("SELECT max(block_number) FROM chain_batches")
                       .fetchone()[0] or 0) + 1
        first_id = (connection.execute("SELECT max(id) FROM chain_documents")
                    .fetchone()[0] or 0) + 1
        batches = plan_batches(spec, first_block)
        issuers = [(spec.nmi_issuer, IssuerKind.NATIONAL_METROLOGY_INSTITUTE)] + [
            (spec.lab_issuer(m), IssuerKind.ACCREDITED_LABORATORY) for m in range(spec.issuers)]
        counts = {"chain_issuers": _copy(
            connection, "chain_issuers",
            ("issuer_id", "country", "kind", "status", "admin", "metadata_cid", "operators",
             "registered_block", "updated_block"),
            ((issuer, "DE", kind.name.lower(), "active", _address(spec, "admin", issuer), "",
              json.dumps([_address(spec, "operator", issuer)]), 0, 0)
             for issuer, kind in issuers))}
        counts["chain_batches"] = _copy(
            connection, "chain_batches",
            ("batch_id", "issuer_id", "root", "count", "manifest_cid", "manifest_status",
             "operator", "block_number", "block_hash", "tx_hash", "log_index", "anchored_at"),
            ((b.batch_id, b.issuer_id, _hex(spec.seed, "root", b.batch_id), b.count,
              str(Cid(1, CODEC_RAW, bytes.fromhex(_hex(spec.seed, "manifest", b.batch_id)))),
              "ok", _address(spec, "operator", b.issuer_id), b.block_number,
              "0x" + _hex(spec.seed, "block", b.block_number),
              "0x" + _hex(spec.seed, "tx", b.batch_id), 0, b.anchored_at) for b in batches))

        def documents() -> Iterator[tuple[int, Batch, Doc]]:
            document_id = first_id
            for batch in batches:
                for doc in batch.documents():
                    yield document_id, batch, doc
                    document_id += 1

        def document_rows() -> Iterator[tuple]:
            for document_id, batch, doc in documents():
                if doc.parent_number is None:
                    metadata = root.format(number=doc.number, day=doc.calibrated.isoformat())
                else:
                    metadata = citing.format(number=doc.number, day=doc.calibrated.isoformat(),
                                             parent=doc.parent_number,
                                             parent_sha=doc.parent_sha256)
                siblings = hashlib.shake_128(f"{spec.seed}:proof:{doc.sha256}".encode()
                                             ).hexdigest(32 * PROOF_LEVELS)
                proof = json.dumps(["0x" + siblings[64 * i:64 * i + 64]
                                    for i in range(PROOF_LEVELS)])
                yield (document_id, doc.sha256, batch.batch_id, doc.issuer_id,
                       str(Cid(1, CODEC_RAW, bytes.fromhex(doc.sha256))), "dcc", doc.number,
                       metadata, False, proof, batch.block_number, None, doc.calibrated,
                       doc.calibrated)

        counts["chain_documents"] = _copy(
            connection, "chain_documents",
            ("id", "sha256", "batch_id", "issuer_id", "cid", "document_type",
             "unique_identifier", "metadata", "encrypted", "proof", "block_number",
             "issued_on", "calibrated_from", "calibrated_to"), document_rows())
        connection.execute("SELECT setval(pg_get_serial_sequence('chain_documents', 'id'), "
                           "(SELECT max(id) FROM chain_documents))")
        counts["document_identifiers"] = _copy(
            connection, "document_identifiers", ("document_id", "kind", "value"),
            ((document_id, NUMBER, normalise(doc.number))
             for document_id, _, doc in documents()))
        # With the citing anchoring's facts, as registry.db.traceability.
        # record_citing_facts writes them (every synthetic certificate is anchored once).
        counts["certificate_citations"] = _copy(
            connection, "certificate_citations",
            ("document_id", "citing_sha256", "position", "role", "referral", "referral_id",
             "referral_id_key", "procedure", "value", "cited_sha256", "citing_block_number",
             "citing_batch_id", "citing_issuer_id", "citing_number",
             "citing_calibration_date", "citing_relied_on", "citing_reanchored"),
            ((document_id, doc.sha256, 0, role, REFERRAL, doc.parent_number,
              normalise(doc.parent_number), "SHA-256", doc.parent_sha256, doc.parent_sha256,
              batch.block_number, batch.batch_id, doc.issuer_id, doc.number, doc.calibrated,
              doc.calibrated, False)
             for document_id, batch, doc in documents() if doc.parent_number is not None))
        connection.commit()
        insert_seconds = time.perf_counter() - started
        connection.autocommit = True
        started = time.perf_counter()
        # What autovacuum does to a table after so many inserts (PostgreSQL >= 13), once
        # and before measuring: otherwise the first reads of each page write its hint
        # bits, and an autovacuum may start in the middle of a timed run.
        connection.execute("VACUUM ANALYZE")
        analyze_seconds = time.perf_counter() - started
        sizes = {table: round(connection.execute(
            "SELECT pg_total_relation_size(%s)", (table,)).fetchone()[0] / 2**20, 1)
            for table in ("chain_documents", "certificate_citations", "document_identifiers",
                          "chain_batches")}
    rows = sum(counts.values())
    return {"rows": counts, "insert_seconds": round(insert_seconds, 2),
            "rows_per_second": round(rows / insert_seconds),
            "analyze_seconds": round(analyze_seconds, 2), "table_sizes_mb": sizes,
            "batches": len(batches), "first_block": first_block}


def _address(spec: GraphSpec, role: str, issuer: str) -> str:
    return to_checksum_address("0x" + _hex(spec.seed, role, issuer)[:40])


def revoke_in_projection(sessions: sessionmaker[Session], spec: GraphSpec,
                         revoked_at: dt.datetime) -> None:
    """The chain_revocations row the indexer would write for the NMI certificate revoked
    as compromised with effect from `spec.effective_from`."""
    with sessions() as session, session.begin():
        batch_id = session.scalar(select(ChainDocument.batch_id).where(
            ChainDocument.sha256 == spec.nmi_sha))
        block = (session.scalar(select(func.max(ChainBatch.block_number))) or 0) + 1
        session.execute(insert(ChainRevocation), [{
            "issuer_id": spec.nmi_issuer, "document_sha256": spec.nmi_sha,
            "batch_id": batch_id, "reason": "compromised", "replacement": None,
            "effective_from": int(dt.datetime.combine(spec.effective_from, dt.time(),
                                                      dt.UTC).timestamp()),
            "operator": _address(spec, "operator", spec.nmi_issuer), "block_number": block,
            "block_hash": "0x" + secrets.token_hex(32), "tx_hash": "0x" + secrets.token_hex(32),
            "log_index": 0, "revoked_at": revoked_at}])


# ------------------------------------------------------------------ cascade

def _status_mb(field: str, pid: int | str = "self") -> float:
    """VmRSS (resident now) or VmHWM (its high-water mark) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss(pid: int | str = "self") -> bool:
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

    reset = _reset_peak_rss()
    rss_before = _status_mb("VmRSS")
    with sql_statements(engine) as stats:
        first_run = once()
    timed = [once() for _ in range(runs)]
    peak_rss = _status_mb("VmHWM")
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
        reset = _reset_peak_rss(server_pid)
        before = _status_mb("VmRSS", server_pid)
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
        growth.append(_status_mb("VmHWM", server_pid) - before)
        sizes.append(size)
        assert lines == expected, (lines, expected)
    return {"lines": expected, "mb": round(statistics.median(sizes) / 2**20, 1),
            "first_line_seconds": summary(first, 4), "seconds": summary(total, 3),
            "lines_per_second": round(expected / statistics.median(total)),
            "server_peak_rss_growth_mb": summary(growth, 1), "peak_rss_reset": reset}


# ------------------------------------------------------------------ real documents

def register_laboratory(rpc_url: str, address: str, settings: Settings) -> bytes:
    """An accredited laboratory with an operator and an accreditation whose scope covers
    the template's temperature results (recorded by governance, document on IPFS)."""
    w3 = connect(rpc_url)
    governors = [account_from_key(dev_private_key(i)) for i in DEV_GOVERNOR_INDEXES]
    admin = account_from_key(dev_private_key(LAB_ADMIN_INDEX))
    operator = account_from_key(dev_private_key(LAB_OPERATOR_INDEX))
    client = RegistryClient(w3, address, account=governors[0])
    lab_id = issuer_id_from_name(LAB_CODE)

    def govern(action: GovernanceAction) -> None:
        proposal_id, _ = client.propose(action)
        client.as_account(governors[1]).approve(proposal_id)

    govern(GovernanceAction.register_issuer(lab_id, "DE", IssuerKind.ACCREDITED_LABORATORY,
                                            admin.address, ""))
    client.as_account(admin).add_operator(lab_id, operator.address)
    accreditation = AccreditationDocument(
        issuer=LAB_CODE, body="DAkkS", number="D-K-99999-01-00",
        valid_from=dt.date(2020, 1, 1), valid_until=dt.date(2099, 12, 31), scope=(
            ScopeEntry("temperature", r"\degreecelsius", "-40", "350", "30",
                       r"\milli\kelvin"),
            ScopeEntry("temperature deviation", r"\kelvin", "-1", "1", "0.05",
                       ref_types=("basic_measurementError",))))
    data = accreditation.to_bytes()
    cid = content_store(settings).put(data)
    govern(GovernanceAction.set_accreditation(
        lab_id, hashlib.sha256(data).digest(), str(cid),
        int(dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp())))
    keystore = settings.data_dir / "lab-operator.json"
    create_keystore(keystore, KEYSTORE_PASSWORD, dev_private_key(LAB_OPERATOR_INDEX))
    return lab_id


def chain_day(client: RegistryClient) -> dt.date:
    head = client.w3.eth.get_block("latest")
    return dt.datetime.fromtimestamp(head["timestamp"], dt.UTC).date()


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
    data_dir = workdir / "data"
    database = cluster.create_database("trace")
    with psycopg.connect(psycopg_dsn(database.url)) as connection:
        server_version = connection.execute("SHOW server_version").fetchone()[0]
        server_settings = {name: connection.execute(f"SHOW {name}").fetchone()[0]
                           for name in ("shared_buffers", "work_mem", "effective_cache_size",
                                        "jit", "random_page_cost")}
    signing = generate_test_signing_identity("Bench lab signer", "Bench Lab", "DE",
                                             workdir / "signing", SIGNING_PASSWORD)
    deployment = ensure_dev_registry(load_settings(rpc_url=anvil.rpc_url, data_dir=data_dir))
    settings = Settings(
        data_dir=data_dir, rpc_url=anvil.rpc_url, database_url=database.url,
        contract_address=deployment["address"],
        deployment_block=int(deployment.get("block_number", 0)),
        signing_key=signing.private_key_pem, signing_certificate=signing.certificate_pem,
        signing_password=SecretStr(SIGNING_PASSWORD))
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTREG_")} | {
        "CERTREG_DATA_DIR": str(data_dir), "CERTREG_RPC_URL": anvil.rpc_url,
        "CERTREG_DATABASE_URL": database.url,
        "CERTREG_CONTRACT_ADDRESS": deployment["address"],
        "CERTREG_DEPLOYMENT_BLOCK": str(deployment.get("block_number", 0)),
        "CERTREG_RATE_LIMIT_PER_SECOND": "0", "CERTREG_ISSUANCE_RATE_LIMIT_PER_MINUTE": "0"}
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
