"""`certreg up`: run the registry. With nothing configured, everything is embedded:
a persistent local anvil chain with the contract deployed and a development
issuer, the embedded content store and SQLite, all under $CERTREG_DATA_DIR (./var).
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from registry.cli.output import emit
from registry.settings import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    up = subparsers.add_parser("up", help="run the registry (embedded defaults)")
    up.add_argument("--data-dir", type=Path, help="state directory (default: ./var)")
    up.add_argument("--api-host", help="API bind address (default: 127.0.0.1)")
    up.add_argument("--api-port", type=int, help="API port (default: 8000)")
    up.add_argument("--chain-port", type=int, help="embedded chain port (default: 8545)")
    up.add_argument("--no-index", action="store_true",
                    help="do not follow the chain in this process (a separate "
                         "`certreg index --follow` does, as in docker-compose.yml)")
    up.set_defaults(handler=_up)


def _up(args: argparse.Namespace) -> int:
    import uvicorn

    from registry.api.app import create_app
    from registry.cli.audit import start_background_indexer
    from registry.devnet import ensure_dev_registry, ensure_dev_signing_identity, start_dev_chain

    settings = load_settings(data_dir=args.data_dir, api_host=args.api_host,
                             api_port=args.api_port, chain_port=args.chain_port)
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
        }
        emit(args, summary, "\n".join(f"{k}: {v}" for k, v in summary.items()))
        sys.stdout.flush()
        # The API serves the projection: keep it indexing new anchors while it runs,
        # unless a dedicated indexer process does.
        stop_indexer = threading.Event()
        indexer = None if args.no_index else start_background_indexer(settings, stop_indexer)
        try:
            uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                        log_level="info")
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
