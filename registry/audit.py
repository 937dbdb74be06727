"""`certreg audit verify`: compare the database with the chain and name every difference.

The database is a projection of the chain (plus the batch manifests on IPFS), so every
row can be checked against its source. Chain state is read AT the last block the
projection indexed, so blocks mined meanwhile are not reported as differences:

* events: every contract log up to that block is recorded once, with the same name,
  block hash and arguments, and nothing else is recorded (counts per event name too);
* batches: every row equals the contract's `getBatch`, and every BatchAnchored log has
  its row;
* documents: every proof leads to the root the CONTRACT holds for the batch, a batch
  holds as many documents as it says, and (with a content store) the rows equal the
  batch manifest's members;
* revocations: every row equals `getRevocation`, every DocumentRevoked log has its row;
* issuers: every row equals `getIssuer`, its operators are the contract's, and every
  IssuerRegistered log has its row;
* citations (what traceability reads): exactly those of each document's metadata;
* accreditations: every row equals `getAccreditation`, every AccreditationRecorded log
  has its row, and (with a content store) the document is the one the chain names;
* signing certificates: every row equals `getSigningCertificate` and its DER hashes to
  the declared hash, and every declaration the contract lists for an issuer has its row.

Nothing is written. Each difference is a `Discrepancy` with a stable `kind`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anchor.chain import ChainEvent, RegistryClient, issuer_name
from anchor.cid import Cid
from anchor.errors import AnchorError, ContractRevertError, MerkleError
from anchor.merkle import leaf_hash, process_proof
from anchor.store import ContentStore
from registry.db import audit as db
from registry.db.models import MANIFEST_OK, ChainAccreditation, ChainBatch, ChainDocument
from registry.db.traceability import citation_rows
from registry.errors import ManifestInvalidError
from registry.index.indexer import DEFAULT_CHUNK_BLOCKS
from registry.index.manifest import BatchManifest
from registry.index.signing_certificates import kind_name, period_bound


@dataclass(frozen=True)
class Discrepancy:
    kind: str  # stable, e.g. batch-mismatch, revocation-missing-in-db, document-proof-invalid
    subject: str  # what it is about, e.g. "batch 3"
    detail: str  # what differs, database vs chain

    def __str__(self) -> str:
        return f"[{self.kind}] {self.subject}: {self.detail}"


@dataclass
class AuditReport:
    contract_address: str
    indexed_to_block: int | None
    checked: Counter[str] = field(default_factory=Counter)
    discrepancies: list[Discrepancy] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.discrepancies

    def add(self, kind: str, subject: str, detail: str) -> None:
        self.discrepancies.append(Discrepancy(kind, subject, detail))

    def to_dict(self) -> dict[str, Any]:
        return {"contract_address": self.contract_address,
                "indexed_to_block": self.indexed_to_block, "consistent": self.consistent,
                "checked": dict(self.checked),
                "discrepancies": [vars(d) for d in self.discrepancies]}


def _json_value(value: Any) -> Any:
    """An event argument as the indexer records it (bytes as 0x hex)."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _seconds(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _compare(report: AuditReport, kind: str, subject: str,
             pairs: Iterable[tuple[str, Any, Any]]) -> None:
    """One discrepancy listing every field where database and chain disagree."""
    differing = [f"{name}: database {ours!r}, chain {theirs!r}"
                 for name, ours, theirs in pairs if ours != theirs]
    if differing:
        report.add(kind, subject, "; ".join(differing))


def _issuer_label(issuer_hex: str) -> str:
    return issuer_name(bytes.fromhex(issuer_hex))


