"""Generate the permissioned QBFT network for docker-compose.yml (run once, by `besu-init`).

Writes into the shared `besu-network` volume, never into the repository:

- `validatorN/key`: each validator's node key (secp256k1), 0600, owned by Besu's user;
- `genesis.json`: QBFT, London at block 0 and no Shanghai (the registry contract is
  compiled for `paris`), validators in extraData, the allowlisted accounts funded;
- `static-nodes.json`: every validator's enode by compose service name (needs Besu's
  `--Xdns-enabled`), so the validators peer without discovery;
- `permissions_config.toml`: the node allowlist (exactly the validators) and the
  account allowlist (only these accounts may send transactions).

Keys and genesis are generated once and kept (a new genesis would be a new chain); the
allowlists are rewritten on every run so a changed BESU_ACCOUNTS_ALLOWLIST takes effect
on the validators' next restart. Nothing secret is printed.

Environment: NETWORK_CHAIN_ID, BESU_VALIDATORS (4), BESU_ACCOUNTS_ALLOWLIST (comma-
separated addresses), BESU_UID (1000, the `besu` user of the official image).
Usage: python init_network.py OUT_DIR [DATA_DIR ...]  (data dirs are chowned to BESU_UID)
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import rlp
from eth_keys import keys
from eth_utils import is_address, to_checksum_address

P2P_PORT = 30303
# 10^6 ether per allowlisted account: gas on a private chain, worth nothing elsewhere.
ACCOUNT_BALANCE_WEI = 10**24
QBFT_BLOCK_PERIOD_SECONDS = 2
QBFT_REQUEST_TIMEOUT_SECONDS = 4
VALIDATOR_HOST = "validator{n}"


class NetworkConfigError(ValueError):
    """The environment describes a network we cannot build."""


def parse_accounts(text: str) -> list[str]:
    accounts = [a.strip() for a in text.split(",") if a.strip()]
    if not accounts:
        raise NetworkConfigError("BESU_ACCOUNTS_ALLOWLIST is empty: no account could transact")
    bad = [a for a in accounts if not is_address(a)]
    if bad:
        raise NetworkConfigError(f"not Ethereum addresses in BESU_ACCOUNTS_ALLOWLIST: {bad}")
    return sorted({to_checksum_address(a) for a in accounts}, key=str.lower)


def qbft_extra_data(validators: list[str]) -> str:
    """RLP([32-byte vanity, [validators], no vote, round 0, no seals]) as Besu expects."""
    encoded = rlp.encode([b"\x00" * 32, [bytes.fromhex(v[2:]) for v in validators], [], b"",
                          []])
    return "0x" + encoded.hex()


def qbft_genesis(chain_id: int, validators: list[str], accounts: list[str]) -> dict:
    forks = ("homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock",
             "constantinopleBlock", "petersburgBlock", "istanbulBlock", "muirGlacierBlock",
             "berlinBlock", "londonBlock")
    return {
        "config": {"chainId": chain_id, **dict.fromkeys(forks, 0),
                   "qbft": {"blockperiodseconds": QBFT_BLOCK_PERIOD_SECONDS,
                            "epochlength": 30000,
                            "requesttimeoutseconds": QBFT_REQUEST_TIMEOUT_SECONDS}},
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": hex(30_000_000),
        "difficulty": "0x1",
        # QBFT's fixed mixHash ("istanbul byzantine fault tolerance" digest).
        "mixHash": "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365",
        "coinbase": "0x" + "00" * 20,
        "extraData": qbft_extra_data(validators),
        "alloc": {a[2:].lower(): {"balance": hex(ACCOUNT_BALANCE_WEI)} for a in accounts},
    }


def enode(private_key: keys.PrivateKey, host: str, port: int = P2P_PORT) -> str:
    return f"enode://{private_key.public_key.to_hex()[2:]}@{host}:{port}"


def _write_private(path: Path, text: str, owner_uid: int | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    if owner_uid is not None:
        os.chown(path, owner_uid, owner_uid)


def _load_or_create_key(directory: Path, owner_uid: int | None) -> keys.PrivateKey:
    key_path = directory / "key"
    if key_path.exists():
        return keys.PrivateKey(bytes.fromhex(key_path.read_text().strip().removeprefix("0x")))
    directory.mkdir(parents=True, exist_ok=True)
    if owner_uid is not None:
        os.chown(directory, owner_uid, owner_uid)
    key = keys.PrivateKey(secrets.token_bytes(32))
    _write_private(key_path, key.to_hex(), owner_uid)
    return key


def generate_network(out_dir: Path, *, chain_id: int, accounts: list[str],
                     validators: int = 4, owner_uid: int | None = None) -> dict:
    """Create (or complete) the network files in `out_dir`; returns the public summary."""
    if validators < 4:
        # QBFT tolerates f faulty validators out of 3f+1: fewer than 4 tolerates none.
        raise NetworkConfigError("a QBFT network needs at least 4 validators to survive one")
    out_dir.mkdir(parents=True, exist_ok=True)
    node_keys = [_load_or_create_key(out_dir / f"validator{n}", owner_uid)
                 for n in range(1, validators + 1)]
    addresses = [key.public_key.to_checksum_address() for key in node_keys]
    genesis_path = out_dir / "genesis.json"
    if not genesis_path.exists():
        genesis_path.write_text(json.dumps(qbft_genesis(chain_id, addresses, accounts),
                                           indent=2))
    enodes = [enode(key, VALIDATOR_HOST.format(n=n)) for n, key in enumerate(node_keys, 1)]
    (out_dir / "static-nodes.json").write_text(json.dumps(enodes, indent=2))
    (out_dir / "permissions_config.toml").write_text(
        "# Written by deploy/besu/init_network.py; regenerated on every `besu-init` run.\n"
        f"nodes-allowlist={json.dumps(enodes)}\n"
        f"accounts-allowlist={json.dumps(accounts)}\n")
    summary = {"chain_id": json.loads(genesis_path.read_text())["config"]["chainId"],
               "validators": addresses, "enodes": enodes, "accounts_allowlist": accounts}
    (out_dir / "network.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        accounts = parse_accounts(os.environ.get("BESU_ACCOUNTS_ALLOWLIST", ""))
        chain_id = int(os.environ.get("NETWORK_CHAIN_ID", "1338"))
        validators = int(os.environ.get("BESU_VALIDATORS", "4"))
        owner_uid = int(os.environ.get("BESU_UID", "1000")) if os.geteuid() == 0 else None
        summary = generate_network(Path(argv[0]), chain_id=chain_id, accounts=accounts,
                                   validators=validators, owner_uid=owner_uid)
    except (NetworkConfigError, ValueError) as exc:
        print(f"besu-init: {exc}", file=sys.stderr)
        return 1
    for data_dir in map(Path, argv[1:]):
        data_dir.mkdir(parents=True, exist_ok=True)
        if owner_uid is not None:
            os.chown(data_dir, owner_uid, owner_uid)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
