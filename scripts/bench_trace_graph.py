"""The synthetic citation graph of scripts/bench_trace.py, bulk-loaded into PostgreSQL:

    1 NMI certificate  <-  `labs` laboratory standards  <-  `instruments` per standard

as the indexer would write it (chain_issuers, chain_batches of 256 per issuer,
chain_documents with DCC metadata, the certificate-number rows of document_identifiers
and the certificate_citations rows), with COPY in one transaction; and the
chain_revocations row of the NMI certificate revoked (`revoke_in_projection`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import psycopg
from eth_utils import to_checksum_address
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import IssuerKind, issuer_id_from_name
from anchor.cid import CODEC_RAW, Cid
from registry.db import ChainBatch, ChainDocument
from registry.db.engine import upgrade_to_head
from registry.db.models import ChainRevocation
from registry.db.search import NUMBER, normalise
from registry.documents.citations import CitationRole
from registry.documents.metadata import extract_dcc_metadata
from registry.documents.parse import parse_xml
from scripts.bench_api import SHARED_DCC, SYNTHETIC_BATCH, SYNTHETIC_BATCH_ID_OFFSET
from tests.registry.trust_fixtures import TEMPLATE, Cite, chain_dcc

ISSUE_DELAY = dt.timedelta(days=2)  # calibration -> certificate issued -> anchored next day
BLOCK_SECONDS = 12
PROOF_LEVELS = 8  # siblings per proof: batches of 256
REFERRAL = "Calibration certificate of the reference standard"
# Placeholders in the metadata template (replaced per certificate).
_NUMBER, _PARENT, _DAY = "BENCHTRACENUMBER", "BENCHTRACEPARENT", dt.date(1901, 2, 3)
_PARENT_SHA = hashlib.sha256(b"bench-trace placeholder").hexdigest()


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
