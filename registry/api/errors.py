"""The one place that maps errors to HTTP responses.

Every error body is {"error": {"code": <stable code>, "message": <text>}}. Bad
input is a 4xx; a backend that is down is a 503; nothing we anticipate is a 500.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from anchor.errors import AnchorError, ChainError, ContractRevertError, ServiceError
from registry.errors import (
    ConfigurationError,
    DocumentTooLargeError,
    RegistryError,
)

_STATUS_BY_TYPE: tuple[tuple[type[Exception], int], ...] = (
    (DocumentTooLargeError, 413),
    (ConfigurationError, 503),
    (RegistryError, 422),
    (ContractRevertError, 409),
    (ChainError, 503),
    (ServiceError, 503),
    (AnchorError, 503),
)
_STATUS_BY_CODE: dict[str, int] = {
    "not-found": 404,
    "unauthorized": 401,
    "forbidden": 403,
    "storage-unavailable": 503,
    "content-not-found": 404,
    "content-integrity-failed": 502,
    "decryption-failed": 422,
    "cid-invalid": 400,
    "request-invalid": 400,
    "document-type-unsupported": 415,
    "document-too-large": 413,
    "issuer-not-served": 403,
    "credential-not-found": 404,
    "document-not-found": 404,
    "document-not-anchored": 409,
    "document-already-revoked": 409,
    "rate-limited": 429,
    "issuance-busy": 503,
    "document-key-required": 403,
    "evidence-not-found": 404,
    "evidence-invalid": 422,
}


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def status_for(exc: Exception) -> int:
    code = getattr(exc, "code", None)
    if code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[code]
    for error_type, status in _STATUS_BY_TYPE:
        if isinstance(exc, error_type):
            return status
    return 500


def headers_for(exc: Exception) -> dict[str, str] | None:
    """What a client needs to react: the auth scheme on 401, when to retry on 429/503."""
    code = getattr(exc, "code", None)
    if code == "unauthorized":
        return {"WWW-Authenticate": 'Bearer realm="certreg"'}
    retry_after = getattr(exc, "details", {}).get("retry_after")
    if retry_after is not None:
        return {"Retry-After": str(retry_after)}
    return None


def install_error_handlers(app: FastAPI) -> None:
    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        request.state.error_code = exc.code  # for the access log line
        return JSONResponse(error_body(exc.code, exc.message), status_code=status_for(exc),
                            headers=headers_for(exc))

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        request.state.error_code = "request-invalid"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse(error_body("request-invalid", problems), status_code=422)

    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed", 413: "request-too-large",
                429: "rate-limited"}.get(exc.status_code, "http-error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    app.add_exception_handler(RegistryError, domain_error)
    app.add_exception_handler(AnchorError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
