"""A registry with issued and revoked certificates, served by the real app.

Shared by the API tests: documents are issued through the real pipeline on anvil
(embedded store, SQLite), then the app is served by uvicorn on a loopback port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from anchor.chain import RevocationReason
from anchor.cid import Cid
from anchor.services._process import free_port, port_open
from registry.api.app import create_app
from registry.issuance import Issuer
from registry.settings import Settings


@dataclass(frozen=True)
class IssuedRegistry:
    settings: Settings
    documents: dict[str, bytes]  # name -> exact anchored bytes
    hashes: dict[str, str]  # name -> sha256 hex
    replacement: str  # sha256 of the document that superseded "revoked"


def issue_certificates(issuer: Issuer, settings: Settings, paths: list[Path]) -> IssuedRegistry:
    """Issue three certificates: "valid", "revoked" (superseded by "replacement")."""
    report = issuer.run(paths[:3], batch_size=10)
    names = ["valid", "revoked", "replacement"]
    hashes = {name: s.sha256 for name, s in zip(names, report.submissions, strict=True)}
    documents = {name: issuer.store.get(Cid.parse(s.cid))
                 for name, s in zip(names, report.submissions, strict=True)}
    issuer.revoke(hashes["revoked"], RevocationReason.SUPERSEDED, hashes["replacement"])
    issuer.index()
    return IssuedRegistry(settings, documents, hashes, hashes["replacement"])


@dataclass
class ServedApp:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve(settings: Settings) -> ServedApp:
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not port_open("127.0.0.1", port):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.05)
    return ServedApp(f"http://127.0.0.1:{port}", server, thread)


def served(settings: Settings) -> Iterator[ServedApp]:
    app = serve(settings)
    try:
        yield app
    finally:
        app.stop()
