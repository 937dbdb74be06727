"""Operations: Prometheus metrics, JSON access logs without secrets, readiness."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from anchor.services._process import free_port
from anchor.services.anvil import AnvilNode
from registry.api.logging import ACCESS_LOGGER, JsonLineFormatter
from registry.issuance import Issuer
from registry.settings import Settings
from tests.registry.api_support import (
    PTB_CODE,
    api_client,
    api_token,
    bearer,
    without_rate_limits,
)
from tests.registry.conftest import SIGNING_PASSWORD, MakeDccs

UNKNOWN = "cd" * 32


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """What the access logger writes, formatted as in production."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_requests_by_route_template_verdicts_and_issuance(
        settings: Settings, make_dccs: MakeDccs, tmp_path: Path) -> None:
    settings = without_rate_limits(settings)
    client = api_client(settings)
    token = api_token(settings, PTB_CODE)
    (dcc,) = make_dccs(tmp_path / "dcc", 1, "METRICS")
    issued = client.post("/v1/issuance/documents", content=dcc.read_bytes(),
                         headers=bearer(token))
    assert issued.status_code == 201, issued.text
    sha256 = issued.json()["sha256"]
    assert client.get(f"/v1/verify/{sha256}").json()["verdict"] == "valid"
    assert client.get(f"/v1/verify/{UNKNOWN}").json()["verdict"] == "unknown"
    assert client.post("/v1/verify", content=dcc.read_bytes()).status_code == 200
    assert client.get(f"/no/such/path/{UNKNOWN}").status_code == 404

    exposition = client.get("/metrics")
    assert exposition.status_code == 200
    assert exposition.headers["content-type"].startswith("text/plain")
    found = samples(exposition.text)

    def value(name: str, **labels: str) -> float:
        return found.get((name, frozenset(labels.items())), 0.0)

    assert value("certreg_http_requests_total", method="GET", route="/v1/verify/{sha256}",
                 status="200") == 2
    assert value("certreg_http_requests_total", method="POST", route="/v1/issuance/documents",
                 status="201") == 1
    assert value("certreg_http_requests_total", method="GET", route="<unmatched>",
                 status="404") == 1
    assert value("certreg_http_request_duration_seconds_count", method="GET",
                 route="/v1/verify/{sha256}") == 2
    assert value("certreg_verifications_total", mode="hash", verdict="valid") == 1
    assert value("certreg_verifications_total", mode="hash", verdict="unknown") == 1
    assert value("certreg_verifications_total", mode="upload", verdict="unknown") == 1
    assert value("certreg_issuance_documents_total", issuer=PTB_CODE, outcome="accepted") == 1
    # Series are bounded: no label ever carries a hash or a raw path.
    assert UNKNOWN not in exposition.text and sha256[2:] not in exposition.text


def test_access_log_is_json_lines_without_secrets(
        settings: Settings, make_dccs: MakeDccs, tmp_path: Path,
        access_log: io.StringIO) -> None:
    settings = without_rate_limits(settings)
    client = api_client(settings)
    token = api_token(settings, PTB_CODE)
    (dcc,) = make_dccs(tmp_path / "dcc", 1, "LOGS")
    document = dcc.read_bytes()
    issued = client.post("/v1/issuance/documents", params={"encrypt": "true"},
                         content=document, headers=bearer(token) | {"X-Request-ID": "lims-42"})
    assert issued.status_code == 201, issued.text
    key = issued.json()["key"]
    assert issued.headers["x-request-id"] == "lims-42"
    verified = client.get(f"/v1/verify/{UNKNOWN}?sha256=x")
    refused = client.post("/v1/issuance/documents", content=document,
                          headers=bearer("certreg_wrong-token-value"))
    assert refused.status_code == 401

    lines = [json.loads(line) for line in access_log.getvalue().splitlines()]
    assert len(lines) == 3
    first, second, third = lines
    assert first | {"duration_ms": 0, "time": ""} == {
        "time": "", "level": "info", "logger": ACCESS_LOGGER, "message": "request",
        "method": "POST", "route": "/v1/issuance/documents", "status": 201,
        "duration_ms": 0, "request_id": "lims-42", "client": "testclient",
        "credential_id": 1, "issuer": PTB_CODE}
    assert second["route"] == "/v1/verify/{sha256}"
    assert second["request_id"] == verified.headers["x-request-id"]
    assert third["status"] == 401 and third["error"] == "unauthorized"
    text = access_log.getvalue()
    for secret in (token, key, "wrong-token-value", SIGNING_PASSWORD, UNKNOWN,
                   document[:200].decode("utf-8", "replace")):
        assert secret not in text


def test_readyz_checks_chain_ipfs_and_database(settings: Settings) -> None:
    ready = api_client(settings).get("/readyz")
    assert ready.status_code == 200
    assert {name: check["ok"] for name, check in ready.json()["checks"].items()} == {
        "chain": True, "ipfs": True, "database": True, "indexer": True}

    unreachable = settings.model_copy(update={
        "database_url": f"postgresql+psycopg://certreg:unreachable-db@127.0.0.1:{free_port()}/x"})
    response = api_client(unreachable).get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert not checks["database"]["ok"] and checks["chain"]["ok"]
    assert "unreachable-db" not in response.text


def test_readyz_fails_when_the_indexer_lags_past_the_limit(settings: Settings,
                                                           anvil: AnvilNode) -> None:
    strict = settings.model_copy(update={"max_indexer_lag_blocks": 2})
    Issuer.from_settings(strict).index()
    assert api_client(strict).get("/readyz").status_code == 200
    anvil.mine(3)  # three blocks nobody indexes
    response = api_client(strict).get("/readyz")
    assert response.status_code == 503
    indexer = response.json()["checks"]["indexer"]
    assert not indexer["ok"] and indexer["blocks_behind_head"] == 3
    Issuer.from_settings(strict).index()
    assert api_client(strict).get("/readyz").status_code == 200
