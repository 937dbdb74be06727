"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from registry import __version__
from registry.api import metrics
from registry.api.errors import install_error_handlers
from registry.api.logging import RequestTelemetryMiddleware, configure_api_logging
from registry.api.middleware import BodySizeLimitMiddleware
from registry.api.ratelimit import RateLimitMiddleware, make_limiter
from registry.api.routes import (
    audit,
    certificates,
    evidence,
    health,
    instruments,
    issuance,
    issuers,
    page,
    registry_info,
    revocations,
    search,
    trust,
    verify,
)
from registry.settings import Settings, load_settings

# Multipart framing and headers on top of the largest document we accept.
REQUEST_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = FastAPI(title="certreg", version=__version__,
                  description="Blockchain-anchored certificate registry for metrology. "
                              "A failed verification is a 200 with a verdict; 4xx responses "
                              "are for malformed requests and carry a stable error code.")
    app.state.settings = settings
    app.state.registry_client = None
    app.state.session_factory = None
    # Read once at start: a wrong CERTREG_TRUST_ANCHORS stops the API, not one request.
    from registry.context import trust_anchors

    app.state.trust_anchors = trust_anchors(settings)
    install_error_handlers(app)
    app.state.metrics = metrics.ApiMetrics()
    state_dir = settings.rate_limit_state_dir
    app.state.public_limiter = make_limiter(state_dir, "public", settings.rate_limit_per_second,
                                            settings.rate_limit_burst)
    app.state.issuance_limiter = make_limiter(
        state_dir, "issuance", settings.issuance_rate_limit_per_minute / 60,
        settings.issuance_rate_limit_burst)
    app.state.issuance_gate = None
    # The last added runs first: telemetry sees every response (413, 429 included); the
    # rate limit refuses before any body is read.
    app.add_middleware(BodySizeLimitMiddleware,
                       max_bytes=settings.max_document_bytes + REQUEST_OVERHEAD_BYTES)
    app.add_middleware(RateLimitMiddleware, limiter=app.state.public_limiter)
    app.add_middleware(RequestTelemetryMiddleware, metrics=app.state.metrics,
                       logger=configure_api_logging())
    app.include_router(health.router)
    app.include_router(registry_info.router)
    app.include_router(verify.router)
    app.include_router(page.router)
    app.include_router(issuance.router)
    app.include_router(metrics.router)
    app.include_router(certificates.router)
    app.include_router(evidence.router)
    app.include_router(search.router)
    app.include_router(issuers.router)
    app.include_router(revocations.router)
    app.include_router(audit.router)
    app.include_router(trust.router)
    app.include_router(instruments.router)
    return app


def create_worker_app() -> FastAPI:
    """The app of one of `certreg up`'s worker processes: settings from the environment
    the supervisor prepared, and gone with the supervisor, even when it is SIGKILLed."""
    from anchor.services._process import die_with_parent

    die_with_parent()
    return create_app()
