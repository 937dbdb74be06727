"""`certreg issue|revoke|supersede|receipt`: what an institute's operator runs.

`issue` is resumable: killed at any point, the same command finishes the work (see
registry.issuance). Progress goes to stderr (a live bar with documents/s and ETA on a
terminal; otherwise a line per phase and a status line every 10 s), the result to stdout
(a table, or JSON with `--json`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from anchor.chain import RevocationReason, issuer_name
from anchor.errors import ReceiptError
from anchor.receipt import Receipt, Verdict, verify_receipt
from registry.cli import EXIT_FAILURE, EXIT_INPUT, EXIT_OK
from registry.cli.output import emit, write_or_print
from registry.documents.model import DocumentType
from registry.errors import ConfigurationError, DocumentNotFoundError
from registry.issuance import (
    DEFAULT_BATCH_SIZE,
    RECEIPTS_DIR,
    CertificatePreparer,
    DocumentSource,
    IssuanceReport,
    Issuer,
    SubmissionResult,
    SubmissionStatus,
    find_receipt,
    load_signing_identity,
    normalise_sha256,
)
from registry.preparation import PreparationPool, Rejection, default_workers
from registry.revocation import revoke_documents
from registry.settings import Settings, load_settings

REASONS = {reason.name.lower().replace("_", "-"): reason for reason in RevocationReason}


def register(subparsers: argparse._SubParsersAction) -> None:
    issue = subparsers.add_parser(
        "issue", help="validate, sign, store and anchor documents (resumable)")
    issue.add_argument("paths", nargs="+", metavar="PATH",
                       help="files, directories (all *.xml inside, recursively) or globs")
    issue.add_argument("--type", default=DocumentType.DCC.value,
                       choices=[t.value for t in DocumentType], help="document type")
    issue.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                       help=f"documents per anchored Merkle batch (default {DEFAULT_BATCH_SIZE})")
    issue.add_argument("--encrypt", action="store_true",
                       help="store AES-256-GCM encrypted; each key is printed once, kept nowhere")
    issue.add_argument("--no-sign", action="store_true",
                       help="anchor the documents as given, without the institute's signature")
    issue.add_argument("--metadata", type=Path,
                       help="issuer metadata JSON (required for types other than dcc)")
    issue.add_argument("--dry-run", action="store_true",
                       help="validate, sign and hash only: nothing is stored or anchored")
    issue.add_argument("--workers", type=_positive_int, default=default_workers(),
                       help="processes validating and signing in parallel (default: one per "
                            f"core, here {default_workers()}); 1 runs them in this process")
    issue.set_defaults(handler=_issue)

    revoke = subparsers.add_parser(
        "revoke", help="revoke one of the issuer's documents, or many (--from-file)")
    revoke.add_argument("sha256", metavar="HASH", nargs="?")
    revoke.add_argument("--from-file", type=Path, metavar="FILE",
                        help="revoke every hash in FILE (one a line, # comments), batched "
                             "per anchoring batch in revokeMany transactions")
    revoke.add_argument("--reason", required=True, choices=sorted(REASONS))
    revoke.add_argument("--replacement", metavar="HASH", help="hash of the replacing document")
    revoke.add_argument("--effective-from", metavar="WHEN",
                        help="unix time or ISO date/time from which measurements are affected")
    revoke.set_defaults(handler=_revoke)

    supersede = subparsers.add_parser(
        "supersede", help="issue a corrected certificate and revoke the old one as superseded")
    supersede.add_argument("old_sha256", metavar="OLD_HASH")
    supersede.add_argument("new_file", metavar="NEW_FILE", type=Path)
    supersede.add_argument("--type", default=DocumentType.DCC.value,
                           choices=[t.value for t in DocumentType])
    supersede.add_argument("--encrypt", action="store_true")
    supersede.set_defaults(handler=_supersede)

    receipt = subparsers.add_parser("receipt", help="show, save or verify a document's receipt")
    receipt.add_argument("sha256", metavar="HASH")
    receipt.add_argument("--verify", action="store_true",
                         help="replay the receipt against the chain (needs only the RPC URL)")
    receipt.add_argument("--document", type=Path,
                         help="with --verify: also check these bytes hash to the receipt")
    receipt.add_argument("-o", "--output", type=Path, help="write the receipt JSON here")
    receipt.add_argument("--with-chain", action="store_true",
                         help="bundle the receipts and public documents of every certificate "
                              "its traceability rests on (check with `certreg trace --bundle`)")
    receipt.set_defaults(handler=_receipt)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


# ------------------------------------------------------------------ progress


class _RateColumn(ProgressColumn):
    """Documents per second over rich's recent window (blank until it can tell)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} docs/s", style="progress.data.speed")


