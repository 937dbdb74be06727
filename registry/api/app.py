"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from registry import __version__
from registry.api.errors import install_error_handlers
from registry.api.routes import health, registry_info
from registry.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="certreg", version=__version__,
                  description="Blockchain-anchored certificate registry for metrology.")
    app.state.settings = settings or load_settings()
    app.state.registry_client = None
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(registry_info.router)
    return app
