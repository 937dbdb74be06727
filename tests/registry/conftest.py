"""Fixtures for issuance, indexing, receipts and the issue CLI: a fresh registry contract
per test on the session's anvil, real embedded stores, SQLite under tmp_path, DCCs made
from the shared corpus examples, and a test signing identity."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from anchor.services.anvil import AnvilNode
from registry.documents.keys import SigningIdentityFiles, generate_test_signing_identity
from registry.issuance import Issuer
from registry.settings import Settings, load_settings
from tests.anchor.registry_fixtures import RegistryWorld, deploy_world

SIGNING_PASSWORD = "correct horse battery staple"
# Small, schema-valid examples (14-16 KB) of two DCC versions: cheap to sign many times.
SMALL_EXAMPLES = ("ptb_singleweight_v3.0.0.xml", "ptb_vacuumlab_SRG_v3.1.1.xml")
_UNIQUE_IDENTIFIER = re.compile(rb"(<dcc:uniqueIdentifier>)([^<]*)(</dcc:uniqueIdentifier>)")

MakeDccs = Callable[..., list[Path]]


def vary_unique_identifier(template: bytes, identifier: str) -> bytes:
    """The same certificate under another uniqueIdentifier: a distinct, valid DCC."""
    varied, count = _UNIQUE_IDENTIFIER.subn(
        lambda m: m.group(1) + identifier.encode() + m.group(3), template, count=1)
    assert count == 1
    return varied


@pytest.fixture(scope="session")
def make_dccs(shared_dcc: Path) -> MakeDccs:
    """Write `n` distinct DCCs into `directory` (names and identifiers from `prefix`)."""
    templates = [(shared_dcc / "examples" / name).read_bytes() for name in SMALL_EXAMPLES]

    def make(directory: Path, n: int, prefix: str = "CERT") -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for i in range(n):
            path = directory / f"{prefix.lower()}-{i:05d}.xml"
            path.write_bytes(vary_unique_identifier(templates[i % len(templates)],
                                                    f"{prefix}-{i:05d}"))
            paths.append(path)
        return paths

    return make


@pytest.fixture(scope="session")
def signing_files(tmp_path_factory: pytest.TempPathFactory) -> SigningIdentityFiles:
    return generate_test_signing_identity("PTB test signer", "PTB", "DE",
                                          tmp_path_factory.mktemp("signing"), SIGNING_PASSWORD)


@pytest.fixture
def world(anvil: AnvilNode) -> RegistryWorld:
    """A fresh registry (own contract): PTB's operator is anvil account 5, the account
    `registry.context` uses on a dev chain."""
    return deploy_world(anvil)


# scripts/test.sh runs the database-backed tests a second time with this set to
# "postgresql": each test then gets its own database on a real PostgreSQL cluster.
TEST_DATABASE = os.environ.get("CERTREG_TEST_DATABASE", "sqlite")


@pytest.fixture
def issuer_env(world: RegistryWorld, tmp_path: Path, signing_files: SigningIdentityFiles,
               request: pytest.FixtureRequest) -> dict[str, str]:
    """CERTREG_* settings for this test's registry, data under tmp_path/data."""
    database = ({"CERTREG_DATABASE_URL": request.getfixturevalue("postgres_database_url")}
                if TEST_DATABASE == "postgresql" else {})
    return database | {
        "CERTREG_DATA_DIR": str(tmp_path / "data"),
        "CERTREG_RPC_URL": world.anvil.rpc_url,
        "CERTREG_CONTRACT_ADDRESS": world.deployer.address,
        "CERTREG_DEPLOYMENT_BLOCK": str(world.deployer.deployment_block),
        "CERTREG_SIGNING_KEY": str(signing_files.private_key_pem),
        "CERTREG_SIGNING_CERTIFICATE": str(signing_files.certificate_pem),
        "CERTREG_SIGNING_PASSWORD": SIGNING_PASSWORD,
    }


@pytest.fixture
def settings(issuer_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in issuer_env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.fixture
def issuer(settings: Settings) -> Issuer:
    return Issuer.from_settings(settings)
