"""Rate limiting: token buckets in memory, per client IP (public) or per API credential.

A bucket holds up to `burst` tokens and refills at `rate_per_second`; each request takes
one. The state lives in this process: with several API processes each enforces its own
budget (a client gets at most N times the rate), which is the price of needing no
shared store. The number of buckets is bounded (least recently used ones are dropped,
which only ever gives a client a full bucket back), so a flood of distinct addresses
cannot grow memory without limit.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from registry.api.errors import error_body, status_for
from registry.api.middleware import ASGIApp, Receive, Scope, Send
from registry.errors import RateLimitedError

DEFAULT_MAX_BUCKETS = 100_000
# Never limited: probes and scrapers must work exactly when the API is under load, and
# issuance has a budget of its own per credential (see routes/issuance.py).
DEFAULT_EXEMPT_PREFIXES = ("/healthz", "/readyz", "/metrics", "/v1/issuance")


class TokenBucketLimiter:
    """Thread-safe token buckets keyed by a string (an IP address, a credential id)."""

    def __init__(self, rate_per_second: float, burst: int, *,
                 max_buckets: int = DEFAULT_MAX_BUCKETS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1:
            raise ValueError("a bucket holds at least one token")
        self.rate_per_second = rate_per_second
        self.burst = burst
        self.max_buckets = max_buckets
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (tokens, time of the last update)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate_per_second > 0

    def acquire(self, key: str) -> float:
        """Take a token: 0.0 if granted, else the seconds until one will be available."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - updated) * self.rate_per_second)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.rate_per_second
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        return wait

    def check(self, key: str, what: str) -> None:
        """Take a token or raise RateLimitedError (`what` names the budget in the message)."""
        wait = self.acquire(key)
        if wait > 0:
            raise rate_limited(wait, what)


def rate_limited(wait_seconds: float, what: str) -> RateLimitedError:
    retry_after = max(1, math.ceil(wait_seconds))
    return RateLimitedError(f"too many requests ({what}); retry after {retry_after} s",
                            retry_after=retry_after)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimitMiddleware:
    """Per-client-IP budget for every path except the exempt prefixes. Rejects before the
    body is read, so a limited client costs almost nothing."""

    def __init__(self, app: ASGIApp, limiter: TokenBucketLimiter,
                 exempt_prefixes: tuple[str, ...] = DEFAULT_EXEMPT_PREFIXES) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or not self.limiter.enabled
                or str(scope.get("path", "")).startswith(self.exempt_prefixes)):
            await self.app(scope, receive, send)
            return
        wait = self.limiter.acquire(client_address(scope))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        error = rate_limited(wait, "per client address")
        body = json.dumps(error_body(error.code, error.message)).encode()
        await send({"type": "http.response.start", "status": status_for(error),
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"retry-after", str(error.details["retry_after"]).encode())]})
        await send({"type": "http.response.body", "body": body})
