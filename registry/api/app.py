"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from registry import __version__
from registry.api.errors import install_error_handlers
from registry.api.middleware import BodySizeLimitMiddleware
from registry.api.routes import health, page, registry_info, verify
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
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware,
                       max_bytes=settings.max_document_bytes + REQUEST_OVERHEAD_BYTES)
    app.include_router(health.router)
    app.include_router(registry_info.router)
    app.include_router(verify.router)
    app.include_router(page.router)
    return app
