"""`certreg instrument show ID | search ... | alerts`: an instrument's history and status
across every issuer on the network, from this registry's projection (caught up first).

Exit codes: show 0 when the instrument is verified (or, never verified, its last
calibration stands), 1 for any other status; search 0 when something matched, 1 when
nothing did; 3 bad input (an id that is not one, no criterion, unknown instrument).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from registry.cli import EXIT_FAILURE, EXIT_OK
from registry.cli.output import emit
from registry.errors import InstrumentIdInvalidError, NotFoundError, RequestInvalidError
from registry.settings import load_settings

_GOOD_STATES = frozenset({"verified", "calibrated"})


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "instrument", help="an instrument's history and status across issuers; search; alerts")
    sub = parser.add_subparsers(dest="instrument_command", required=True, metavar="ACTION")
    show = sub.add_parser("show", help="everything known of one instrument, and its status")
    show.add_argument("instrument_id", metavar="ID",
                      help="mi:<manufacturer>:<model>:<serial> or ta:<approval>:<serial>")
    show.add_argument("--on", type=dt.date.fromisoformat, metavar="YYYY-MM-DD",
                      help="status on this day (default: today, UTC)")
    show.set_defaults(handler=_show)
    search = sub.add_parser("search", help="instruments by serial, type, manufacturer, ...")
    for option in ("serial", "manufacturer", "type", "approval-number", "classifier-code"):
        search.add_argument(f"--{option}")
    search.add_argument("--limit", type=int, default=20)
    search.set_defaults(handler=_search)
    alerts = sub.add_parser("alerts", help="instruments revocations affect (NDJSON)")
    alerts.add_argument("--cursor", help="continue after this cursor (block:log)")
    alerts.set_defaults(handler=_alerts)


def _sessions():
    from registry.cli.audit import build_indexer

    indexer = build_indexer(load_settings())
    indexer.catch_up()
    return indexer.sessions


def render(history: dict) -> str:
    status = history["status"]
    lines = [f"instrument {history['id']}",
             f"  {history['manufacturer']} {history['model']} serial {history['serial']}"
             + (f", type approval {', '.join(history['approval_numbers'])}"
                if history["approval_numbers"] else ""),
             f"status: {status['state']}: {status['summary']}", "evidence:"]
    lines += [f"  [{'ok' if c['passed'] else '!!'}] {c['check']}: {c['detail']}"
              for c in status["evidence"]]
    lines.append("history:")
    for entry in history["history"]:
        revoked = entry["revocation"]
        lines.append(f"  {entry['date'] or entry['issued_on'] or '-'}  "
                     f"{entry['document_type']:<24} {entry['number'] or '-'}  "
                     f"({entry['issuer']}) {entry['sha256'][:14]}"
                     + (f"  REVOKED ({revoked['reason']})" if revoked else ""))
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    from registry.db.instruments import instrument_history
    from registry.documents.instruments import InstrumentId

    if InstrumentId.parse(args.instrument_id) is None:
        raise InstrumentIdInvalidError(f"not an instrument id: {args.instrument_id[:80]!r}",
                                       instrument_id=args.instrument_id[:80])
    history = instrument_history(_sessions(), args.instrument_id,
                                 args.on or dt.datetime.now(dt.UTC).date())
    if history is None:
        raise NotFoundError("no anchored document states this instrument",
                            instrument_id=args.instrument_id[:80])
    payload = history.to_dict()
    emit(args, payload, render(payload))
    return EXIT_OK if history.status.state in _GOOD_STATES else EXIT_FAILURE


def _search(args: argparse.Namespace) -> int:
    from registry.db.instruments import InstrumentCriteria, search_instruments

    criteria = InstrumentCriteria(serial=args.serial, manufacturer=args.manufacturer,
                                  model=args.type, approval_number=args.approval_number,
                                  classifier_code=args.classifier_code)
    if not criteria.conditions():
        raise RequestInvalidError("give at least one search option")
    found = [s.to_dict() for s in search_instruments(_sessions(), criteria,
                                                     limit=max(1, min(args.limit, 100)))]
    emit(args, {"items": found}, "\n".join(
        f"{s['id']}  {s['manufacturer']} {s['model']} serial {s['serial']}  "
        f"{s['documents']} document(s) by {', '.join(s['issuers'])}" for s in found)
        or "no instrument matches")
    return EXIT_OK if found else EXIT_FAILURE


def _alerts(args: argparse.Namespace) -> int:
    from registry.db.instruments import instrument_alerts

    after = None
    if args.cursor is not None:
        block, _, log_index = args.cursor.partition(":")
        if not (block.isdigit() and log_index.isdigit()):
            raise RequestInvalidError("--cursor is block:log_index, as the feed writes it",
                                      cursor=args.cursor[:40])
        after = (int(block), int(log_index))
    for alert in instrument_alerts(_sessions(), after=after):
        print(json.dumps(alert.to_dict(), sort_keys=True))
    return EXIT_OK
