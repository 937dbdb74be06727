"""The chains `scripts/bench_eas.py` runs on and how it sends to them: calldata from an
ABI, transactions pipelined with explicit nonces (`Pipe`), a fresh anvil or a geth Clique
network with its accounts (`open_chain`), and the parameters of a run.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from anchor.chain import (
    RevertDecoder,
    SignedTransaction,
    TransactionSender,
    account_from_key,
    connect,
)
from anchor.errors import ChainError, ContractRevertError
from anchor.services.anvil import AnvilNode, anvil_binary, dev_private_key

BATCH_REQUEST_BYTES = 256 * 1024  # calldata per JSON-RPC batch (anvil refuses large bodies)

# anvil's time per block grows with its state (about 0.1 s at 15,000 attestations, and
# on), so the anvil we start has a 10x block gas limit: ten times fewer blocks for the
# same transactions. Gas per transaction does not depend on the block gas limit, and
# batches are sized by the 2**24 per-transaction cap, which stays the binding limit.
ANVIL_ARGS = ("--gas-limit", str(300_000_000))
# Roles on anvil: its public development accounts (operator 5 as in the dev registry).
ANVIL_ROLES = {"deployer": 0, "governors": (1, 2, 3), "issuer_admin": 4, "operator": 5,
               "attester": 7}


def log(message: str) -> None:
    print(f"[bench_eas {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def gas_limit(estimate: int) -> int:
    """The headroom anchor.chain gives its own transactions."""
    return int(estimate * 1.2) + 10_000


# ------------------------------------------------------------------ ABI encoding


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        return f"({','.join(_abi_type(c) for c in item['components'])}){item['type'][5:]}"
    return item["type"]


class Abi:
    """Selectors and argument types of a contract's functions, for fast calldata."""

    def __init__(self, abi: list[dict]) -> None:
        self.functions = {item["name"]: item for item in abi if item["type"] == "function"}

    def encode(self, name: str, *args: Any) -> bytes:
        item = self.functions[name]
        types = [_abi_type(i) for i in item["inputs"]]
        selector = keccak(text=f"{name}({','.join(types)})")[:4]
        return selector + abi_encode(types, list(args))

    def decode_output(self, name: str, data: bytes) -> tuple:
        return tuple(abi_decode([_abi_type(o) for o in self.functions[name]["outputs"]], data))


# ------------------------------------------------------------------ sending


