"""Kubo, the reference IPFS node, run from the binary scripts/install_kubo.sh builds.

Each node gets its own repository (IPFS_PATH) and listens on fixed loopback ports only:
no public bootstrap peers, no mDNS, no content routing to the public network. Nodes find
each other only when told to (`connect_to`, or `peers` at start for a persistent link).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from anchor.errors import ServiceError
from anchor.services._process import (
    REPO_ROOT,
    cache_dir,
    find_binary,
    free_port,
    spawn_service,
    stop_process,
    wait_until,
)

KUBO_VERSION = "v0.43.1"


def kubo_binary() -> Path:
    """The ipfs ELF: $CERTREG_IPFS, .venv/bin/ipfs, the install_kubo.sh cache, or PATH."""
    return find_binary("ipfs", env_var="CERTREG_IPFS", hint="run scripts/install_kubo.sh",
                       candidates=(REPO_ROOT / ".venv/bin/ipfs",
                                   cache_dir() / f"kubo-{KUBO_VERSION}/ipfs"))


def rpc_post(api_url: str, command: str, timeout: float = 5.0, **params: str) -> object:
    """POST one Kubo RPC command (the RPC API accepts POST only) and decode its JSON."""
    query = "&".join(f"{key}={urllib.request.quote(value)}" for key, value in params.items())
    url = f"{api_url}/api/v0/{command}" + (f"?{query}" if query else "")
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


@dataclass(frozen=True)
class KuboPeer:
    """How another node reaches a Kubo node: its identity and one swarm address."""

    peer_id: str
    swarm_addr: str

    @property
    def p2p_addr(self) -> str:
        return f"{self.swarm_addr}/p2p/{self.peer_id}"


@dataclass
class KuboNode:
    """A running Kubo daemon on 127.0.0.1. Use `KuboNode.start()`, then `stop()`.

    `start()` on a `repo_dir` that already holds a repository reuses it (same identity,
    same blocks and pins): that is how a restart after an outage is simulated.
    """

    repo_dir: Path
    api_port: int
    gateway_port: int
    swarm_port: int
    peer_id: str
    process: subprocess.Popen
    log_path: Path

    @property
    def api_multiaddr(self) -> str:
        """What ipfshttpclient and `certreg store --kubo-api` take."""
        return f"/ip4/127.0.0.1/tcp/{self.api_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def peer(self) -> KuboPeer:
        return KuboPeer(self.peer_id, f"/ip4/127.0.0.1/tcp/{self.swarm_port}")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @classmethod
    def start(cls, *, workdir: Path, name: str = "kubo", api_port: int | None = None,
              gateway_port: int | None = None, swarm_port: int | None = None,
              peers: tuple[KuboPeer, ...] = (), timeout: float = 30.0) -> KuboNode:
        """Initialise (once) and start a daemon whose repository is `workdir/name`.

        `peers` go into Peering.Peers: Kubo keeps those connections up and redials them
        after either side restarts, but with its own backoff (the first dial came ~10 s
        after start in our runs); `connect_to` connects at once.
        """
        binary = kubo_binary()
        repo_dir = workdir / name
        env = _kubo_env(repo_dir)
        if not (repo_dir / "config").exists():
            repo_dir.mkdir(parents=True, exist_ok=True)
            # `test` profile: ports 0, no bootstrap, no mDNS, no AutoConf fetches.
            _run([str(binary), "init", "--profile", "test"], env, "ipfs init")
        config_path = repo_dir / "config"
        config = json.loads(config_path.read_text())
        previous = _configured_ports(config)
        api_port = api_port or previous.get("api") or free_port()
        gateway_port = gateway_port or previous.get("gateway") or free_port()
        swarm_port = swarm_port or previous.get("swarm") or free_port()
        config["Addresses"].update({
            "API": f"/ip4/127.0.0.1/tcp/{api_port}",
            "Gateway": f"/ip4/127.0.0.1/tcp/{gateway_port}",
            "Swarm": [f"/ip4/127.0.0.1/tcp/{swarm_port}"],
            "Announce": [], "AppendAnnounce": [],
        })
        config["Bootstrap"] = []
        config["Discovery"] = {"MDNS": {"Enabled": False}}
        # No DHT: nothing to reach offline, and blocks travel by bitswap between the peers
        # we connect explicitly, which is exactly the federation we want to exercise.
        config["Routing"] = {**config.get("Routing", {}), "Type": "none"}
        config["Peering"] = {"Peers": [{"ID": peer.peer_id, "Addrs": [peer.swarm_addr]}
                                       for peer in peers] or None}
        # Written directly rather than through `ipfs config`: one file write instead of a
        # process start per key, and the daemon is not running yet.
        config_path.write_text(json.dumps(config, indent=2))
        peer_id = str(config["Identity"]["PeerID"])

        log_path = workdir / f"{name}.log"
        proc = spawn_service([str(binary), "daemon"], log_path, env)
        node = cls(repo_dir=repo_dir, api_port=api_port, gateway_port=gateway_port,
                   swarm_port=swarm_port, peer_id=peer_id, process=proc, log_path=log_path)
        api_url = node.api_url
        wait_until(lambda: bool(rpc_post(api_url, "id", timeout=1.0)), timeout, "Kubo", proc,
                   log_path)
        return node

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.process, sig, timeout=15.0)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        stop_process(self.process, signal.SIGKILL)

    def restart(self, timeout: float = 30.0) -> KuboNode:
        """Stop if running, then start again on the same repository, identity and ports.
        Updates this object in place (and returns it)."""
        self.stop()
        config = json.loads((self.repo_dir / "config").read_text())
        peers = tuple(KuboPeer(entry["ID"], entry["Addrs"][0])
                      for entry in config["Peering"]["Peers"] or [])
        fresh = KuboNode.start(workdir=self.repo_dir.parent, name=self.repo_dir.name,
                               api_port=self.api_port, gateway_port=self.gateway_port,
                               swarm_port=self.swarm_port, peers=peers, timeout=timeout)
        self.process, self.log_path = fresh.process, fresh.log_path
        return self

    def rpc(self, command: str, timeout: float = 5.0, **params: str) -> object:
        return rpc_post(self.api_url, command, timeout=timeout, **params)

    def connect_to(self, other: KuboNode | KuboPeer, timeout: float = 10.0) -> None:
        """`ipfs swarm connect` to another node on loopback (lasts until either restarts)."""
        peer = other.peer if isinstance(other, KuboNode) else other
        try:
            self.rpc("swarm/connect", timeout=timeout, arg=peer.p2p_addr)
        except OSError as exc:
            raise ServiceError(f"swarm connect to {peer.peer_id} failed: {exc}") from exc

    def connected_peers(self) -> set[str]:
        reply = self.rpc("swarm/peers")
        peers = (reply or {}).get("Peers") if isinstance(reply, dict) else None
        return {str(entry["Peer"]) for entry in peers or []}


def _kubo_env(repo_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["IPFS_PATH"] = str(repo_dir)
    # Never let Kubo phone home for telemetry or migrations during tests.
    env["IPFS_TELEMETRY"] = "off"
    return env


def _configured_ports(config: dict) -> dict[str, int]:
    """Ports a previous `start()` wrote, so a restart keeps its addresses."""
    def port_of(addr: object) -> int | None:
        if isinstance(addr, list):
            addr = addr[0] if addr else None
        if not isinstance(addr, str) or not addr.startswith("/ip4/127.0.0.1/tcp/"):
            return None
        port = int(addr.rsplit("/", 1)[-1])
        return port or None

    addresses = config.get("Addresses", {})
    found = {"api": port_of(addresses.get("API")), "gateway": port_of(addresses.get("Gateway")),
             "swarm": port_of(addresses.get("Swarm"))}
    return {key: value for key, value in found.items() if value}


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise ServiceError(f"{what} failed with code {result.returncode}",
                           log=(result.stderr or result.stdout)[-2000:])
