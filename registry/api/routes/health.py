"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from registry.api.deps import RegistryClientDep, SettingsDep
from registry.context import content_store

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(settings: SettingsDep, client: RegistryClientDep) -> JSONResponse:
    """Chain and content store reachable (the database joins with the indexer)."""
    checks: dict[str, dict] = {}
    try:
        checks["chain"] = {"ok": True, "block": client.w3.eth.block_number}
    except Exception as exc:  # readiness reports, it never raises
        checks["chain"] = {"ok": False, "error": type(exc).__name__}
    try:
        store = content_store(settings)
        checks["ipfs"] = {"ok": True, "backend": type(store).__name__}
    except Exception as exc:
        checks["ipfs"] = {"ok": False, "error": type(exc).__name__}
    ready = all(c["ok"] for c in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
