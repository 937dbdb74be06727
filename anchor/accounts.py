"""Ethereum accounts for operators and governors: encrypted keystores, never plain keys on disk.

Keystores are the standard Web3 Secret Storage (v3, scrypt) JSON that geth, Foundry
and MetaMask import. Passwords come from the caller; nothing here logs or echoes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from anchor.errors import AnchorError
from anchor.files import write_private


class KeystoreError(AnchorError):
    code = "keystore-invalid"


class KeystorePasswordError(KeystoreError):
    code = "keystore-password-wrong"


# anvil's public development keys are fine on a dev chain (31337) and nowhere else.
DEV_CHAIN_IDS = frozenset({31337})


@dataclass(frozen=True)
class KeystoreFile:
    path: Path
    address: str


def create_keystore(path: Path, password: str, private_key: str | bytes | None = None,
                    *, overwrite: bool = False) -> KeystoreFile:
    """Write an encrypted keystore for `private_key` (or a new random key)."""
    if not password:
        raise KeystoreError("a keystore needs a non-empty password")
    if path.exists() and not overwrite:
        raise KeystoreError(f"{path} exists; refusing to overwrite a key")
    account = Account.from_key(private_key) if private_key is not None else Account.create()
    document = Account.encrypt(account.key, password)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(document).encode())
    return KeystoreFile(path, account.address)


def load_keystore(path: Path, password: str) -> LocalAccount:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        raise KeystoreError(f"cannot read keystore {path}") from None
    try:
        key = Account.decrypt(document, password)
    except ValueError:
        raise KeystorePasswordError(f"wrong password for keystore {path}") from None
    return Account.from_key(key)


def keystore_address(path: Path) -> str:
    """The address a keystore holds, without decrypting it."""
    try:
        return to_checksum_address(json.loads(path.read_text())["address"])
    except (OSError, ValueError, KeyError):
        raise KeystoreError(f"cannot read keystore {path}") from None
