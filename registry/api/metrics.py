"""Prometheus metrics of the API, served at GET /metrics.

Each app has its own CollectorRegistry (not prometheus-client's global one), so several
apps in one process (tests, benchmarks) never collide. Labels are bounded by
construction: routes are templates ("/v1/verify/{sha256}", never the hash) and
unmatched paths all count as "<unmatched>", so nobody can create series at will.
With several API processes each serves its own counters; Prometheus sums them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

UNMATCHED_ROUTE = "<unmatched>"
# Seconds: verification by hash is ~ms, uploads with a signature check ~10-100 ms,
# synchronous issuance (sign, store, anchor, index) seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.requests = Counter(
            "certreg_http_requests", "HTTP requests by route template, method and status.",
            ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "certreg_http_request_duration_seconds",
            "Time from request start to the end of the response, by route template.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.verifications = Counter(
            "certreg_verifications", "Verification verdicts, by how the document was given.",
            ["mode", "verdict"], registry=self.registry)
        self.issuance = Counter(
            "certreg_issuance_documents",
            "Documents submitted over the API, by issuer and outcome (accepted, "
            "already-anchored, already-pending, rejected).",
            ["issuer", "outcome"], registry=self.registry)
        self.revocations = Counter(
            "certreg_issuance_revocations", "Revocations requested over the API, by issuer.",
            ["issuer"], registry=self.registry)
        self.rate_limited = Counter(
            "certreg_rate_limited", "Requests refused with 429, by budget.",
            ["budget"], registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if status == 429:
            self.rate_limited.labels("issuance" if route.startswith("/v1/issuance")
                                     else "public").inc()


def metrics_of(request: Request) -> ApiMetrics:
    return request.app.state.metrics


def count_verdict(request: Request, mode: str, verdict: str) -> None:
    metrics_of(request).verifications.labels(mode, verdict).inc()


router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition format."""
    return Response(generate_latest(metrics_of(request).registry),
                    media_type=CONTENT_TYPE_LATEST)