class ProjectionAuditor:
    """Checks one database against the registry contract `client` reads."""

    def __init__(self, client: RegistryClient, sessions: sessionmaker[Session],
                 store: ContentStore | None = None, *,
                 chunk_blocks: int = DEFAULT_CHUNK_BLOCKS) -> None:
        self.client = client
        self.sessions = sessions
        self.store = store
        self.chunk_blocks = chunk_blocks

    def run(self) -> AuditReport:
        state = db.indexer_state(self.sessions)
        report = AuditReport(self.client.address, None if state is None else state.last_block)
        if state is None:
            report.add("not-indexed", "database", "the database holds no projection yet; "
                       "run `certreg index` first")
            return report
        if state.contract_address != self.client.address:
            report.add("wrong-contract", "database", f"indexes {state.contract_address}, not "
                       f"{self.client.address}")
            return report
        block = state.last_block
        events = self._chain_events(state.deployment_block, block)
        self._check_events(report, events)
        roots = self._check_batches(report, events, block)
        self._check_documents(report, roots)
        self._check_revocations(report, events, block)
        self._check_issuers(report, events, block)
        self._check_accreditations(report, events, block)
        self._check_signing_certificates(report, events, block)
        return report

    def _chain_events(self, first: int, last: int) -> list[ChainEvent]:
        found: list[ChainEvent] = []
        for start in range(first, last + 1, self.chunk_blocks):
            found += self.client.events(start, min(start + self.chunk_blocks - 1, last))
        return found

    # ------------------------------------------------------------------ events

    def _check_events(self, report: AuditReport, events: list[ChainEvent]) -> None:
        recorded = {(e.tx_hash, e.log_index): e for e in db.audit_event_rows(self.sessions)}
        on_chain = {(e.transaction_hash, e.log_index): e for e in events}
        for position, event in on_chain.items():
            report.checked["events"] += 1
            subject = f"event {event.name} at {position[0]}#{position[1]}"
            row = recorded.get(position)
            if row is None:
                report.add("event-missing-in-db", subject, f"in block {event.block_number} "
                           "on chain, not in the database")
                continue
            args = {k: _json_value(v) for k, v in event.args.items()}
            _compare(report, "event-mismatch", subject, [
                ("name", row.name, event.name), ("block_number", row.block_number,
                                                 event.block_number),
                ("block_hash", row.block_hash, event.block_hash),
                *((f"args.{k}", row.args.get(k), v) for k, v in args.items()),
                *((f"args.{k}", v, None) for k, v in row.args.items() if k not in args)])
        for position, row in recorded.items():
            if position not in on_chain:
                report.add("event-not-on-chain", f"event {row.name} at "
                           f"{position[0]}#{position[1]}", "in the database, no such log on "
                           "chain up to the indexed block")
        chain_counts = Counter(e.name for e in events)
        db_counts = Counter(row.name for row in recorded.values())
        for name in sorted(set(chain_counts) | set(db_counts)):
            if chain_counts[name] != db_counts[name]:
                report.add("event-count-mismatch", f"{name} events",
                           f"database {db_counts[name]}, chain {chain_counts[name]}")

    # ----------------------------------------------------------------- batches

    def _check_batches(self, report: AuditReport, events: list[ChainEvent],
                       block: int) -> dict[int, tuple[ChainBatch, bytes | None]]:
        """Returns batch id -> (row, root the CONTRACT holds) for the document checks."""
        rows = {row.batch_id: row for row in db.chain_batches(self.sessions)}
        logs = {int(e.args["batchId"]): e for e in events if e.name == "BatchAnchored"}
        roots: dict[int, tuple[ChainBatch, bytes | None]] = {}
        for batch_id, row in rows.items():
            report.checked["batches"] += 1
            subject = f"batch {batch_id}"
            record = self.client.get_batch(batch_id, block)
            roots[batch_id] = (row, None if record is None else record.root)
            if record is None:
                report.add("batch-missing-on-chain", subject, "in the database, the contract "
                           "has no such batch")
                continue
            log = logs.get(batch_id)
            _compare(report, "batch-mismatch", subject, [
                ("root", "0x" + row.root, "0x" + record.root.hex()),
                ("issuer", _issuer_label(row.issuer_id), issuer_name(record.issuer_id)),
                ("count", row.count, record.count),
                ("manifest_cid", row.manifest_cid, record.manifest_cid),
                ("operator", row.operator, record.operator),
                ("block_number", row.block_number, record.block_number),
                ("anchored_at", _seconds(row.anchored_at), record.anchored_at),
                *([] if log is None else [("tx_hash", row.tx_hash, log.transaction_hash),
                                          ("log_index", row.log_index, log.log_index)])])
        for batch_id, log in logs.items():
            if batch_id not in rows:
                report.add("batch-missing-in-db", f"batch {batch_id}",
                           f"anchored in block {log.block_number} (tx {log.transaction_hash}),"
                           " not in the database")
        return roots

    # --------------------------------------------------------------- documents

    def _check_documents(self, report: AuditReport,
                         roots: dict[int, tuple[ChainBatch, bytes | None]]) -> None:
        counts = db.document_counts(self.sessions)
        for batch_id, (row, _) in roots.items():
            if row.manifest_status == MANIFEST_OK and counts.get(batch_id, 0) != row.count:
                report.add("document-count-mismatch", f"batch {batch_id}",
                           f"database holds {counts.get(batch_id, 0)} document(s), the batch "
                           f"anchors {row.count}")
        citations = db.citations_by_document(self.sessions)
        documents = db.stream_documents(self.sessions)
        for batch_id, group in itertools.groupby(documents, key=lambda d: d.batch_id):
            members = list(group)
            batch, chain_root = roots.get(batch_id, (None, None))
            for document in members:
                report.checked["documents"] += 1
                self._check_proof(report, document, batch, chain_root)
                self._check_citations(report, document, citations.pop(document.id, []))
            if batch is not None and batch.manifest_status == MANIFEST_OK \
                    and self.store is not None:
                self._check_manifest(report, batch, members)

    @staticmethod
    def _check_proof(report: AuditReport, document: ChainDocument, batch: ChainBatch | None,
                     chain_root: bytes | None) -> None:
        subject = f"document 0x{document.sha256} in batch {document.batch_id}"
        if batch is None or chain_root is None:
            return  # reported with its batch
        if document.issuer_id != batch.issuer_id:
            report.add("document-mismatch", subject,
                       f"issuer: database {_issuer_label(document.issuer_id)}, "
                       f"batch {_issuer_label(batch.issuer_id)}")
        try:
            computed = process_proof(leaf_hash(bytes.fromhex(document.sha256)),
                                     [bytes.fromhex(p.removeprefix("0x")) for p in document.proof])
        except (MerkleError, ValueError) as exc:
            report.add("document-proof-invalid", subject, f"unreadable proof: {exc}")
            return
        if computed != chain_root:
            report.add("document-proof-invalid", subject, f"the proof leads to 0x{computed.hex()}"
                       f", the contract's root is 0x{chain_root.hex()}")

    @staticmethod
    def _check_citations(report: AuditReport, document: ChainDocument,
                         recorded: list[dict[str, Any]]) -> None:
        """The citations traceability reads must be exactly those of the document's
        metadata (which _check_manifest holds against the manifest on IPFS)."""
        expected = citation_rows(document.id, document.sha256, document.public_metadata,
                                 document.encrypted)
        report.checked["citations"] += len(expected)
        if recorded != expected:
            report.add("citation-mismatch", f"document 0x{document.sha256} in batch "
                       f"{document.batch_id}", f"database holds {len(recorded)} citation(s), "
                       f"its metadata gives {len(expected)}"
                       + ("" if len(recorded) != len(expected) else ", with other values"))

    def _check_manifest(self, report: AuditReport, batch: ChainBatch,
                        members: list[ChainDocument]) -> None:
        assert self.store is not None
        subject = f"batch {batch.batch_id}"
        try:
            manifest = BatchManifest.from_bytes(self.store.get(Cid.parse(batch.manifest_cid)))
        except (AnchorError, ManifestInvalidError) as exc:
            report.add("manifest-unavailable", subject, f"manifest {batch.manifest_cid}: "
                       f"{getattr(exc, 'message', exc)}")
            return
        listed = {m.sha256: m for m in manifest.documents}
        recorded = {d.sha256: d for d in members}
        for sha256, member in listed.items():
            document = recorded.get(sha256)
            if document is None:
                report.add("document-missing-in-db", f"document 0x{sha256} in {subject}",
                           "listed in the batch manifest, not in the database")
                continue
            fields: list[tuple[str, Any, Any]] = [
                ("cid", document.cid, member.cid),
                ("document_type", document.document_type, member.document_type),
                ("encrypted", document.encrypted, member.encrypted),
                ("unique_identifier", document.unique_identifier, member.unique_identifier)]
            if document.public_metadata != member.metadata:
                fields.append(("metadata", "(differs)", "(manifest)"))
            _compare(report, "document-mismatch", f"document 0x{sha256} in {subject}", fields)
        for sha256 in recorded.keys() - listed.keys():
            report.add("document-not-in-manifest", f"document 0x{sha256} in {subject}",
                       "in the database, not listed in the batch manifest")

    # ------------------------------------------------------------- revocations

    def _check_revocations(self, report: AuditReport, events: list[ChainEvent],
                           block: int) -> None:
        rows = {(r.issuer_id, r.document_sha256): r for r in db.chain_revocations(self.sessions)}
        for (issuer_hex, sha256), row in rows.items():
            report.checked["revocations"] += 1
            subject = f"revocation of 0x{sha256} by {_issuer_label(issuer_hex)}"
            record = self.client.get_revocation(bytes.fromhex(issuer_hex),
                                                bytes.fromhex(sha256), block)
            if record is None:
                report.add("revocation-missing-on-chain", subject,
                           "in the database, the contract has no such revocation")
                continue
            _compare(report, "revocation-mismatch", subject, [
                ("reason", row.reason, record.reason.name.lower()),
                ("replacement", row.replacement,
                 None if record.replacement is None else record.replacement.hex()),
                ("effective_from", row.effective_from, record.effective_from),
                ("batch_id", row.batch_id, record.batch_id),
                ("block_number", row.block_number, record.block_number),
                ("revoked_at", _seconds(row.revoked_at), record.revoked_at)])
        for event in events:
            if event.name != "DocumentRevoked":
                continue
            key = (bytes(event.args["issuerId"]).hex(), bytes(event.args["documentHash"]).hex())
            if key not in rows:
                report.add("revocation-missing-in-db", f"revocation of 0x{key[1]} by "
                           f"{_issuer_label(key[0])}", f"revoked in block {event.block_number}"
                           f" (tx {event.transaction_hash}), not in the database")

    # ----------------------------------------------------------------- issuers

    def _check_issuers(self, report: AuditReport, events: list[ChainEvent],
                       block: int) -> None:
        rows = {row.issuer_id: row for row in db.chain_issuers(self.sessions)}
        for issuer_hex, row in rows.items():
            report.checked["issuers"] += 1
            subject = f"issuer {_issuer_label(issuer_hex)}"
            record = self.client.get_issuer(bytes.fromhex(issuer_hex), block)
            if record.status.value == 0:
                report.add("issuer-missing-on-chain", subject,
                           "in the database, not registered on chain")
                continue
            _compare(report, "issuer-mismatch", subject, [
                ("country", row.country, record.country),
                ("kind", row.kind, record.kind.name.lower()),
                ("status", row.status, record.status.name.lower()),
                ("admin", row.admin, record.admin),
                ("metadata_cid", row.metadata_cid, record.metadata_cid)])
            for operator in row.operators:
                if self.client.issuer_of_operator(operator, block) != bytes.fromhex(issuer_hex):
                    report.add("issuer-mismatch", subject, f"operator {operator}: in the "
                               "database, the contract does not let it anchor for this issuer")
        for event in events:
            if event.name == "IssuerRegistered":
                issuer_hex = bytes(event.args["issuerId"]).hex()
                if issuer_hex not in rows:
                    report.add("issuer-missing-in-db", f"issuer {_issuer_label(issuer_hex)}",
                               f"registered in block {event.block_number}, not in the database")


    # ----------------------------------------------------------- accreditations

    def _check_accreditations(self, report: AuditReport, events: list[ChainEvent],
                              block: int) -> None:
        rows = {(row.issuer_id, row.version): row for row in db.chain_accreditations(self.sessions)}
        for (issuer_hex, version), row in rows.items():
            report.checked["accreditations"] += 1
            subject = f"accreditation {version} of {_issuer_label(issuer_hex)}"
            try:
                record = self.client.get_accreditation(bytes.fromhex(issuer_hex), version, block)
            except ContractRevertError:
                report.add("accreditation-missing-on-chain", subject,
                           "in the database, the contract has no such version")
                continue
            _compare(report, "accreditation-mismatch", subject, [
                ("document_sha256", row.document_sha256,
                 None if record.document_hash is None else record.document_hash.hex()),
                ("document_cid", row.document_cid, record.document_cid),
                ("effective_from", _seconds(row.effective_from), record.effective_from),
                ("block_number", row.block_number, record.recorded_block)])
            if row.document is not None and self.store is not None:
                self._check_accreditation_document(report, subject, row)
        for event in events:
            if event.name == "AccreditationRecorded":
                key = (bytes(event.args["issuerId"]).hex(), int(event.args["version"]))
                if key not in rows:
                    report.add("accreditation-missing-in-db", f"accreditation {key[1]} of "
                               f"{_issuer_label(key[0])}", f"recorded in block "
                               f"{event.block_number}, not in the database")

    # ----------------------------------------------------- signing certificates

    def _check_signing_certificates(self, report: AuditReport, events: list[ChainEvent],
                                    block: int) -> None:
        rows = {(row.issuer_id, row.certificate_sha256): row
                for row in db.chain_signing_certificates(self.sessions)}
        for (issuer_hex, certificate_hex), row in rows.items():
            report.checked["signing_certificates"] += 1
            subject = f"signing certificate {certificate_hex} of {_issuer_label(issuer_hex)}"
            record = self.client.get_signing_certificate(
                bytes.fromhex(issuer_hex), bytes.fromhex(certificate_hex), block)
            if record is None:
                report.add("signing-certificate-missing-on-chain", subject,
                           "in the database, the contract holds no such declaration")
                continue
            _compare(report, "signing-certificate-mismatch", subject, [
                ("kind", row.kind, kind_name(record.kind)),
                ("valid_from", row.valid_from, period_bound(record.valid_from)),
                ("valid_until", row.valid_until, period_bound(record.valid_until)),
                ("withdrawn_at", None if row.withdrawn_at is None else _seconds(row.withdrawn_at),
                 record.withdrawn_at or None),
                ("certificate", hashlib.sha256(row.certificate).hexdigest(), certificate_hex)])
        declared = {(bytes(e.args["issuerId"]).hex(), bytes(e.args["certificateHash"]).hex())
                    for e in events if e.name == "SigningCertificateDeclared"}
        for issuer_hex, certificate_hex in sorted(declared - rows.keys()):
            report.add("signing-certificate-missing-in-db",
                       f"signing certificate {certificate_hex} of {_issuer_label(issuer_hex)}",
                       "declared on chain, not in the database")

    def _check_accreditation_document(self, report: AuditReport, subject: str,
                                      row: ChainAccreditation) -> None:
        assert self.store is not None
        try:
            data = self.store.get(Cid.parse(row.document_cid))
        except AnchorError as exc:
            report.add("accreditation-document-unavailable", subject, exc.message)
            return
        if hashlib.sha256(data).hexdigest() != row.document_sha256 \
                or json.loads(data) != row.document:
            report.add("accreditation-mismatch", subject, "the database's document differs "
                       "from the one on IPFS that the chain names")


def audit_projection(client: RegistryClient, sessions: sessionmaker[Session],
                     store: ContentStore | None = None) -> AuditReport:
    """Compare the projection in `sessions` with the chain (and manifests in `store`)."""
    return ProjectionAuditor(client, sessions, store).run()
