"""Hostile uploads against the running API (uvicorn on loopback), on both endpoints that
take documents: POST /v1/verify and POST /v1/issuance/documents.

Each must get a 4xx with a stable code — never a 500, never a read file or a network
connection, never unbounded memory — and nothing may be stored.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from registry.settings import Settings
from tests.registry.api_support import (
    PTB_CODE,
    LiveServer,
    api_token,
    bearer,
    issued_document_count,
    live_server,
    stored_blob_count,
    without_rate_limits,
)

# file in /work/shared/dcc/invalid -> (verify code, issuance code)
HOSTILE_FILES = {
    "xxe_file.xml": ("xml-forbidden-construct", "xml-forbidden-construct"),
    "xxe_network.xml": ("xml-forbidden-construct", "xml-forbidden-construct"),
    "xinclude.xml": ("xml-forbidden-construct", "xml-forbidden-construct"),
    "billion_laughs.xml": ("xml-forbidden-construct", "xml-forbidden-construct"),
    "quadratic_blowup.xml": ("xml-forbidden-construct", "xml-forbidden-construct"),
    "truncated.xml": ("xml-malformed", "xml-malformed"),
    "mismatched_tag.xml": ("xml-malformed", "xml-malformed"),
    "wrong_encoding.xml": ("xml-encoding-invalid", "xml-encoding-invalid"),
    "empty.xml": ("request-invalid", "request-invalid"),
}
# Not hostile to a verifier (verification does not validate schemas, and PDFs are
# verified by hash): these only have to be refused by issuance.
INVALID_FOR_ISSUANCE = {
    "not_xml.xml": "xml-malformed",  # a PDF, but a DCC is XML
    "wrong_root.xml": "dcc-root-invalid",
    "unknown_version.xml": "dcc-version-unsupported",
    "bad_date.xml": "dcc-schema-invalid",
    "missing_unique_identifier.xml": "dcc-schema-invalid",
}
BINARY_GARBAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
HUNDRED_MB = 100 * 1024 * 1024
MB = 1024 * 1024


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return without_rate_limits(settings)


@pytest.fixture
def server(api_settings: Settings) -> Iterator[LiveServer]:
    with live_server(api_settings) as running:
        yield running


@pytest.fixture
def token(api_settings: Settings) -> str:
    return api_token(api_settings, PTB_CODE)


def _assert_refused(response: httpx.Response, code: str, started: float) -> None:
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] == code
    assert "root:" not in response.text, "a local file leaked into the response"
    assert time.monotonic() - started < 10, "a hostile document took too long to refuse"


def test_hostile_uploads_get_stable_4xx_codes_and_nothing_is_stored(
        server: LiveServer, api_settings: Settings, token: str, shared_dcc: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for name, (verify_code, issuance_code) in HOSTILE_FILES.items():
            data = (shared_dcc / "invalid" / name).read_bytes()
            started = time.monotonic()
            _assert_refused(http.post("/v1/verify", content=data,
                                      headers={"Content-Type": "application/xml"}),
                            verify_code, started)
            _assert_refused(http.post("/v1/verify", files={"file": (name, data)}),
                            verify_code, started)
            _assert_refused(http.post("/v1/issuance/documents", content=data,
                                      headers=bearer(token)), issuance_code, started)
            _assert_refused(http.post("/v1/issuance/documents", headers=bearer(token),
                                      files={"file": (name, data)}), issuance_code, started)
        for name, issuance_code in INVALID_FOR_ISSUANCE.items():
            data = (shared_dcc / "invalid" / name).read_bytes()
            _assert_refused(http.post("/v1/issuance/documents", content=data,
                                      headers=bearer(token)), issuance_code, time.monotonic())
        started = time.monotonic()
        _assert_refused(http.post("/v1/verify", content=BINARY_GARBAGE),
                        "document-type-unsupported", started)
        _assert_refused(http.post("/v1/issuance/documents", content=BINARY_GARBAGE,
                                  headers=bearer(token)), "xml-malformed", started)
        _assert_refused(http.post("/v1/verify", files={"other": ("x", b"<a/>")}),
                        "request-invalid", started)
        health = http.get("/healthz")
    assert health.status_code == 200, "the server survived"
    assert issued_document_count(api_settings) == 0
    assert stored_blob_count(api_settings) == 0


def _stream_upload(port: int, path: str, headers: dict[str, str], total: int,
                   chunked: bool) -> tuple[int, bytes, int]:
    """Send up to `total` body bytes, stopping as soon as the server answers.
    Returns (status, response head and body so far, body bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/xml",
             *(f"{k}: {v}" for k, v in headers.items()),
             "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    sock.setblocking(False)
    block = b"<" + b"a" * (MB - 1)
    pending, sent, response = b"", 0, b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if not pending and sent < total:
                pending = (b"%x\r\n%s\r\n" % (len(block), block)) if chunked else block
                sent += len(block)
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], 5)
            if readable:
                data = sock.recv(65536)
                if not data:
                    break
                response += data
                if b"\r\n\r\n" in response:
                    break
            elif writable:
                try:
                    pending = pending[sock.send(pending):]
                except (BrokenPipeError, ConnectionResetError):
                    break
        sock.setblocking(True)
        while not _complete(response):
            data = sock.recv(65536)
            if not data:
                break
            response += data
    finally:
        sock.close()
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0
    return status, response, sent


def _complete(response: bytes) -> bool:
    head, separator, body = response.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("endpoint", ["/v1/verify", "/v1/issuance/documents"])
def test_hundred_megabyte_upload_is_refused_without_buffering_it(
        server: LiveServer, api_settings: Settings, token: str, endpoint: str,
        chunked: bool) -> None:
    headers = bearer(token) if endpoint.startswith("/v1/issuance") else {}
    status, response, sent = _stream_upload(server.port, endpoint, headers, HUNDRED_MB,
                                            chunked)
    assert status == 413, response[:500]
    assert b"request-too-large" in response
    limit = api_settings.max_document_bytes
    # The server answered after at most the limit (plus what sat in socket buffers),
    # not after 100 MB: it never buffered the body.
    assert sent < limit + 16 * MB if chunked else sent < 16 * MB
    assert issued_document_count(api_settings) == 0 and stored_blob_count(api_settings) == 0
    assert httpx.get(f"{server.url}/healthz").status_code == 200
