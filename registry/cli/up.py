"""`certreg up`: run the registry. With nothing configured, everything is embedded:
a persistent local anvil chain with the contract deployed and a development
issuer, the embedded content store and SQLite, all under $CERTREG_DATA_DIR (./var).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
from pathlib import Path

from registry.cli.output import emit
from registry.settings import Settings, load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    up = subparsers.add_parser("up", help="run the registry (embedded defaults)")
    up.add_argument("--data-dir", type=Path, help="state directory (default: ./var)")
    up.add_argument("--api-host", help="API bind address (default: 127.0.0.1)")
    up.add_argument("--api-port", type=int, help="API port (default: 8000)")
    up.add_argument("--chain-port", type=int, help="embedded chain port (default: 8545)")
    up.add_argument("--workers", type=int,
                    help="API worker processes (default: 1)")
    up.add_argument("--no-index", action="store_true",
                    help="do not follow the chain in this process (a separate "
                         "`certreg index --follow` does, as in docker-compose.yml)")
    up.set_defaults(handler=_up)


def _up(args: argparse.Namespace) -> int:
    from registry.cli.audit import start_background_indexer
    from registry.devnet import ensure_dev_registry, ensure_dev_signing_identity, start_dev_chain

    settings = load_settings(data_dir=args.data_dir, api_host=args.api_host,
                             api_port=args.api_port, chain_port=args.chain_port,
                             api_workers=args.workers)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    chain = start_dev_chain(settings) if settings.uses_embedded_chain else None
    try:
        deployment = (ensure_dev_registry(settings) if chain is not None
                      else settings.require_deployment())
        # So that `certreg issue` signs at once; a configured identity makes it unnecessary.
        dev_signer = (ensure_dev_signing_identity(settings)
                      if chain is not None and settings.signing_key is None else None)
        if chain is not None:
            _declare_dev_signer(settings)
        summary = {
            "rpc_url": settings.effective_rpc_url,
            "embedded_chain": chain is not None,
            "contract_address": deployment["address"],
            "content_store": settings.ipfs_api or str(settings.blob_dir),
            "database": settings.effective_database_url.split("@")[-1],  # no credentials
            "api": f"http://{settings.api_host}:{settings.api_port}",
            "signing_identity": (f"TEST (not for real certificates, chain 31337 only): "
                                 f"{dev_signer.certificate_pem}" if dev_signer is not None
                                 else str(settings.signing_key or "none")),
            "api_workers": settings.effective_api_workers,
        }
        emit(args, summary, "\n".join(f"{k}: {v}" for k, v in summary.items()))
        sys.stdout.flush()
        # The API serves the projection: keep it indexing new anchors while it runs,
        # unless a dedicated indexer process does.
        stop_indexer = threading.Event()
        indexer = None if args.no_index else start_background_indexer(settings, stop_indexer)
        try:
            serve_api(settings)
        finally:
            stop_indexer.set()
            if indexer is not None:
                indexer.join(timeout=10)
    finally:
        if chain is not None:
            chain.stop()
    return 0


def _declare_dev_signer(settings) -> None:
    """Let DEV-NMI declare the configured signing identity, so what this registry signs
    verifies `valid`; a registry without (or with a broken) identity starts as before."""
    from registry.devnet import ensure_dev_signer_declared
    from registry.errors import RegistryError
    from registry.issuance import load_signing_identity

    try:
        identity = load_signing_identity(settings, settings.chain_id)  # the embedded chain
    except RegistryError:
        return  # issuance reports it when it needs the identity
    if identity is not None:
        ensure_dev_signer_declared(settings, identity.certificate)


def serve_api(settings: Settings) -> None:
    """Serve the API with `settings.effective_api_workers` processes. Several workers
    load their settings from the environment, so the command's own overrides go there,
    with a fresh directory for the rate-limit buckets they share."""
    import uvicorn

    workers = settings.effective_api_workers
    if workers == 1:
        from registry.api.app import create_app

        uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                    log_level="info")
        return
    state_dir = settings.data_dir.resolve() / "run" / f"ratelimit-{os.getpid()}"
    os.environ.update({
        "CERTREG_DATA_DIR": str(settings.data_dir.resolve()),
        "CERTREG_API_HOST": settings.api_host, "CERTREG_API_PORT": str(settings.api_port),
        "CERTREG_CHAIN_PORT": str(settings.chain_port),
        "CERTREG_RATE_LIMIT_STATE_DIR": str(state_dir)})
    try:
        run_workers("registry.api.app:create_worker_app", workers, settings.api_host,
                    settings.api_port, log_level="info")
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def run_workers(app: str, workers: int, host: str, port: int, **options: object) -> None:
    """uvicorn's multi-process serving (what `uvicorn.run(..., workers=N)` does), with
    TCP_NODELAY set on the listening socket: the workers serve connections accepted from
    a socket they inherit, on which uvicorn 0.54 leaves Nagle's algorithm on, and every
    response then waits ~40 ms for the client's delayed ACK (measured: 340 requests/s
    for a bare endpoint with 2 workers, 3,000 with one). Linux hands the option down to
    the accepted connections."""
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # A worker slow to import on a loaded machine, or busy, answers the supervisor's
    # health check late; uvicorn's 5 s would restart it for that.
    config = uvicorn.Config(app, factory=True, workers=workers, host=host, port=port,
                            timeout_worker_healthcheck=60, **options)  # type: ignore[arg-type]
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()
