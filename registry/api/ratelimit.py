"""Rate limiting: token buckets per client IP (public) or per API credential.

A bucket holds up to `burst` tokens and refills at `rate_per_second`; each request takes
one. Two stores, one behaviour:

* `TokenBucketLimiter`: in this process's memory (a single API process, the tests).
* `SharedTokenBucketLimiter`: in a memory-mapped file that every worker process of one
  server maps, each bucket updated under a POSIX record lock on its slot, so N workers
  enforce one budget, not N. `certreg up` creates the file for its run and hands its
  directory to the workers (CERTREG_RATE_LIMIT_STATE_DIR).

Both are bounded, so a flood of distinct addresses cannot grow memory without limit: the
in-memory one drops least recently used buckets, the shared one has a fixed number of
slots (a key takes a slot over from another one hashing to it). Either way a client can
only ever be handed a full bucket back, never be limited by another client's requests.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import mmap
import os
import secrets
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from registry.api.errors import error_body, status_for
from registry.api.middleware import ASGIApp, Receive, Scope, Send
from registry.errors import RateLimitedError

DEFAULT_MAX_BUCKETS = 100_000
# Never limited: probes and scrapers must work exactly when the API is under load, and
# issuance has a budget of its own per credential (see routes/issuance.py).
DEFAULT_EXEMPT_PREFIXES = ("/healthz", "/readyz", "/metrics", "/v1/issuance")


class _TokenBuckets:
    """The token-bucket rule; subclasses keep the buckets (`acquire`)."""

    def __init__(self, rate_per_second: float, burst: int,
                 clock: Callable[[], float]) -> None:
        if burst < 1:
            raise ValueError("a bucket holds at least one token")
        self.rate_per_second = rate_per_second
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate_per_second > 0

    def _take(self, tokens: float, updated: float, now: float) -> tuple[float, float]:
        """A bucket's tokens after refilling since `updated` and taking one, and the
        seconds to wait (0.0: granted)."""
        tokens = min(float(self.burst), tokens + (now - updated) * self.rate_per_second)
        if tokens >= 1.0:
            return tokens - 1.0, 0.0
        return tokens, (1.0 - tokens) / self.rate_per_second

    def acquire(self, key: str) -> float:
        """Take a token: 0.0 if granted, else the seconds until one will be available."""
        raise NotImplementedError

    def check(self, key: str, what: str) -> None:
        """Take a token or raise RateLimitedError (`what` names the budget in the message)."""
        wait = self.acquire(key)
        if wait > 0:
            raise rate_limited(wait, what)


class TokenBucketLimiter(_TokenBuckets):
    """Thread-safe token buckets keyed by a string (an IP address, a credential id)."""

    def __init__(self, rate_per_second: float, burst: int, *,
                 max_buckets: int = DEFAULT_MAX_BUCKETS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(rate_per_second, burst, clock)
        self.max_buckets = max_buckets
        # key -> (tokens, time of the last update)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def acquire(self, key: str) -> float:
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.pop(key, (float(self.burst), now))
            tokens, wait = self._take(tokens, updated, now)
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        return wait


DEFAULT_SHARED_SLOTS = 1 << 17
_SLOT = struct.Struct("<Qdd")  # key fingerprint, tokens, time of the last update
_SALT_BYTES = 16  # the file starts with a random salt: collisions cannot be aimed at


class SharedTokenBucketLimiter(_TokenBuckets):
    """Token buckets in a file mapped by every worker process of one server.

    The clock must be shared by the processes (CLOCK_MONOTONIC is, machine-wide)."""

    def __init__(self, path: Path, rate_per_second: float, burst: int, *,
                 slots: int = DEFAULT_SHARED_SLOTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # (The base class's thread lock: record locks do not exclude this process's threads.)
        super().__init__(rate_per_second, burst, clock)
        self.slots = slots
        self.path = path
        size = _SALT_BYTES + slots * _SLOT.size
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(self._fd, fcntl.LOCK_EX, _SALT_BYTES, 0)
        try:
            if os.fstat(self._fd).st_size < size:
                os.ftruncate(self._fd, size)
                os.pwrite(self._fd, secrets.token_bytes(_SALT_BYTES), 0)
            self._map = mmap.mmap(self._fd, size)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, _SALT_BYTES, 0)
        self._salt = bytes(self._map[:_SALT_BYTES])

    def _slot(self, key: str) -> tuple[int, int]:
        digest = hashlib.blake2b(key.encode(), digest_size=16, key=self._salt).digest()
        fingerprint = int.from_bytes(digest[:8], "little") or 1  # 0 marks an empty slot
        index = int.from_bytes(digest[8:], "little") % self.slots
        return fingerprint, _SALT_BYTES + index * _SLOT.size

    def acquire(self, key: str) -> float:
        if not self.enabled:
            return 0.0
        fingerprint, offset = self._slot(key)
        with self._lock:
            fcntl.lockf(self._fd, fcntl.LOCK_EX, _SLOT.size, offset)
            try:
                now = self._clock()
                owner, tokens, updated = _SLOT.unpack_from(self._map, offset)
                if owner != fingerprint or updated > now:
                    tokens, updated = float(self.burst), now  # new key (or a reboot)
                tokens, wait = self._take(tokens, updated, now)
                _SLOT.pack_into(self._map, offset, fingerprint, tokens, now)
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, _SLOT.size, offset)
        return wait


Limiter = TokenBucketLimiter | SharedTokenBucketLimiter


def make_limiter(state_dir: Path | None, name: str, rate_per_second: float,
                 burst: int) -> Limiter:
    """A shared limiter when the server gave its workers a state directory, else one in
    this process's memory."""
    if state_dir is None:
        return TokenBucketLimiter(rate_per_second, burst)
    return SharedTokenBucketLimiter(state_dir / f"{name}.buckets", rate_per_second, burst)


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

    def __init__(self, app: ASGIApp, limiter: Limiter,
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
