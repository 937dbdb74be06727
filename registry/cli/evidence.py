"""`certreg renew|evidence|migrate`: long-term validity (docs/evidence-records.md).

`renew` re-anchors indexed batches under a new hash tree (SHA3-256 by default);
`evidence HASH` writes a document's evidence record; `evidence --verify FILE` checks one
with nothing but RPC endpoints and a dated algorithm trust policy; `migrate export`
writes every batch's evidence and revocations, `migrate import --to ADDRESS` anchors
them on a new contract (or chain) and carries the revocations over.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from anchor.chain import RegistryClient, connect
from anchor.evidence import (
    DEFAULT_ALGORITHM,
    DIGEST_SIZES,
    RENEWAL_ALGORITHMS,
    WORD,
    EvidenceRecord,
    TrustPolicy,
    verify_evidence_record,
)
from anchor.receipt import Verdict
from registry.cli import EXIT_FAILURE, EXIT_OK
from registry.cli.output import emit, write_or_print
from registry.errors import ConfigurationError, DocumentNotFoundError, MigrationError
from registry.settings import Settings, load_settings

EVIDENCE_DIR = "evidence"


def register(subparsers: argparse._SubParsersAction) -> None:
    renew = subparsers.add_parser("renew", help="re-anchor batches under a stronger hash tree")
    renew.add_argument("--algorithm", choices=sorted(RENEWAL_ALGORITHMS),
                       default=DEFAULT_ALGORITHM)
    which = renew.add_mutually_exclusive_group(required=True)
    which.add_argument("--batch", type=int, action="append", metavar="ID",
                       help="a batch to renew (repeatable)")
    which.add_argument("--all", action="store_true", help="every indexed batch")
    renew.set_defaults(handler=_renew)

    evidence = subparsers.add_parser("evidence", help="write or verify an evidence record")
    evidence.add_argument("sha256", metavar="HASH", nargs="?",
                          help="the document whose evidence record to write")
    evidence.add_argument("-o", "--output", type=Path, help="write the record here")
    evidence.add_argument("--verify", type=Path, metavar="RECORD",
                          help="check this record (needs only RPC endpoints)")
    evidence.add_argument("--document", type=Path, help="with --verify: the document's bytes")
    evidence.add_argument("--rpc", action="append", metavar="URL",
                          help="RPC endpoint (repeatable: one per chain the record names; "
                               "default: the configured one)")
    evidence.add_argument("--trust", action="append", default=[], metavar="ALG=DATE",
                          help="trust ALG only before DATE (YYYY-MM-DD or 'never'), "
                               "e.g. sha256=2040-01-01")
    evidence.add_argument("--at", type=dt.date.fromisoformat, metavar="DATE",
                          help="verify as of this day (default: now)")
    evidence.set_defaults(handler=_evidence)

    migrate = subparsers.add_parser("migrate", help="move evidence to a new contract or chain")
    actions = migrate.add_subparsers(dest="migrate_command", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="every batch's evidence and revocations")
    export.add_argument("-o", "--output", type=Path, required=True)
    export.set_defaults(handler=_export)
    imported = actions.add_parser("import", help="anchor an export on a new contract")
    imported.add_argument("file", type=Path)
    imported.add_argument("--to", required=True, metavar="ADDRESS", help="the new contract")
    imported.add_argument("--rpc", metavar="URL",
                          help="the new contract's chain (default: the configured one)")
    imported.add_argument("--algorithm", choices=sorted(a for a, size in DIGEST_SIZES.items()
                                                        if size == WORD),
                          default=DEFAULT_ALGORITHM)
    imported.set_defaults(handler=_import)


def _directory(settings: Settings):
    from registry.renewal import EvidenceDirectory

    return EvidenceDirectory(settings.data_dir / EVIDENCE_DIR)


def _signing_client(settings: Settings, rpc_url: str | None = None,
                    address: str | None = None) -> RegistryClient:
    from registry.context import operator_account, registry_client

    if address is None:
        client = registry_client(settings)
    else:
        client = RegistryClient(connect(rpc_url or settings.effective_rpc_url), address,
                                confirmations=settings.confirmations)
    return client.as_account(operator_account(settings, client.chain_id))


def _renew(args: argparse.Namespace) -> int:
    from registry.cli.audit import build_indexer
    from registry.renewal import renew_batches

    settings = load_settings()
    indexer = build_indexer(settings)
    indexer.catch_up()
    outcome = renew_batches(indexer.sessions, _signing_client(settings), indexer.store,
                            _directory(settings), None if args.all else args.batch,
                            algorithm=args.algorithm)
    a = outcome.anchoring
    emit(args, {"renewal_batch_id": a.batch_id, "root": a.root, "algorithm": args.algorithm,
                "transaction_hash": a.transaction_hash, "renewed": len(outcome.records),
                "skipped": [{"sha256": s, "reason": r} for s, r in outcome.skipped]},
         f"renewed {len(outcome.records)} document(s) under {args.algorithm} in batch "
         f"{a.batch_id} ({a.transaction_hash}); skipped {len(outcome.skipped)}")
    return EXIT_OK


def _evidence(args: argparse.Namespace) -> int:
    if args.verify is not None:
        return _verify(args)
    if args.sha256 is None:
        raise ConfigurationError("give a document HASH, or --verify RECORD")
    from registry.cli.audit import build_indexer
    from registry.evidence_records import IndexedContract, projected_record
    from registry.issuance import normalise_sha256

    settings = load_settings()
    sha256 = normalise_sha256(args.sha256)
    indexer = build_indexer(settings)
    indexer.catch_up()
    with indexer.sessions() as session:  # chain + IPFS: any registry indexing the contract
        record = projected_record(session, IndexedContract(indexer.client.chain_id,
                                                           indexer.client.address), sha256)
    # A record this registry made elsewhere (`migrate import` onto another contract).
    saved = _directory(settings).load(sha256)
    if saved is not None and (record is None or len(saved.renewals) > len(record.renewals)):
        record = saved
    if record is None:
        raise DocumentNotFoundError(f"no anchored document 0x{sha256} is known to this "
                                    "registry", sha256=sha256)
    write_or_print(args, record.to_json(), {"renewals": len(record.renewals)},
                   f"evidence record with {len(record.renewals)} renewal(s) written to "
                   f"{args.output}")
    return EXIT_OK


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None


def _verify(args: argparse.Namespace) -> int:
    record = EvidenceRecord.from_json(_read(args.verify))
    rpc = args.rpc or [load_settings().effective_rpc_url]
    now = None if args.at is None else dt.datetime(args.at.year, args.at.month, args.at.day,
                                                   tzinfo=dt.UTC)
    result = verify_evidence_record(record, None if args.document is None
                                    else _read(args.document), rpc,
                                    policy=TrustPolicy.parse(args.trust), now=now)
    lines = [f"{s.number}. {s.name:15} {s.status.value:7} {s.detail}" for s in result.steps]
    lines.append(f"verdict: {result.verdict.value}")
    emit(args, {"document_sha256": record.document_sha256, **result.to_dict()},
         "\n".join(lines))
    return EXIT_OK if result.verdict is Verdict.VALID else EXIT_FAILURE


def _export(args: argparse.Namespace) -> int:
    from registry.cli.audit import build_indexer
    from registry.renewal import export_from_projection

    settings = load_settings()
    indexer = build_indexer(settings)
    indexer.catch_up()
    export = export_from_projection(indexer.sessions, indexer.client, _directory(settings))
    args.output.write_text(export.to_json())
    emit(args, {"output": str(args.output), "records": len(export.records),
                "revocations": len(export.revocations)},
         f"{len(export.records)} record(s), {len(export.revocations)} revocation(s) "
         f"written to {args.output}")
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from registry.renewal import MigrationExport, import_export

    settings = load_settings()
    export = MigrationExport.from_json(_read(args.file))
    target = _signing_client(settings, args.rpc, args.to)
    if (target.chain_id, target.address) == (export.chain_id, export.contract_address):
        raise MigrationError("the export comes from this very contract")
    from registry.context import content_store

    outcome = import_export(target, export, algorithm=args.algorithm,
                            store=content_store(settings))
    directory = _directory(settings)
    for record in outcome.records:
        directory.save(record)
    a = outcome.anchoring
    emit(args, {"batch_id": a.batch_id, "chain_id": a.chain_id,
                "contract_address": a.contract_address, "records": len(outcome.records),
                "transaction_hash": a.transaction_hash},
         f"{len(outcome.records)} record(s) anchored on {a.contract_address} (chain "
         f"{a.chain_id}) as batch {a.batch_id}")
    return EXIT_OK
