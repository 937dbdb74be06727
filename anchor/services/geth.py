"""A permissioned proof-of-authority network: geth Clique signers on loopback.

go-ethereum v1.13.15 is the last release that still seals Clique, so that is the one
scripts/install_geth.sh builds. `CliqueNetwork.start()` creates a fresh network every
time: new signer keys, new funded accounts, a genesis (London, no Shanghai: the contract
is compiled for `paris`), one data directory per node, static peering between the nodes
on 127.0.0.1 and no discovery, so nothing outside this machine is ever dialled.

Run one by hand with `python -m anchor.services.geth --workdir var/clique` (or
scripts/start_clique.sh); it writes keystores of the funded accounts for the CLI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys import keys as eth_keys
from eth_utils import to_checksum_address

from anchor.accounts import create_keystore
from anchor.errors import ServiceError
from anchor.files import write_private
from anchor.services._process import (
    REPO_ROOT,
    cache_dir,
    find_binary,
    free_port,
    run_in_foreground,
    spawn_service,
    stop_process,
    wait_until,
)
from anchor.services.anvil import rpc_call

GETH_VERSION = "v1.13.15"
# Not 31337: that is the development chain id on which anvil's public keys are accepted.
CLIQUE_CHAIN_ID = 1337
# 10^6 ether per funded account: plenty for any test, meaningless on a private chain.
DEFAULT_BALANCE_WEI = 10**24
_GAS_LIMIT = 30_000_000


def geth_binary() -> Path:
    """The geth ELF: $CERTREG_GETH, .venv/bin/geth, the install_geth.sh cache, or PATH."""
    return find_binary("geth", env_var="CERTREG_GETH", hint="run scripts/install_geth.sh",
                       candidates=(REPO_ROOT / ".venv/bin/geth",
                                   cache_dir() / f"geth-{GETH_VERSION}/geth"))


def clique_genesis(chain_id: int, signers: Sequence[str], alloc: dict[str, int], *,
                   period: int = 1, epoch: int = 30000) -> dict:
    """A Clique genesis with every fork up to London at block 0 and nothing after.

    No `shanghaiTime`: PUSH0 and friends stay off, matching the contract's `paris`
    target, and Clique has no post-merge forks anyway. extradata is 32 zero bytes of
    vanity, the signer addresses, and 65 zero bytes where a seal would go.
    """
    ordered = sorted((to_checksum_address(s) for s in signers), key=str.lower)
    extradata = "0x" + "00" * 32 + "".join(s[2:].lower() for s in ordered) + "00" * 65
    forks = ("homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock",
             "constantinopleBlock", "petersburgBlock", "istanbulBlock", "muirGlacierBlock",
             "berlinBlock", "londonBlock", "arrowGlacierBlock", "grayGlacierBlock")
    return {
        "config": {"chainId": chain_id, **dict.fromkeys(forks, 0),
                   "clique": {"period": period, "epoch": epoch}},
        "difficulty": "0x1",
        "gasLimit": hex(_GAS_LIMIT),
        "extradata": extradata,
        "alloc": {to_checksum_address(a)[2:].lower(): {"balance": hex(balance)}
                  for a, balance in alloc.items()},
    }


@dataclass
class GethNode:
    """One Clique signer: its own data directory, keystore, ports and config file."""

    name: str
    datadir: Path
    signer: str
    http_port: int
    p2p_port: int
    auth_port: int
    node_key: bytes = field(repr=False)
    log_path: Path
    # Unix socket paths are limited to 108 bytes; pytest's tmp paths are longer.
    ipc_path: Path
    process: subprocess.Popen | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def enode(self) -> str:
        public = eth_keys.PrivateKey(self.node_key).public_key.to_hex()[2:]
        return f"enode://{public}@127.0.0.1:{self.p2p_port}"

    @property
    def config_path(self) -> Path:
        return self.datadir / "config.toml"

    @property
    def password_file(self) -> Path:
        return self.datadir / "password"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rpc(self, method: str, params: list | None = None, timeout: float = 5.0) -> object:
        return rpc_call(self.rpc_url, method, params, timeout=timeout)

    def block_number(self) -> int:
        return int(str(self.rpc("eth_blockNumber")), 16)

    def peer_count(self) -> int:
        return int(str(self.rpc("net_peerCount")), 16)

    def signer_of(self, block_number: int) -> str:
        """The Clique signer that sealed a block (recovered from its seal)."""
        return to_checksum_address(str(self.rpc("clique_getSigner", [hex(block_number)])))

    def write_config(self, peers: Sequence[GethNode], chain_id: int) -> None:
        """The node's TOML: loopback only, no discovery, the other nodes as static peers."""
        def toml_list(values: Sequence[str]) -> str:
            return "[" + ", ".join(json.dumps(v) for v in values) + "]"

        enodes = [peer.enode for peer in peers if peer.name != self.name]
        self.config_path.write_text("\n".join([
            "# Written by anchor.services.geth.",
            "[Eth]", f"NetworkId = {chain_id}",
            # Full sync: a restarted signer replays the few blocks it missed, no snap sync.
            'SyncMode = "full"', "",
            # Any tip is enough: this is a private chain where fees pay nobody.
            "[Eth.Miner]", f"GasCeil = {_GAS_LIMIT}", "GasPrice = 1", "",
            "[Node]", f"DataDir = {json.dumps(str(self.datadir))}",
            'HTTPHost = "127.0.0.1"', f"HTTPPort = {self.http_port}",
            'HTTPVirtualHosts = ["localhost", "127.0.0.1"]',
            'HTTPModules = ["eth", "net", "web3", "clique"]',
            'AuthAddr = "127.0.0.1"', f"AuthPort = {self.auth_port}", "",
            "[Node.P2P]", "MaxPeers = 25", "NoDiscovery = true", "DiscoveryV4 = false",
            "BootstrapNodes = []", "BootstrapNodesV5 = []",
            f'ListenAddr = "127.0.0.1:{self.p2p_port}"',
            f"StaticNodes = {toml_list(enodes)}",
            f"TrustedNodes = {toml_list(enodes)}", ""]))

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart) the daemon on its existing data directory; wait for its RPC.

        The node does not seal yet: a signer sealing before it has peers makes a block of
        its own that its peers reject, and three such forks deadlock Clique (each signer
        "signed recently" on its own chain). `start_sealing()` once peered and synced.
        """
        if self.running:
            return
        self.ipc_path.parent.mkdir(mode=0o700, exist_ok=True)
        args = [str(geth_binary()), "--config", str(self.config_path),
                "--ipcpath", str(self.ipc_path), "--nat", "none",
                "--miner.etherbase", self.signer,
                "--unlock", self.signer, "--password", str(self.password_file),
                # Unlocking with HTTP on needs this. The unlocked signer could be made to
                # sign through eth_sendTransaction by anyone on this machine's loopback:
                # fine for a local network; a production signer belongs behind clef.
                "--allow-insecure-unlock", "--verbosity", "3"]
        self.process = spawn_service(args, self.log_path)
        # The RPC comes up before --unlock has decrypted the keystore (scrypt, ~1 s); a
        # sealer started before that fails every block with "authentication needed".
        wait_until(lambda: self.block_number() >= 0 and self._signer_unlocked(), timeout,
                   f"geth {self.name}", self.process, self.log_path)

    def _signer_unlocked(self) -> bool:
        # eth_sign answers "authentication needed" until the key is unlocked (geth 1.13 has
        # no personal_listWallets any more).
        probe = "0x" + b"certreg unlock probe".hex()
        try:
            return bool(self.admin_rpc("eth_sign", [self.signer, probe]))
        except ServiceError:
            time.sleep(0.25)  # each refusal is a WARN line in the node's log: poll gently
            return False

    def start_sealing(self) -> None:
        self.admin_rpc("miner_start")

    def admin_rpc(self, method: str, params: list | None = None, timeout: float = 10.0) -> object:
        """A JSON-RPC call over the node's IPC socket, where the admin and miner APIs live
        (root-only directory), so the loopback HTTP port never offers them."""
        request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                              "params": params or []}).encode()
        decoder = json.JSONDecoder()
        buffer = ""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.ipc_path))
            sock.sendall(request)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ServiceError(f"geth {self.name} closed IPC during {method}")
                buffer += chunk.decode()
                with contextlib.suppress(ValueError):
                    reply, _ = decoder.raw_decode(buffer.strip())
                    break
        if "error" in reply:
            raise ServiceError(f"{method} on geth {self.name} failed: {reply['error']}")
        return reply.get("result")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None:
            stop_process(self.process, sig, timeout=30.0)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.stop(signal.SIGKILL)


@dataclass
class CliqueNetwork:
    """Running Clique signers. Use `CliqueNetwork.start()`, then `stop()`.

    `accounts` are funded, freshly generated keys for deployers, governors and
    operators; the signers' own keys stay in their nodes' keystores.
    """

    workdir: Path
    chain_id: int
    period: int
    nodes: list[GethNode]
    accounts: list[LocalAccount] = field(repr=False)

    @property
    def signers(self) -> list[str]:
        return [node.signer for node in self.nodes]

    @property
    def rpc_urls(self) -> list[str]:
        return [node.rpc_url for node in self.nodes]

    @property
    def genesis_path(self) -> Path:
        return self.workdir / "genesis.json"

    @classmethod
    def start(cls, workdir: Path, signers: int = 3, *, chain_id: int = CLIQUE_CHAIN_ID,
              period: int = 1, epoch: int = 30000, funded_accounts: int = 10,
              balance_wei: int = DEFAULT_BALANCE_WEI, timeout: float = 90.0) -> CliqueNetwork:
        """Create and start a new network in `workdir` (which must not hold one already).

        Returns once every node has all others as peers and every signer has sealed a
        block, i.e. the signers take turns.
        """
        if signers < 1:
            raise ValueError("a Clique network needs at least one signer")
        workdir = workdir.resolve()
        if (workdir / "genesis.json").exists():
            raise ServiceError(f"{workdir} already holds a Clique network; use an empty directory")
        workdir.mkdir(parents=True, exist_ok=True)
        binary = geth_binary()

        signer_keys = [Account.create() for _ in range(signers)]
        accounts = [Account.create() for _ in range(funded_accounts)]
        alloc = {a.address: balance_wei for a in [*signer_keys, *accounts]}
        genesis = clique_genesis(chain_id, [s.address for s in signer_keys], alloc,
                                 period=period, epoch=epoch)
        (workdir / "genesis.json").write_text(json.dumps(genesis, indent=2))

        ipc_dir = Path(tempfile.mkdtemp(prefix="certreg-geth-"))
        nodes: list[GethNode] = []
        for index, signer in enumerate(signer_keys):
            datadir = workdir / f"node{index}"
            node = GethNode(name=f"node{index}", datadir=datadir, signer=signer.address,
                            http_port=free_port(), p2p_port=free_port(), auth_port=free_port(),
                            node_key=secrets.token_bytes(32), log_path=workdir / f"node{index}.log",
                            ipc_path=ipc_dir / f"node{index}.ipc")
            _init_datadir(binary, node, signer, workdir / "genesis.json")
            nodes.append(node)
        for node in nodes:
            node.write_config(nodes, chain_id)
        (workdir / "network.json").write_text(json.dumps({
            "chain_id": chain_id, "period": period,
            "nodes": [{"name": n.name, "rpc_url": n.rpc_url, "signer": n.signer,
                       "enode": n.enode} for n in nodes],
            "funded_accounts": [a.address for a in accounts]}, indent=2))

        network = cls(workdir=workdir, chain_id=chain_id, period=period, nodes=nodes,
                      accounts=accounts)
        try:
            deadline = time.monotonic() + timeout
            for node in nodes:
                node.start(timeout=max(1.0, deadline - time.monotonic()))
            network.wait_peered(timeout=max(1.0, deadline - time.monotonic()))
            for node in nodes:
                node.start_sealing()
            network.wait_sealing(network.signers, timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            network.stop()
            raise
        return network

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()
        for node in self.nodes:
            shutil.rmtree(node.ipc_path.parent, ignore_errors=True)

    def running_nodes(self) -> list[GethNode]:
        return [node for node in self.nodes if node.running]

    def wait_peered(self, timeout: float = 30.0) -> None:
        """Until every running node is connected to every other running node."""
        running = self.running_nodes()
        wanted = len(running) - 1
        for node in running:
            wait_until(lambda node=node: node.peer_count() >= wanted, timeout,
                       f"geth {node.name} peering with {wanted} nodes", node.process,
                       node.log_path)

    def wait_sealing(self, signers: Sequence[str], timeout: float = 30.0,
                     node: GethNode | None = None) -> list[str]:
        """Until each of `signers` has sealed one of the blocks made from now on.

        Returns the signers of those new blocks, in order, as seen by `node`.
        """
        node = node or self.running_nodes()[0]
        expected = {to_checksum_address(s) for s in signers}
        start = node.block_number()
        sealed: list[str] = []

        def everyone_sealed() -> bool:
            head = node.block_number()
            while start + len(sealed) < head:
                sealed.append(node.signer_of(start + len(sealed) + 1))
            return expected <= set(sealed)

        wait_until(everyone_sealed, timeout, f"sealing by {len(expected)} signers",
                   node.process, node.log_path)
        return sealed

    def wait_synced(self, node: GethNode, timeout: float = 30.0) -> None:
        """Until `node` has caught up with the highest head of the other running nodes."""
        others = [n for n in self.running_nodes() if n is not node]
        target = max((n.block_number() for n in others), default=0)
        wait_until(lambda: node.block_number() >= target, timeout,
                   f"geth {node.name} syncing to block {target}", node.process, node.log_path)

    def restart(self, node: GethNode, timeout: float = 60.0) -> None:
        """Start a stopped node again on its data; once peered and caught up, it seals."""
        node.start(timeout=timeout)
        self.wait_peered(timeout=timeout)
        self.wait_synced(node, timeout=timeout)
        node.start_sealing()

    def write_account_keystores(self, directory: Path, password: str) -> list[Path]:
        """Encrypted keystores of the funded accounts, for `certreg ... --keystore`."""
        paths = []
        for index, account in enumerate(self.accounts):
            path = directory / f"account{index}-{account.address}.json"
            create_keystore(path, password, account.key)
            paths.append(path)
        return paths


def _init_datadir(binary: Path, node: GethNode, signer: LocalAccount, genesis: Path) -> None:
    node.datadir.mkdir(parents=True)
    password = secrets.token_urlsafe(24)
    write_private(node.password_file, (password + "\n").encode())
    create_keystore(node.datadir / "keystore" / f"signer-{signer.address}.json", password,
                    signer.key)
    result = subprocess.run([str(binary), "--datadir", str(node.datadir), "init", str(genesis)],
                            capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise ServiceError(f"geth init of {node.name} failed with code {result.returncode}",
                           log=(result.stderr or result.stdout)[-2000:])
    # The node identity (enode) is ours to choose, so static peers can be written up front.
    key_path = node.datadir / "geth" / "nodekey"
    write_private(key_path, node.node_key.hex().encode())


def main(argv: Sequence[str] | None = None) -> int:
    """Run a Clique network in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m anchor.services.geth",
                                     description="Run a local geth Clique network.")
    parser.add_argument("--workdir", type=Path, default=Path("var/clique"),
                        help="where node data, logs and keystores go (must not hold a network)")
    parser.add_argument("--signers", type=int, default=3)
    parser.add_argument("--chain-id", type=int, default=CLIQUE_CHAIN_ID)
    parser.add_argument("--period", type=int, default=1, help="seconds between blocks")
    parser.add_argument("--accounts", type=int, default=6, help="funded accounts to create")
    args = parser.parse_args(argv)
    try:
        network = CliqueNetwork.start(args.workdir, args.signers, chain_id=args.chain_id,
                                      period=args.period, funded_accounts=args.accounts)
    except ServiceError as exc:
        print(f"error: {exc.message}\n{exc.details.get('log', '')}", file=sys.stderr)
        return 4
    keystore_dir = network.workdir / "keystores"
    password_file = keystore_dir / "password"
    keystore_dir.mkdir(exist_ok=True)
    password = secrets.token_urlsafe(24)
    write_private(password_file, (password + "\n").encode())
    keystores = network.write_account_keystores(keystore_dir, password)
    print(f"chain_id: {network.chain_id}")
    for node in network.nodes:
        print(f"{node.name}: rpc {node.rpc_url}  signer {node.signer}  log {node.log_path}")
    for path in keystores:
        print(f"funded account keystore: {path}")
    # The path only: the password itself is never printed.
    print(f"keystore password file: {password_file}")
    print(f"e.g. export CERTREG_RPC_URL={network.nodes[0].rpc_url} "
          f"CERTREG_CHAIN_ID={network.chain_id}")
    print("Ctrl-C stops the network.", flush=True)
    run_in_foreground(lambda: all(node.running for node in network.nodes), network.stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
