"""`certreg audit verify | reindex | index [--follow]`: what an auditor and an operator of
the read side run. The projection is rebuildable: `reindex` drops it and indexes again
from the chain and the content store; `audit verify` compares it with the chain.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from registry.cli import EXIT_FAILURE, EXIT_OK
from registry.cli.output import emit
from registry.errors import ConfigurationError
from registry.index import Indexer, IndexReport
from registry.settings import Settings, load_settings

DEFAULT_FOLLOW_INTERVAL = 2.0
logger = logging.getLogger("certreg.indexer")


def register(subparsers: argparse._SubParsersAction) -> None:
    audit = subparsers.add_parser("audit", help="audit the registry database against the chain")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify", help="compare every batch, document, revocation, issuer and event in the "
                       "database with the chain; exit 1 on any difference")
    verify.add_argument("--no-manifests", action="store_true",
                        help="do not compare documents with the batch manifests on IPFS")
    verify.set_defaults(handler=_audit_verify)

    reindex = subparsers.add_parser(
        "reindex", help="drop the chain projection and rebuild it from chain + IPFS")
    reindex.set_defaults(handler=_reindex)

    index = subparsers.add_parser("index", help="index new blocks of the registry contract")
    index.add_argument("--follow", action="store_true",
                       help="keep indexing new blocks until SIGTERM or Ctrl-C")
    index.add_argument("--interval", type=_positive_seconds, default=DEFAULT_FOLLOW_INTERVAL,
                       help=f"seconds between polls with --follow "
                            f"(default {DEFAULT_FOLLOW_INTERVAL})")
    index.set_defaults(handler=_index)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("between 0 and 3600 seconds")
    return value


def build_indexer(settings: Settings) -> Indexer:
    from registry.context import content_store, registry_client
    from registry.db import open_database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Indexer(registry_client(settings), open_database(settings.effective_database_url),
                   content_store(settings), settings.confirmations)


def _report_json(report: IndexReport) -> dict[str, Any]:
    return {"from_block": report.from_block, "to_block": report.to_block,
            "events": report.events, "batches": report.batches,
            "revocations": report.revocations, "manifests_missing": report.manifests_missing,
            "reorg_rolled_back_to": report.reorg_rolled_back_to}


def _report_text(report: IndexReport) -> str:
    text = (f"indexed blocks {report.from_block}..{report.to_block}: {report.events} event(s), "
            f"{report.batches} batch(es), {report.revocations} revocation(s)")
    if report.manifests_missing:
        text += f"; {report.manifests_missing} manifest(s) not retrievable yet"
    if report.reorg_rolled_back_to is not None:
        text += f"; reorg: rolled back to block {report.reorg_rolled_back_to}"
    return text


# ------------------------------------------------------------------- follow


def follow(indexer: Indexer, stop: threading.Event, interval: float,
           on_report: Callable[[IndexReport], None] | None = None) -> None:
    """Catch up, then again every `interval` seconds, until `stop` is set. A chain or store
    outage is logged and retried: the follower outlives it."""
    while not stop.is_set():
        try:
            report = indexer.catch_up()
        except Exception as exc:  # the loop must survive any backend hiccup; it is logged
            logger.warning("indexing failed, retrying in %.1fs: %s", interval,
                           getattr(exc, "message", exc))
        else:
            if on_report is not None and (report.events or report.reorg_rolled_back_to
                                          is not None):
                on_report(report)
        stop.wait(interval)


def start_background_indexer(settings: Settings, stop: threading.Event,
                             interval: float = DEFAULT_FOLLOW_INTERVAL) -> threading.Thread:
    """`certreg up`'s indexer: a daemon thread following the chain until `stop` is set."""
    indexer = build_indexer(settings)
    thread = threading.Thread(target=follow, args=(indexer, stop, interval), daemon=True,
                              name="certreg-indexer")
    thread.start()
    return thread


# ------------------------------------------------------------------ handlers


def _index(args: argparse.Namespace) -> int:
    indexer = build_indexer(load_settings())
    if not args.follow:
        report = indexer.catch_up()
        emit(args, _report_json(report), _report_text(report))
        return EXIT_OK
    stop = threading.Event()

    def request_stop(_signal: int, _frame: object) -> None:
        stop.set()

    previous = {number: signal.signal(number, request_stop)
                for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        follow(indexer, stop, args.interval,
               lambda report: (emit(args, _report_json(report), _report_text(report)),
                               sys.stdout.flush()))
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return EXIT_OK


def _reindex(args: argparse.Namespace) -> int:
    report = build_indexer(load_settings()).rebuild()
    emit(args, _report_json(report), "rebuilt the projection: " + _report_text(report))
    return EXIT_OK


def _audit_verify(args: argparse.Namespace) -> int:
    from registry.audit import audit_projection
    from registry.context import content_store, registry_client
    from registry.db import open_database

    settings = load_settings()
    if not settings.data_dir.exists() and settings.database_url is None:
        raise ConfigurationError(f"no registry database under {settings.data_dir}")
    report = audit_projection(registry_client(settings),
                              open_database(settings.effective_database_url),
                              None if args.no_manifests else content_store(settings))
    checked = ", ".join(f"{count} {what}" for what, count in sorted(report.checked.items()))
    lines = [str(d) for d in report.discrepancies]
    lines.append(f"checked {checked or 'nothing'} up to block {report.indexed_to_block}: "
                 + ("consistent with the chain" if report.consistent else
                    f"{len(report.discrepancies)} discrepancy(ies)"))
    emit(args, report.to_dict(), "\n".join(lines))
    return EXIT_OK if report.consistent else EXIT_FAILURE
