"""anvil, Foundry's development chain, run from the pinned npm package."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from anchor.errors import ServiceError
from anchor.services._process import (
    REPO_ROOT,
    find_binary,
    free_port,
    spawn_service,
    stop_process,
    wait_until,
)

# anvil's well-known development mnemonic; its keys are public and fund nothing real.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


ANVIL_IN_NODE_MODULES = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"


def anvil_binary() -> Path:
    """The anvil ELF: $CERTREG_ANVIL, the repo's node_modules, or PATH."""
    return find_binary("anvil", env_var="CERTREG_ANVIL", hint="run scripts/setup.sh (npm ci)",
                       candidates=(REPO_ROOT / ANVIL_IN_NODE_MODULES,))


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 2.0) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise ServiceError(f"{method} failed: {reply['error']}")
    return reply["result"]


@dataclass
class AnvilNode:
    """A running anvil on 127.0.0.1. Use `AnvilNode.start()`, then `stop()`."""

    port: int
    chain_id: int
    process: subprocess.Popen
    log_path: Path
    state_file: Path | None = None
    accounts: int = 10
    extra_args: tuple[str, ...] = field(default=())

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, *, port: int | None = None, chain_id: int = 31337, workdir: Path,
              state_file: Path | None = None, accounts: int = 10, block_time: float | None = None,
              extra_args: tuple[str, ...] = (), timeout: float = 20.0) -> AnvilNode:
        """Start anvil. With `state_file`, state is dumped every second and reloaded on start,
        which survives SIGKILL (losing at most the last second)."""
        port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = workdir / f"anvil-{port}.log"
        args = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port),
                "--chain-id", str(chain_id), "--accounts", str(accounts),
                "--mnemonic", DEV_MNEMONIC, *extra_args]
        if state_file is not None:
            args += ["--state", str(state_file), "--state-interval", "1"]
        if block_time is not None:
            args += ["--block-time", str(block_time)]
        proc = spawn_service(args, log_path)
        node = cls(port=port, chain_id=chain_id, process=proc, log_path=log_path,
                   state_file=state_file, accounts=accounts, extra_args=extra_args)
        url = node.rpc_url
        wait_until(lambda: rpc_call(url, "eth_chainId") is not None, timeout, "anvil", proc,
                   log_path)
        return node

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.process, sig)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        stop_process(self.process, signal.SIGKILL)

    def rpc(self, method: str, params: list | None = None) -> object:
        return rpc_call(self.rpc_url, method, params)

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", [hex(blocks)])

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        if not self.rpc("evm_revert", [snapshot_id]):
            raise ServiceError(f"evm_revert({snapshot_id}) failed")


def dev_private_key(index: int) -> str:
    """Private key of anvil's development account `index` (public test keys)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key.hex()
