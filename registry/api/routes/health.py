"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from registry.api.deps import RegistryClientDep, SettingsDep, session_factory_of
from registry.context import content_store
from registry.db.engine import ping
from registry.settings import Settings
from registry.verdicts import indexed_block

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request, settings: SettingsDep, client: RegistryClientDep) -> JSONResponse:
    """Chain, content store and database reachable; 503 names the failed check."""
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
    try:
        # The factory is built (and the schema migrated) on first use: that is part of
        # being ready, and a database that was down at startup is retried here.
        ping(session_factory_of(request))
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    if checks["chain"]["ok"] and checks["database"]["ok"]:
        checks["indexer"] = indexer_check(settings, request, checks["chain"]["block"])
    ready = all(c["ok"] for c in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


def indexer_check(settings: Settings, request: Request, head: int) -> dict:
    """How far the projection (and so every default verdict) is behind the chain: more
    than CERTREG_MAX_INDEXER_LAG_BLOCKS past the confirmation depth is not ready."""
    try:
        indexed = indexed_block(session_factory_of(request))
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    if indexed is None:  # never indexed: behind by everything since the deployment
        indexed = int(settings.require_deployment().get("block_number", 0)) - 1
    behind = max(0, head - indexed)
    allowed = settings.max_indexer_lag_blocks + max(1, settings.confirmations) - 1
    return {"ok": behind <= allowed, "indexed_block": indexed, "blocks_behind_head": behind,
            "max_blocks_behind": allowed}
