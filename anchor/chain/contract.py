"""The contract's ABIs by version, the version probe, revert decoding and the node connection.
"""

from __future__ import annotations

import json

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    Web3RPCError,
)
from web3.middleware import ExtraDataToPOAMiddleware

from anchor.chain.records import CURRENT_VERSION
from anchor.compile import ARTIFACTS_DIR, load_artifact
from anchor.errors import ChainError, ContractRevertError

V1_ARTIFACT_PATH = ARTIFACTS_DIR / "CertificateRegistryV1.json"


def _abi_for(version: int) -> list[dict]:
    if version == CURRENT_VERSION:
        return load_artifact()["abi"]
    if version == 1:
        return json.loads(V1_ARTIFACT_PATH.read_text())["abi"]
    raise ChainError(f"registry contract version {version} is newer than this client",
                     version=version)


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


class RevertDecoder:
    """Turns revert data into the contract's custom error name and arguments."""

    def __init__(self, abi: list[dict]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for item in abi:
            if item["type"] != "error":
                continue
            types = [_abi_type(i) for i in item["inputs"]]
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            self._errors[selector] = (item["name"], types, [i["name"] for i in item["inputs"]])
        # OpenZeppelin Pausable's errors are in the ABI too; add Solidity's builtins.
        self._errors[keccak(text="Error(string)")[:4]] = ("Error", ["string"], ["message"])
        self._errors[keccak(text="Panic(uint256)")[:4]] = ("Panic", ["uint256"], ["code"])

    def decode(self, data: str | bytes | None) -> ContractRevertError:
        if isinstance(data, dict):  # some nodes nest the data
            data = data.get("data")
        raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else (data or b"")
        entry = self._errors.get(raw[:4])
        if entry is None:
            return ContractRevertError("UnknownRevert", (_hex(raw),))
        name, types, _ = entry
        args = tuple(abi_decode(types, raw[4:])) if types else ()
        return ContractRevertError(name, args)


def probe_version(w3: Web3, address: str) -> int:
    """2 when the contract at `address` answers `REGISTRY_VERSION()`, else 1 (it predates it)."""
    selector = keccak(text="REGISTRY_VERSION()")[:4]
    try:
        answer = bytes(w3.eth.call({"to": to_checksum_address(address), "data": _hex(selector)}))
    except (ContractLogicError, Web3RPCError, ValueError):
        return 1
    if len(answer) != 32:
        return 1
    return int.from_bytes(answer, "big")


def _abi_type(item: dict) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return item["type"]


def connect(rpc_url: str, *, timeout: float = 30.0) -> Web3:
    """A Web3 for `rpc_url`, with the proof-of-authority middleware when the chain needs it."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - fail fast with a clear error
    except Exception as exc:
        raise ChainError(f"cannot reach Ethereum node at {rpc_url}: {type(exc).__name__}",
                         rpc_url=rpc_url) from None
    try:
        w3.eth.get_block("latest")
    except Exception:
        # Clique (geth) blocks carry 97 bytes of extraData, which web3 rejects without this.
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3

def account_from_key(private_key: str | bytes) -> LocalAccount:
    return Account.from_key(private_key)
