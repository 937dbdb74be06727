"""`certreg store`: put, get and migrate documents in the content store.

Without a Kubo API (`--kubo-api` or $CERTREG_IPFS_API) the embedded store is used
(`--store-dir`, default $CERTREG_DATA_DIR/blobs). With one, documents go to Kubo and
fall back to a spool under the data directory while Kubo is down (see
anchor.store.spool); `certreg store push` without `--from-dir` flushes that spool.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from anchor.cid import Cid
from anchor.encryption import DocumentKey, decrypt_document, is_encrypted
from anchor.errors import StorageUnavailableError
from anchor.store import (
    ContentStore,
    EmbeddedStore,
    KuboStore,
    PushReport,
    SpoolingStore,
    push_all,
    put_confidential,
)
from registry.cli.output import emit
from registry.context import content_store
from registry.errors import ConfigurationError
from registry.settings import Settings, load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    # The store options go on every action, so they can follow it as in
    # `certreg store push --from-dir DIR --kubo-api ADDR`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store-dir", type=Path,
                        help="embedded store directory (default: $CERTREG_DATA_DIR/blobs)")
    common.add_argument("--kubo-api",
                        help="Kubo RPC multiaddr, e.g. /ip4/127.0.0.1/tcp/5001 "
                             "(default: $CERTREG_IPFS_API; none: embedded store only)")
    store = subparsers.add_parser("store", help="content store (embedded or Kubo)")
    actions = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")

    put = actions.add_parser("put", parents=[common], help="store a file, print its CID")
    put.add_argument("file", type=Path)
    put.add_argument("--encrypt", action="store_true",
                     help="AES-256-GCM encrypt first; prints the key, which is stored nowhere")
    put.set_defaults(handler=_put)

    get = actions.add_parser("get", parents=[common], help="fetch a document by CID (verified)")
    get.add_argument("cid")
    get.add_argument("--key", help="document key, to decrypt a confidential document")
    get.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    get.set_defaults(handler=_get)

    status = actions.add_parser("status", parents=[common],
                                help="backend, reachability, pending documents")
    status.set_defaults(handler=_status)

    push = actions.add_parser(
        "push", parents=[common],
        help="copy an embedded store (or the pending spool) to Kubo, verifying CIDs")
    push.add_argument("--from-dir", type=Path,
                      help="embedded store to migrate (default: flush the spool)")
    push.set_defaults(handler=_push)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(ipfs_api=args.kubo_api)
    args.kubo_api = settings.ipfs_api
    return settings


def _open_store(args: argparse.Namespace) -> ContentStore:
    settings = _settings(args)
    if args.store_dir is not None and not settings.ipfs_api:
        return EmbeddedStore(args.store_dir)
    return content_store(settings)


def _put(args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {args.file}: {exc.strerror}") from exc
    store = _open_store(args)
    payload: dict[str, object] = {}
    if args.encrypt:
        receipt = put_confidential(store, data)
        cid = receipt.cid
        # Printed once, to the caller who asked for it; it is kept nowhere else.
        payload["key"] = receipt.key.to_text()
    else:
        cid = store.put(data)
    pin = store.pin_status(cid)
    payload |= {"cid": str(cid), "size": len(data), "pin": pin.value}
    text = str(cid) + (f"\nkey: {payload['key']}" if "key" in payload else "")
    if pin == "pending":
        text += "\n(pending: Kubo is unavailable; run `certreg store push` later)"
    emit(args, payload, text)
    return 0


def _get(args: argparse.Namespace) -> int:
    cid = Cid.parse(args.cid)
    data = _open_store(args).get(cid)
    if args.key:
        data = decrypt_document(data, DocumentKey.from_text(args.key))
    elif is_encrypted(data):
        print("certreg: note: this document is encrypted; pass --key to decrypt",
              file=sys.stderr)
    if args.output:
        args.output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


def _status(args: argparse.Namespace) -> int:
    store = _open_store(args)
    if isinstance(store, SpoolingStore):
        assert isinstance(store.primary, KuboStore)
        pending = [str(cid) for cid in store.pending()]
        payload = {"backend": "kubo", "kubo_api": args.kubo_api,
                   "kubo_available": store.primary.is_available(),
                   "spool": str(store.spool.root), "pending": pending}
        text = (f"backend: kubo at {args.kubo_api} "
                f"({'up' if payload['kubo_available'] else 'UNAVAILABLE'})\n"
                f"pending: {len(pending)} document(s) in {store.spool.root}")
    else:
        payload = {"backend": "embedded", "root": str(store.root), "documents": len(store)}
        text = f"backend: embedded at {store.root}\ndocuments: {len(store)}"
    emit(args, payload, text)
    return 0


def _push(args: argparse.Namespace) -> int:
    if not _settings(args).ipfs_api:
        raise ConfigurationError("certreg store push needs --kubo-api or $CERTREG_IPFS_API")
    if args.from_dir:
        if not (args.from_dir / "store.json").is_file():
            raise ConfigurationError(f"{args.from_dir} is not an embedded store")
        source = EmbeddedStore(args.from_dir)
        report = push_all(source.cids(), source, KuboStore(args.kubo_api))
    else:
        spooling = _open_store(args)
        assert isinstance(spooling, SpoolingStore)
        report = spooling.flush()
    emit(args, _report_json(report),
          f"pushed: {len(report.pushed)}, already on Kubo: {len(report.already_present)}, "
          f"remaining: {len(report.remaining)}, failed: {len(report.errors)}")
    if report.remaining:
        raise StorageUnavailableError(
            f"Kubo became unavailable; {len(report.remaining)} document(s) not pushed",
            api_addr=args.kubo_api)
    return 0 if report.complete else 1


def _report_json(report: PushReport) -> dict[str, object]:
    return {"pushed": [str(cid) for cid in report.pushed],
            "already_present": [str(cid) for cid in report.already_present],
            "remaining": [str(cid) for cid in report.remaining],
            "errors": [{"cid": str(cid), "code": code} for cid, code in report.errors]}
