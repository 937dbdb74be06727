"""Helpers for the API tests: the app on real settings, credentials, a live uvicorn server."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from anchor.chain import issuer_id_from_name
from anchor.services._process import free_port
from registry.api.app import create_app
from registry.db import IssuedDocument, open_database
from registry.db.credentials import create_credential
from registry.settings import Settings

PTB_CODE = "PTB"
LAB_CODE = "DAkkS-D-K-15070"


def without_rate_limits(settings: Settings) -> Settings:
    """Most tests send more requests per second than a public client may."""
    return settings.model_copy(update={"rate_limit_per_second": 0.0,
                                       "issuance_rate_limit_per_minute": 0.0})


def api_token(settings: Settings, issuer_code: str, label: str | None = None) -> str:
    sessions = open_database(settings.effective_database_url)
    return create_credential(sessions, issuer_id_from_name(issuer_code), issuer_code,
                             label).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issued_document_count(settings: Settings) -> int:
    with open_database(settings.effective_database_url)() as session:
        return session.scalar(select(func.count()).select_from(IssuedDocument)) or 0


def stored_blob_count(settings: Settings) -> int:
    """Content blobs in the embedded store (documents, manifests), not its marker file."""
    blobs = settings.blob_dir / "blobs"
    return sum(1 for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else 0


def api_client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False)


@dataclass
class LiveServer:
    app: FastAPI
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """The app under uvicorn on a loopback port, in a thread of this process."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(app, port)
    finally:
        server.should_exit = True
        thread.join(20)
