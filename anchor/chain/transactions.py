"""Locally signed transactions: explicit nonces, idempotent broadcast, confirmed receipts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
)

from anchor.chain.contract import RevertDecoder, _hex
from anchor.errors import ChainError, ContractRevertError


@dataclass(frozen=True)
class SignedTransaction:
    """A transaction signed with a fixed nonce: re-broadcasting it can never make a second one."""

    raw: bytes
    transaction_hash: str
    nonce: int
    sender: str


@dataclass
class NonceManager:
    """Hands out consecutive nonces for one account without a round trip per transaction."""

    fetch: Callable[[], int]
    _next: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> int:
        with self._lock:
            if self._next is None:
                self._next = self.fetch()
            nonce = self._next
            self._next += 1
            return nonce

    def resync(self) -> None:
        with self._lock:
            self._next = None



class TransactionSender:
    """Signs locally with explicit nonces, broadcasts idempotently, waits for confirmations."""

    def __init__(self, w3: Web3, account: LocalAccount, revert_decoder: RevertDecoder, *,
                 confirmations: int = 1, receipt_timeout: float = 120.0,
                 poll_interval: float = 0.05) -> None:
        self.w3 = w3
        self.account = account
        self.chain_id = w3.eth.chain_id
        self.revert_decoder = revert_decoder
        self.confirmations = max(1, confirmations)
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self.nonces = NonceManager(lambda: w3.eth.get_transaction_count(account.address,
                                                                         "pending"))
        self._fees: dict[str, int] | None = None
        self._fees_at = 0.0

    def _fee_params(self) -> dict[str, int]:
        """EIP-1559 fees, refreshed at most once a second: two RPC round trips per
        transaction saved when pipelining, and the base fee cannot move faster than blocks."""
        now = time.monotonic()
        if self._fees is None or now - self._fees_at > 1.0:
            latest = self.w3.eth.get_block("latest")
            base_fee = latest.get("baseFeePerGas")
            if base_fee is None:  # a pre-London chain: legacy pricing
                self._fees = {"gasPrice": int(self.w3.eth.gas_price)}
            else:
                priority = int(self.w3.eth.max_priority_fee)
                self._fees = {"maxPriorityFeePerGas": priority,
                              "maxFeePerGas": 2 * int(base_fee) + priority}
            self._fees_at = now
        return self._fees

    def sign(self, call: Any) -> SignedTransaction:
        params = {"from": self.account.address, "chainId": self.chain_id, **self._fee_params()}
        try:
            tx = call.build_transaction(params)  # estimates gas: reverts surface here
        except ContractCustomError as exc:
            raise self.revert_decoder.decode(exc.data) from None
        except ContractLogicError as exc:
            raise ContractRevertError("Revert", (str(exc),)) from None
        tx["nonce"] = self.nonces.take()
        # Headroom: state may change between estimation and mining (e.g. a longer proof path).
        tx["gas"] = int(tx["gas"] * 1.2) + 10_000
        signed = self.account.sign_transaction(tx)
        return SignedTransaction(bytes(signed.raw_transaction), _hex(signed.hash), tx["nonce"],
                                 self.account.address)

    def broadcast(self, signed: SignedTransaction, attempts: int = 5) -> str:
        """Send a signed transaction; safe to repeat (same bytes, same hash)."""
        for attempt in range(attempts):
            try:
                self.w3.eth.send_raw_transaction(signed.raw)
                return signed.transaction_hash
            except Exception as exc:  # web3 raises Web3RPCError / requests errors
                text = str(exc).lower()
                if "already known" in text or "already imported" in text:
                    return signed.transaction_hash
                if "nonce too low" in text or "nonce is too low" in text:
                    # Mined already (ours), or the nonce was used by another transaction.
                    if self.receipt_or_none(signed.transaction_hash) is not None:
                        return signed.transaction_hash
                    self.nonces.resync()
                    raise ChainError("nonce already used by another transaction",
                                     nonce=signed.nonce) from None
                if attempt == attempts - 1 or not _transient(exc):
                    raise ChainError(f"could not send transaction: {type(exc).__name__}: {exc}",
                                     transaction_hash=signed.transaction_hash) from None
                time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    def receipt_or_none(self, tx_hash: str) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def wait_receipt(self, tx_hash: str) -> Any:
        """The receipt once it has `confirmations` blocks on top; reverts raise decoded."""
        deadline = time.monotonic() + self.receipt_timeout
        while True:
            receipt = self.receipt_or_none(tx_hash)
            if receipt is not None:
                if receipt["status"] != 1:
                    raise self._revert_reason(receipt)
                if self.confirmations == 1:
                    return receipt
                if self.w3.eth.block_number - receipt["blockNumber"] + 1 >= self.confirmations:
                    # Re-read: a reorg may have moved or dropped it while we waited.
                    final = self.receipt_or_none(tx_hash)
                    if final is not None and final["blockHash"] == receipt["blockHash"]:
                        return final
                    continue
            if time.monotonic() > deadline:
                raise ChainError(f"transaction {tx_hash} not confirmed within "
                                 f"{self.receipt_timeout:.0f}s", transaction_hash=tx_hash)
            time.sleep(self.poll_interval)

    def _revert_reason(self, receipt: Any) -> ContractRevertError:
        tx = self.w3.eth.get_transaction(receipt["transactionHash"])
        call = {k: tx[k] for k in ("from", "to", "data", "value") if tx.get(k) is not None}
        try:
            self.w3.eth.call(call, receipt["blockNumber"] - 1)
        except ContractCustomError as exc:
            return self.revert_decoder.decode(exc.data)
        except ContractLogicError as exc:
            return ContractRevertError("Revert", (str(exc),))
        return ContractRevertError("Revert", (), "transaction reverted (out of gas?)")


def _transient(exc: Exception) -> bool:
    name = type(exc).__name__
    return any(word in name for word in ("Timeout", "Connection", "HTTPError")) or isinstance(
        exc, (TimeoutError, ConnectionError, TimeExhausted))
