"""Rate limits: token buckets per client IP on public endpoints, per credential on issuance."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from registry.api.ratelimit import SharedTokenBucketLimiter, TokenBucketLimiter
from registry.settings import Settings
from tests.registry.api_support import LAB_CODE, PTB_CODE, api_client, api_token, bearer

UNKNOWN = "ab" * 32


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_the_refill_rate() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate_per_second=2.0, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0.0, "each key has its own bucket"
    clock.now += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    clock.now += 60
    assert [limiter.acquire("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0], \
        "a bucket refills to its burst, not beyond"


def test_token_bucket_keeps_a_bounded_number_of_clients() -> None:
    limiter = TokenBucketLimiter(rate_per_second=1.0, burst=1, max_buckets=100,
                                 clock=FakeClock())
    for i in range(1000):
        limiter.acquire(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) == 100


def test_token_bucket_with_rate_zero_never_limits() -> None:
    limiter = TokenBucketLimiter(rate_per_second=0.0, burst=1)
    assert all(limiter.acquire("a") == 0.0 for _ in range(1000))


def test_public_endpoints_are_limited_per_client_with_retry_after(settings: Settings) -> None:
    client = api_client(settings.model_copy(update={"rate_limit_per_second": 0.05,
                                                    "rate_limit_burst": 3}))
    statuses = [client.get(f"/v1/verify/{UNKNOWN}").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = client.get(f"/v1/verify/{UNKNOWN}")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate-limited"
    assert 15 <= int(limited.headers["retry-after"]) <= 20
    assert client.post("/v1/verify", content=b"<a/>").status_code == 429
    # Probes and the scraper are never limited.
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert 'certreg_rate_limited_total{budget="public"} 2.0' in client.get("/metrics").text


def test_issuance_has_its_own_budget_per_credential(settings: Settings) -> None:
    client = api_client(settings.model_copy(update={
        # Slow refills: the assertions must not depend on how fast this machine is.
        "rate_limit_per_second": 0.01, "rate_limit_burst": 2,
        "issuance_rate_limit_per_minute": 0.5, "issuance_rate_limit_burst": 2}))
    ptb, other_ptb = api_token(settings, PTB_CODE), api_token(settings, PTB_CODE)
    url = f"/v1/issuance/documents/{UNKNOWN}"
    assert [client.get(url, headers=bearer(ptb)).status_code for _ in range(2)] == [404, 404]
    limited = client.get(url, headers=bearer(ptb))
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate-limited"
    assert int(limited.headers["retry-after"]) >= 100
    assert client.get(url, headers=bearer(other_ptb)).status_code == 404
    # Issuance did not spend the public budget...
    assert client.get(f"/v1/verify/{UNKNOWN}").status_code == 200
    # ...but failed authentication does: guessing tokens is throttled like any client.
    lab = api_token(settings, LAB_CODE)
    assert client.get(url, headers=bearer(lab)).status_code == 403
    guesses = [client.get(url, headers=bearer(f"certreg_guess{i}")).status_code
               for i in range(3)]
    assert guesses == [401, 429, 429]


def test_shared_token_bucket_matches_the_in_memory_one(tmp_path: Path) -> None:
    clock = FakeClock()
    shared = SharedTokenBucketLimiter(tmp_path / "b", rate_per_second=2.0, burst=3,
                                      clock=clock)
    memory = TokenBucketLimiter(rate_per_second=2.0, burst=3, clock=clock)
    for step in [0, 0, 0, 0, 0.5, 0, 0.2, 60, 0, 0, 0, 0]:
        clock.now += step
        assert shared.acquire("a") == pytest.approx(memory.acquire("a"))
        assert shared.acquire("b") == pytest.approx(memory.acquire("b"))


def _take_tokens(path: str, tries: int, start: float, queue: multiprocessing.Queue) -> None:
    limiter = SharedTokenBucketLimiter(Path(path), rate_per_second=0.001, burst=25)
    while time.time() < start:  # both processes contend at once
        time.sleep(0.001)
    queue.put(sum(1 for _ in range(tries) if limiter.acquire("198.51.100.7") == 0.0))


def test_shared_token_bucket_holds_one_budget_across_two_processes(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    start = time.time() + 2
    workers = [context.Process(target=_take_tokens,
                               args=(str(tmp_path / "public.buckets"), 40, start, queue))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    granted = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert sum(granted) == 25, granted  # one burst in all, not one per process