class CliProgress:
    """Rich progress bars with documents/s and ETA on an interactive stderr; plain lines
    otherwise (logs, CI, and the resume test, which watches for the phase lines): one when
    a phase starts, one every `interval` seconds within it, one when it ends."""

    def __init__(self, interactive: bool, *, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interactive = interactive
        self.interval = interval
        self._clock = clock
        self._progress: Progress | None = None
        self._task: Any = None
        self._phase: tuple[str, int | None, float] | None = None  # name, total, start
        self._done = 0
        self._last_line = 0.0

    def phase(self, name: str, total: int | None = None) -> None:
        if not self.interactive:
            self._end_plain_phase()
            print(f"certreg: phase {name}" + ("" if total is None else f" ({total})"),
                  file=sys.stderr, flush=True)
            now = self._clock()
            self._phase, self._done, self._last_line = (name, total, now), 0, now
            return
        if self._progress is None:
            self._progress = Progress(TextColumn("{task.description:<9}"), BarColumn(),
                                      MofNCompleteColumn(), _RateColumn(), TimeElapsedColumn(),
                                      TextColumn("ETA"), TimeRemainingColumn(),
                                      console=Console(stderr=True), transient=False)
            self._progress.start()
        if name == "done":
            self.close()
            return
        self._task = self._progress.add_task(name, total=total)

    def advance(self, count: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)
            return
        if self._phase is None:
            return
        self._done += count
        now = self._clock()
        if now - self._last_line >= self.interval:
            self._last_line = now
            print(f"certreg: {self._plain_status(now)}", file=sys.stderr, flush=True)

    def _plain_status(self, now: float) -> str:
        assert self._phase is not None
        name, total, start = self._phase
        elapsed = max(now - start, 1e-9)
        rate = self._done / elapsed
        text = f"{name} {self._done}" + ("" if total is None else f"/{total}")
        text += f", {rate:,.0f} docs/s, {elapsed:,.0f} s elapsed"
        if total is not None and rate > 0 and self._done < total:
            text += f", ETA {(total - self._done) / rate:,.0f} s"
        return text

    def _end_plain_phase(self) -> None:
        if self._phase is not None and self._done:
            print(f"certreg: {self._plain_status(self._clock())} (phase done)",
                  file=sys.stderr, flush=True)
        self._phase = None

    def close(self) -> None:
        self._end_plain_phase()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _progress(args: argparse.Namespace) -> CliProgress:
    return CliProgress(interactive=sys.stderr.isatty() and not args.json)


# -------------------------------------------------------------------- issue


def expand_paths(patterns: list[str]) -> list[Path]:
    """Files, directories (their *.xml, recursively) and globs, each file once, sorted."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*.xml") if p.is_file())
        elif path.is_file():
            matches = [path]
        else:
            matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True)
                             if Path(p).is_file())
            if not matches:
                raise ConfigurationError(f"{pattern}: no such file, directory or match",
                                         path=pattern)
        for match in matches:
            found.setdefault(match, None)
    return list(found)


def _sources(paths: list[Path]) -> Iterator[DocumentSource]:
    for path in paths:
        try:
            yield DocumentSource.from_path(path)
        except OSError as exc:
            raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None


def _issuer_metadata(args: argparse.Namespace) -> dict[str, object] | None:
    if args.metadata is None:
        return None
    try:
        value = json.loads(args.metadata.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigurationError(f"cannot read issuer metadata JSON {args.metadata}") from None
    if not isinstance(value, dict):
        raise ConfigurationError("issuer metadata is a JSON object")
    return value


def _result_json(result: SubmissionResult, receipts_dir: Path) -> dict[str, Any]:
    payload: dict[str, Any] = {"source": result.source_name, "status": result.status.value,
                               "sha256": None if result.sha256 is None else "0x" + result.sha256,
                               "cid": result.cid, "encrypted": result.encrypted}
    if result.key is not None:
        # The one and only time the key is shown.
        payload["key"] = result.key.to_text()
    if result.receipt is not None:
        payload["batch_id"] = result.receipt.batch_id
        payload["receipt"] = str(receipts_dir / f"{result.sha256}.json")
    if result.error_code is not None:
        payload["error"] = {"code": result.error_code, "message": result.error}
    if result.warnings:
        payload["warnings"] = list(result.warnings)
    return payload


def _issue(args: argparse.Namespace) -> int:
    settings = load_settings()
    paths = expand_paths(args.paths)
    metadata = _issuer_metadata(args)
    if args.dry_run:
        return _dry_run(args, settings, paths, metadata)
    progress = _progress(args)
    try:
        issuer = Issuer.from_settings(settings, progress=progress, workers=args.workers)
        report = issuer.run(_sources(paths), args.type, batch_size=args.batch_size,
                            encrypt=args.encrypt, sign=not args.no_sign,
                            issuer_metadata=metadata)
    finally:
        progress.close()
    return _report_issue(args, issuer, report)


def _report_issue(args: argparse.Namespace, issuer: Issuer, report: IssuanceReport) -> int:
    counts = Counter(r.status.value for r in report.submissions)
    summary = {"documents": len(report.submissions),
               **{status.value: counts.get(status.value, 0) for status in SubmissionStatus
                  if status is not SubmissionStatus.DRY_RUN},
               "batches_sealed": len(report.sealed),
               "batches_anchored": len(report.anchored),
               "receipts_written": report.receipts_written,
               "pending": report.pending_documents}
    documents = [_result_json(r, issuer.receipts_dir) for r in report.submissions]
    identity = issuer.preparer.signing_identity
    signer = None if identity is None else {"subject": identity.certificate_info.subject,
                                            "test_only": identity.certificate_info.test_only}
    if args.json:
        emit(args, {"issuer_id": "0x" + issuer.issuer_hex, "contract": issuer.client.address,
                    "chain_id": issuer.client.chain_id, "signer": signer,
                    "documents": documents, "summary": summary}, "")
    else:
        console = Console()
        if signer is not None and signer["test_only"] and counts.get(
                SubmissionStatus.ACCEPTED.value):
            console.print("[yellow]signed with a TEST signing identity: not for real "
                          f"certificates[/yellow] ({signer['subject']})", highlight=False)
        for doc in documents:
            if doc["status"] == SubmissionStatus.ACCEPTED.value and len(documents) <= 10:
                # A handful of documents: their hashes, to verify or revoke them by.
                console.print(f"issued {doc['sha256']} {doc['source']}", highlight=False)
            if "error" in doc:
                console.print(f"[red]rejected[/red] {doc['source']}: "
                              f"[{doc['error']['code']}] {doc['error']['message']}",
                              highlight=False)
            if "key" in doc:
                console.print(f"key {doc['sha256']} {doc['key']}", highlight=False)
        table = Table(title=f"certreg issue — issuer {issuer_name(issuer.issuer_id)}")
        table.add_column("outcome")
        table.add_column("count", justify="right")
        for name, value in summary.items():
            table.add_row(name.replace("_", " "), str(value))
        console.print(table)
        if any("key" in doc for doc in documents):
            console.print("Keep the keys above: they are stored nowhere and cannot be "
                          "recovered.", style="bold")
    if counts.get(SubmissionStatus.REJECTED.value):
        return EXIT_INPUT
    return EXIT_OK if report.pending_documents == 0 else EXIT_FAILURE


def _dry_run(args: argparse.Namespace, settings: Settings, paths: list[Path],
             metadata: dict[str, object] | None) -> int:
    # Nothing reaches a chain: the configured chain id decides whether a TEST identity signs.
    identity = None if args.no_sign else load_signing_identity(settings, settings.chain_id)
    preparer = CertificatePreparer(identity, max_document_bytes=settings.max_document_bytes)
    documents = []
    with PreparationPool(preparer, args.workers) as pool:
        prepared = list(pool.prepare(((source.name, source) for source in _sources(paths)),
                                     args.type, metadata, sign=not args.no_sign))
    for name, signed in prepared:
        if isinstance(signed, Rejection):
            documents.append({"source": name, "status": "rejected",
                              "error": {"code": signed.code, "message": signed.message}})
            continue
        documents.append({"source": name, "status": SubmissionStatus.DRY_RUN.value,
                          "sha256": "0x" + signed.sha256, "signed_here": signed.signed_here,
                          "size": len(signed.data),
                          "unique_identifier": signed.unique_identifier})
    rejected = sum(1 for d in documents if d["status"] == "rejected")
    text = "\n".join(f"{d['status']:8} {d.get('sha256', d.get('error', {}).get('code'))} "
                     f"{d['source']}" for d in documents)
    emit(args, {"documents": documents, "summary": {"documents": len(documents),
                                                   "rejected": rejected}}, text)
    return EXIT_INPUT if rejected else EXIT_OK


# ------------------------------------------------------------ revoke/supersede


def _effective_from(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError("--effective-from is a unix time or an ISO date/time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def _revoke(args: argparse.Namespace) -> int:
    if (args.sha256 is None) == (args.from_file is None):
        raise ConfigurationError("give either a HASH or --from-file FILE")
    if args.from_file is not None:
        return _revoke_many(args)
    issuer = Issuer.from_settings(load_settings())
    with issuer.exclusive():
        outcome = issuer.revoke(args.sha256, REASONS[args.reason], args.replacement,
                                _effective_from(args.effective_from))
    payload = {"sha256": "0x" + outcome.document_sha256, "batch_id": outcome.batch_id,
               "reason": outcome.reason.name.lower(),
               "replacement": None if outcome.replacement is None else "0x" + outcome.replacement,
               "transaction_hash": outcome.transaction_hash,
               "block_number": outcome.block_number}
    emit(args, payload, f"revoked 0x{outcome.document_sha256} ({payload['reason']}) in block "
                        f"{outcome.block_number}")
    return EXIT_OK


def _revoke_many(args: argparse.Namespace) -> int:
    if args.replacement is not None:
        raise ConfigurationError("--replacement names one document's successor: revoke it "
                                 "on its own")
    try:
        lines = args.from_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {args.from_file}: {exc}") from None
    hashes = [line.split("#", 1)[0].strip() for line in lines]
    issuer = Issuer.from_settings(load_settings())
    with issuer.exclusive():
        outcomes = revoke_documents(issuer, [h for h in hashes if h], REASONS[args.reason],
                                    _effective_from(args.effective_from))
    revoked = [{"sha256": "0x" + o.document_sha256, "batch_id": o.batch_id,
                "transaction_hash": o.transaction_hash, "block_number": o.block_number}
               for o in outcomes]
    transactions = sorted({o.transaction_hash for o in outcomes if o.transaction_hash})
    emit(args, {"reason": args.reason, "revoked": revoked, "transactions": transactions},
         f"revoked {len(revoked)} document(s) ({args.reason}) in {len(transactions)} "
         "transaction(s)")
    return EXIT_OK


def _supersede(args: argparse.Namespace) -> int:
    progress = _progress(args)
    try:
        issuer = Issuer.from_settings(load_settings(), progress=progress)
        outcome = issuer.supersede(args.old_sha256, DocumentSource.from_path(args.new_file),
                                   args.type, encrypt=args.encrypt)
    finally:
        progress.close()
    payload = {"old_sha256": "0x" + outcome.old_sha256,
               "new": _result_json(outcome.new, issuer.receipts_dir),
               "revocation": {"reason": "superseded",
                              "transaction_hash": outcome.revocation.transaction_hash,
                              "block_number": outcome.revocation.block_number}}
    emit(args, payload, f"0x{outcome.old_sha256} superseded by 0x{outcome.new.sha256}"
                        + (f"\nkey {outcome.new.key.to_text()}" if outcome.new.key else ""))
    return EXIT_OK


# -------------------------------------------------------------------- receipt


def _receipt_bundle(args: argparse.Namespace, settings: Settings, sha256: str) -> int:
    from registry.bundle import build_trace_bundle
    from registry.cli.audit import build_indexer

    indexer = build_indexer(settings)
    indexer.catch_up()
    bundle = build_trace_bundle(indexer.sessions, indexer.client, indexer.store, sha256)
    if bundle is None:
        raise DocumentNotFoundError(f"no anchored document 0x{sha256} is known to this "
                                    "registry", sha256=sha256)
    write_or_print(args, bundle.to_json(), {"certificates": len(bundle.certificates)},
                   f"{len(bundle.certificates)} receipt(s) written to {args.output}")
    return EXIT_OK


def _load_receipt(settings: Settings, sha256: str) -> Receipt:
    path = settings.data_dir / RECEIPTS_DIR / f"{sha256}.json"
    if path.is_file():
        return Receipt.from_json(path.read_bytes())
    # Not one of ours (or not written yet): from the projection, if it is anchored.
    from registry.context import content_store, registry_client
    from registry.db import open_database
    from registry.index import Indexer

    client = registry_client(settings)
    sessions = open_database(settings.effective_database_url)
    Indexer(client, sessions, content_store(settings), settings.confirmations).catch_up()
    with sessions() as session:
        receipt = find_receipt(session, client, sha256)
    if receipt is None:
        raise DocumentNotFoundError(f"no anchored document 0x{sha256} is known to this "
                                    "registry", sha256=sha256)
    return receipt


def _receipt(args: argparse.Namespace) -> int:
    settings = load_settings()
    sha256 = normalise_sha256(args.sha256)
    if args.with_chain:
        return _receipt_bundle(args, settings, sha256)
    receipt = _load_receipt(settings, sha256)
    if args.output:
        args.output.write_text(receipt.to_json())
    if not args.verify:
        if args.json:
            print(json.dumps(receipt.to_dict()))
        elif not args.output:
            print(receipt.to_json(), end="")
        return EXIT_OK
    document = None
    if args.document is not None:
        try:
            document = args.document.read_bytes()
        except OSError as exc:
            raise ReceiptError(f"cannot read {args.document}: {exc.strerror}") from None
    verification = verify_receipt(receipt, settings.effective_rpc_url, document)
    lines = [f"{s.number}. {s.name:16} {s.status.value:7} {s.detail}" for s in verification.steps]
    lines.append(f"verdict: {verification.verdict.value}")
    emit(args, {"receipt": receipt.to_dict(), **verification.to_dict()}, "\n".join(lines))
    return EXIT_OK if verification.verdict is Verdict.VALID else EXIT_FAILURE
