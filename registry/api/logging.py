"""Structured request logs (one JSON line per request) and the request telemetry middleware.

What a line may hold is an allow-list, not a filter: method, route TEMPLATE, status,
duration, request id, client address and, for issuance, the credential id and issuer
code. Never headers (Authorization carries the token), query strings, bodies (document
bytes), keys or passwords — they are not passed to the logger at all, so no formatter
setting can leak them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from registry.api.metrics import UNMATCHED_ROUTE, ApiMetrics
from registry.api.middleware import ASGIApp, Message, Receive, Scope, Send
from registry.api.ratelimit import client_address

ACCESS_LOGGER = "certreg.api.access"
REQUEST_ID_HEADER = b"x-request-id"
# A caller's request id is echoed only if it is short and plain (no log injection).
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Fields a log line may carry besides the message: the allow-list above.
_ALLOWED_FIELDS = ("method", "route", "status", "duration_ms", "request_id", "client",
                   "credential_id", "issuer", "error")


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the allowed fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _ALLOWED_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: an exception's message may quote the input it choked on.
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False)


JsonLineFormatter.converter = time.gmtime


class _StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is when a record is emitted, not when the handler was
    made (test runners and process managers replace it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_api_logging(stream: Any = None) -> logging.Logger:
    """JSON lines on stderr for the access log (once per process; idempotent)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(getattr(h, "_certreg_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
        handler.setFormatter(JsonLineFormatter())
        handler._certreg_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def route_template(scope: Scope) -> str:
    """The matched route's path template; never the raw path (unbounded, may hold data)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers") or []:
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if _CLIENT_REQUEST_ID.match(text):
                return text
            break
    return uuid.uuid4().hex


class RequestTelemetryMiddleware:
    """Outermost middleware: a request id for every request (X-Request-ID, echoed), the
    access log line and the request metrics, including requests other middleware refused
    (413, 429) and ones that crashed (500)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, logger: logging.Logger | None = None
                 ) -> None:
        self.app = app
        self.metrics = metrics
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []),
                                      (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = str(scope.get("method", ""))
            self.metrics.observe_request(method, route, status, seconds)
            state = scope.get("state") or {}
            self.logger.info("request", extra={
                "method": method, "route": route, "status": status,
                "duration_ms": round(seconds * 1000, 3), "request_id": request_id,
                "client": client_address(scope),
                "credential_id": state.get("credential_id"), "issuer": state.get("issuer"),
                "error": state.get("error_code")})
