"""`certreg up` on embedded defaults: a working registry, and its state survives a crash."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from anchor.chain import RegistryClient, account_from_key, connect, issuer_id_from_name
from anchor.merkle import MerkleBatch
from anchor.services._process import free_port, port_open
from anchor.services.anvil import dev_private_key
from registry.context import DEV_OPERATOR_INDEX
from registry.devnet import DEV_ISSUER_CODE
from tests.anchor.registry_fixtures import cid_of


def start_up(data_dir: Path, api_port: int, chain_port: int, *args: str,
             **env_extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTREG_")} | env_extra
    return subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "up", "--data-dir", str(data_dir),
         "--api-port", str(api_port), "--chain-port", str(chain_port), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{pid}\n" in status:
                found.append(int(entry.name))
    return found


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_api_up_workers_share_one_rate_limit(tmp_path: Path) -> None:
    api_port, chain_port = free_port(), free_port()
    proc = start_up(tmp_path, api_port, chain_port, "--workers", "2",
                    CERTREG_RATE_LIMIT_PER_SECOND="0.001", CERTREG_RATE_LIMIT_BURST="30")
    try:
        assert get_json(f"http://127.0.0.1:{api_port}/healthz") == {"status": "ok"}
        workers = [p for p in children(proc.pid)
                   if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(workers) == 2
        # Each request on its own connection, 8 at a time: both workers take them.
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(status_of, [f"http://127.0.0.1:{api_port}/v1/registry"]
                                     * 80))
        assert statuses.count(200) == 30 and statuses.count(429) == 50, statuses
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stdout.close()
    assert not port_open("127.0.0.1", api_port), "a worker outlived `certreg up`"


def get_json(url: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_api_up_runs_embedded_registry_and_survives_sigkill(tmp_path: Path) -> None:
    api_port, chain_port = free_port(), free_port()
    proc = start_up(tmp_path, api_port, chain_port)
    try:
        assert get_json(f"http://127.0.0.1:{api_port}/healthz") == {"status": "ok"}
        info = get_json(f"http://127.0.0.1:{api_port}/v1/registry")
        assert info["chain_id"] == 31337 and info["threshold"] == 2
        ready = get_json(f"http://127.0.0.1:{api_port}/readyz")
        assert ready["ready"] and ready["checks"]["chain"]["ok"]

        # The development issuer's operator can anchor right away.
        w3 = connect(f"http://127.0.0.1:{chain_port}")
        operator = RegistryClient(w3, info["contract_address"],
                                  account=account_from_key(dev_private_key(DEV_OPERATOR_INDEX)))
        assert operator.issuer_of_operator(operator.account.address) == issuer_id_from_name(
            DEV_ISSUER_CODE)
        batch = MerkleBatch.of([hashlib.sha256(b"calibration certificate").digest()])
        anchored = operator.anchor_batch(batch.root, 1, cid_of("manifest"))
        time.sleep(1.5)  # anvil dumps its state every second
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    deadline = time.monotonic() + 10
    while port_open("127.0.0.1", chain_port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not port_open("127.0.0.1", chain_port), "the chain outlived a killed `certreg up`"

    proc = start_up(tmp_path, api_port, chain_port)
    try:
        again = get_json(f"http://127.0.0.1:{api_port}/v1/registry")
        assert again["contract_address"] == info["contract_address"]
        assert again["batch_count"] == 1
        w3 = connect(f"http://127.0.0.1:{chain_port}")
        reader = RegistryClient(w3, info["contract_address"])
        assert reader.find_anchoring(batch.root).batch == anchored.batch
    finally:
        proc.terminate()
        proc.wait(20)
        proc.stdout.close()