class Pipe:
    """Transactions from one account with explicit nonces, up to `window` in flight.

    Signing, broadcasting and waiting reuse anchor.chain's TransactionSender; on anvil
    the node signs (eth_sendTransaction from its unlocked development account, the
    same key), which keeps Python's ~3 ms signature out of 20,000-transaction runs.
    """

    def __init__(self, w3: Web3, account: LocalAccount, decoder: RevertDecoder, *,
                 node_signs: bool, window: int, poll_interval: float,
                 manual_mining: bool = False) -> None:
        self.w3 = w3
        self.account = account
        self.node_signs = node_signs
        self.manual_mining = manual_mining
        self.window = window
        self.sender = TransactionSender(w3, account, decoder, poll_interval=poll_interval)
        self.decoder = decoder
        self._fees: dict[str, int] = {}
        self._fees_at = 0.0

    def fees(self) -> dict[str, int]:
        now = time.monotonic()
        if not self._fees or now - self._fees_at > 1.0:
            base = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
            priority = int(self.w3.eth.max_priority_fee)
            # Room for the base fee to climb while a long pipeline fills blocks.
            self._fees = {"maxFeePerGas": max(10 * base, base + 10**9) + priority,
                          "maxPriorityFeePerGas": priority}
            self._fees_at = now
        return self._fees

    def estimate(self, to: str | None, data: bytes) -> int:
        tx: dict[str, Any] = {"from": self.account.address, "data": data}
        if to is not None:
            tx["to"] = to
        try:
            return int(self.w3.eth.estimate_gas(tx))
        except ContractCustomError as exc:
            raise self.decoder.decode(exc.data) from None
        except ContractLogicError as exc:
            raise ContractRevertError("Revert", (str(exc),)) from None

    def submit(self, to: str | None, data: bytes, gas: int) -> str:
        tx: dict[str, Any] = {"from": self.account.address, "data": data, "gas": gas,
                              "value": 0, "nonce": self.sender.nonces.take(),
                              "chainId": self.sender.chain_id, **self.fees()}
        if to is not None:
            tx["to"] = to
        if self.node_signs:
            return "0x" + bytes(self.w3.eth.send_transaction(tx)).hex()
        signed = self.account.sign_transaction(tx)
        return self.sender.broadcast(SignedTransaction(
            bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex(), tx["nonce"],
            self.account.address))

    def send_all(self, to: str | None, calls: Iterable[tuple[bytes, int]]) -> list[Any]:
        """Send every (calldata, gas) pipelined; the receipts, in order."""
        if self.manual_mining:
            return self._send_all_mining(to, calls)
        pending: deque[str] = deque()
        receipts = []
        for data, gas in calls:
            if len(pending) >= self.window:
                receipts.append(self.sender.wait_receipt(pending.popleft()))
            pending.append(self.submit(to, data, gas))
        while pending:
            receipts.append(self.sender.wait_receipt(pending.popleft()))
        return receipts

    def _rpc(self, method: str, params: list) -> Any:
        reply = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in reply:
            raise ChainError(f"{method} failed: {reply['error']}")
        return reply.get("result")

    def _batch(self, requests: list[tuple[str, list]]) -> list[Any]:
        """One JSON-RPC batch (one HTTP round trip); every answer must be a result."""
        replies = self.w3.provider.make_batch_request(requests)  # type: ignore[arg-type]
        if not isinstance(replies, list):
            raise ChainError(f"{requests[0][0]} batch failed: {replies.get('error')}")
        errors = [reply["error"] for reply in replies if "error" in reply]
        if errors:
            raise ChainError(f"{requests[0][0]} failed for {len(errors)} of {len(requests)}: "
                             f"{errors[0]}")
        return [reply["result"] for reply in replies]

    def _send_all_mining(self, to: str | None, calls: Iterable[tuple[bytes, int]]) -> list[Any]:
        """anvil: automine off; `window` transactions at a time go into the pool in one
        JSON-RPC batch (explicit nonces, signed by the node), then blocks are mined on
        demand until the last one is in, each as full as the block gas limit allows, as
        on a real chain. (anvil's automine makes a block per transaction, slows down as
        the chain grows and, pipelined, can leave the last transactions pending for good.)
        Gas per transaction is the same either way: warm/cold access is per transaction."""
        receipts: list[Any] = []
        self._rpc("evm_setAutomine", [False])
        try:
            iterator = iter(calls)
            while chunk := list(itertools.islice(iterator, self.window)):
                fees = {k: hex(v) for k, v in self.fees().items()}
                # One gas limit for the whole chunk (the limit never changes gasUsed):
                # anvil 1.7.1 drops a pending transaction for good when its smaller limit
                # fits a block's remaining gas but that of its lower-nonce predecessor
                # does not (seen with the short last multiAttest batch).
                gas = max(limit for _, limit in chunk)
                txs = []
                for data, _ in chunk:
                    tx = {"from": self.account.address, "data": "0x" + data.hex(),
                          "gas": hex(gas), "value": "0x0",
                          "nonce": hex(self.sender.nonces.take()),
                          "chainId": hex(self.sender.chain_id), **fees}
                    if to is not None:
                        tx["to"] = to
                    txs.append(tx)
                hashes = []
                for part in _by_size(txs, BATCH_REQUEST_BYTES):
                    hashes += self._batch([("eth_sendTransaction", [tx]) for tx in part])
                deadline = time.monotonic() + self.sender.receipt_timeout
                while True:
                    raw = self._batch([("eth_getTransactionReceipt", [h]) for h in hashes])
                    if all(receipt is not None for receipt in raw):
                        break
                    pool = self._rpc("txpool_status", [])
                    if time.monotonic() > deadline:
                        missing = sum(receipt is None for receipt in raw)
                        raise ChainError(f"{missing} of {len(hashes)} transactions not mined",
                                         txpool=pool, first=hashes[raw.index(None)],
                                         index=raw.index(None),
                                         nonce=int(txs[raw.index(None)]["nonce"], 16))
                    if int(pool["pending"], 16):
                        self._rpc("evm_mine", [])
                    else:
                        time.sleep(self.sender.poll_interval)
                for tx_hash, receipt in zip(hashes, raw, strict=True):
                    if int(receipt["status"], 16) != 1:
                        self.sender.wait_receipt(tx_hash)  # raises the decoded revert
                    receipts.append(_receipt(receipt))
        finally:
            self._rpc("evm_setAutomine", [True])
        return receipts

    def transact(self, to: str | None, data: bytes) -> Any:
        return self.send_all(to, [(data, gas_limit(self.estimate(to, data)))])[0]


