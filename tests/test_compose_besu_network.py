"""deploy/besu/init_network.py, the `besu-init` job of docker-compose.yml: the QBFT
genesis, keys and allowlists it writes must fit together, or the validators would
not seal, not peer, or let the wrong accounts transact."""

from __future__ import annotations

import importlib.util
import json
import stat
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
import rlp
from eth_keys import keys
from eth_utils import to_checksum_address

REPO_ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = ["0x" + "ab" * 20, "0x" + "01" * 20]


@pytest.fixture(scope="module")
def init_network() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "besu_init_network", REPO_ROOT / "deploy" / "besu" / "init_network.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compose_besu_network_files_fit_together(init_network: ModuleType,
                                                 tmp_path: Path) -> None:
    accounts = init_network.parse_accounts(",".join(ACCOUNTS))
    summary = init_network.generate_network(tmp_path, chain_id=1338, accounts=accounts)
    genesis = json.loads((tmp_path / "genesis.json").read_text())
    node_keys = [keys.PrivateKey(bytes.fromhex(
        (tmp_path / f"validator{n}" / "key").read_text().removeprefix("0x"))) for n in (1, 2, 3, 4)]
    addresses = [k.public_key.to_checksum_address() for k in node_keys]
    assert len(set(addresses)) == 4 and summary["validators"] == addresses

    # extraData: RLP([vanity, validators, vote, round, seals]) naming exactly our keys.
    vanity, validators, vote, round_, seals = rlp.decode(
        bytes.fromhex(genesis["extraData"][2:]))
    assert vanity == b"\x00" * 32 and vote == [] and round_ == b"" and seals == []
    assert [to_checksum_address(v) for v in validators] == addresses

    config = genesis["config"]
    assert config["chainId"] == 1338 and "qbft" in config
    assert config["londonBlock"] == 0  # EIP-1559 fees, as on our geth network ...
    assert not any(k.startswith("shanghai") for k in config)  # ... but the contract is paris
    assert {to_checksum_address(a) for a in genesis["alloc"]} == set(accounts)

    # Every validator peers with every other, and only those are allowed to connect.
    static_nodes = json.loads((tmp_path / "static-nodes.json").read_text())
    permissions = tomllib.loads((tmp_path / "permissions_config.toml").read_text())
    assert permissions["nodes-allowlist"] == static_nodes
    for n, (enode, key) in enumerate(zip(static_nodes, node_keys, strict=True), start=1):
        assert enode == f"enode://{key.public_key.to_hex()[2:]}@validator{n}:30303"
    assert permissions["accounts-allowlist"] == accounts

    for n in (1, 2, 3, 4):
        mode = (tmp_path / f"validator{n}" / "key").stat().st_mode
        assert stat.S_IMODE(mode) == 0o600
    assert not any(k.to_hex()[2:] in (tmp_path / "network.json").read_text() for k in node_keys)

    # The paths the validators' config reads are the files this job writes.
    besu_config = tomllib.loads((REPO_ROOT / "deploy/besu/config.toml").read_text())
    for option in ("genesis-file", "static-nodes-file", "permissions-nodes-config-file",
                   "permissions-accounts-config-file"):
        assert (tmp_path / Path(besu_config[option]).relative_to("/network")).is_file()


def test_compose_besu_rerun_keeps_chain_and_refreshes_allowlist(init_network: ModuleType,
                                                                tmp_path: Path) -> None:
    first = init_network.generate_network(tmp_path, chain_id=1338, accounts=ACCOUNTS[:1])
    genesis = (tmp_path / "genesis.json").read_text()
    second = init_network.generate_network(tmp_path, chain_id=999, accounts=ACCOUNTS)
    # Same keys and genesis: a regenerated genesis would silently start a new chain.
    assert second["validators"] == first["validators"]
    assert (tmp_path / "genesis.json").read_text() == genesis
    assert second["chain_id"] == 1338
    permissions = tomllib.loads((tmp_path / "permissions_config.toml").read_text())
    assert permissions["accounts-allowlist"] == ACCOUNTS


def test_compose_besu_init_refuses_unusable_settings(init_network: ModuleType,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(init_network.NetworkConfigError, match="empty"):
        init_network.parse_accounts(" , ")
    with pytest.raises(init_network.NetworkConfigError, match="not Ethereum addresses"):
        init_network.parse_accounts("0x1234,changeme")
    with pytest.raises(init_network.NetworkConfigError, match="at least 4"):
        init_network.generate_network(tmp_path, chain_id=1338, accounts=ACCOUNTS, validators=3)
    monkeypatch.setenv("BESU_ACCOUNTS_ALLOWLIST", "")
    assert init_network.main([str(tmp_path / "net")]) == 1
    assert not (tmp_path / "net" / "genesis.json").exists()