def _by_size(txs: list[dict], limit: int) -> Iterator[list[dict]]:
    """Consecutive runs of transactions whose calldata adds up to at most `limit` bytes."""
    part: list[dict] = []
    size = 0
    for tx in txs:
        if part and size + len(tx["data"]) // 2 > limit:
            yield part
            part, size = [], 0
        part.append(tx)
        size += len(tx["data"]) // 2
    if part:
        yield part


def _receipt(raw: dict) -> dict:
    """A JSON-RPC receipt with the fields used here decoded as web3 would."""
    return {"transactionHash": raw["transactionHash"], "status": int(raw["status"], 16),
            "gasUsed": int(raw["gasUsed"], 16), "blockNumber": int(raw["blockNumber"], 16),
            "contractAddress": to_checksum_address(raw["contractAddress"])
            if raw.get("contractAddress") else None,
            "logs": [{"address": to_checksum_address(entry["address"]),
                      "topics": [bytes.fromhex(t[2:]) for t in entry["topics"]],
                      "data": bytes.fromhex(entry["data"][2:])} for entry in raw["logs"]]}


# ------------------------------------------------------------------ chains


@dataclass
class Roles:
    deployer: LocalAccount
    governors: list[LocalAccount]
    issuer_admin: LocalAccount
    operator: LocalAccount
    attester: LocalAccount


@dataclass
class Chain:
    name: str
    w3: Web3
    roles: Roles
    node_signs: bool
    window: int
    poll_interval: float
    versions: dict[str, str] = field(default_factory=dict)
    manual_mining: bool = False


def _binary_version(args: list[str], marker: str) -> str:
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False).stdout
    return next((line.strip() for line in out.splitlines() if marker in line), out.strip())


@contextlib.contextmanager
def open_chain(name: str, rpc_url: str | None = None, clique_signers: int = 1) -> Iterator[Chain]:
    if name == "anvil":
        dev = {role: account_from_key(dev_private_key(i)) for role, i in ANVIL_ROLES.items()
               if role != "governors"}
        roles = Roles(governors=[account_from_key(dev_private_key(i))
                                 for i in ANVIL_ROLES["governors"]], **dev)
        version = _binary_version([str(anvil_binary()), "--version"], "Version")
        with tempfile.TemporaryDirectory(prefix="bench-eas-") as tmp:
            node = None if rpc_url else AnvilNode.start(workdir=Path(tmp),
                                                        extra_args=ANVIL_ARGS)
            try:
                w3 = connect(rpc_url or node.rpc_url)  # type: ignore[union-attr]
                yield Chain("anvil", w3, roles, node_signs=True, window=500,
                            poll_interval=0.002,
                            versions={"anvil": version + (f" ({' '.join(ANVIL_ARGS)})"
                                                          if node else "")},
                            manual_mining=True)
            finally:
                if node is not None:
                    node.stop()
    elif name == "clique":
        if rpc_url:
            raise ValueError("--chain clique starts its own network; rpc_url is for anvil")
        from anchor.services.geth import CliqueNetwork, geth_binary

        version = _binary_version([str(geth_binary()), "version"], "Version")
        with tempfile.TemporaryDirectory(prefix="bench-eas-clique-") as tmp:
            network = CliqueNetwork.start(Path(tmp) / "clique", signers=clique_signers)
            try:
                accounts = network.accounts
                roles = Roles(deployer=accounts[0], governors=list(accounts[1:4]),
                              issuer_admin=accounts[4], operator=accounts[5],
                              attester=accounts[6])
                w3 = connect(network.nodes[0].rpc_url)
                # geth keeps 5120 pending transactions; stay well below.
                yield Chain("clique", w3, roles, node_signs=False, window=1_000,
                            poll_interval=0.05,
                            versions={"geth": f"{version} (Clique, {clique_signers} signer(s), "
                                              f"period {network.period}s, London)"})
            finally:
                network.stop()
    else:
        raise ValueError(f"unknown chain {name!r}")


# ------------------------------------------------------------------ run parameters


@dataclass
class Params:
    sizes: tuple[int, ...]
    runs: int
    full_limit: int
    sample: int
    revocations: int
    revoke_many: int
    verify_checks: int
    seed: int
