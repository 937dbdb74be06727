"""Federation: two national registries, each with its own database and Kubo node, both
indexing the same chain. A certificate issued at A is found, fetched over IPFS and
verified at B; a revocation made at A is seen at B once it has the confirmations."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from anchor.chain import RevocationReason
from anchor.services.kubo import KuboNode
from registry.api.app import create_app
from registry.context import content_store, registry_client
from registry.db import open_database
from registry.index.indexer import Indexer
from registry.issuance import Issuer
from registry.settings import Settings, load_settings
from tests.anchor.registry_fixtures import RegistryWorld
from tests.registry.conftest import MakeDccs

CONFIRMATIONS = 3


@pytest.fixture
def registries(issuer_env: dict[str, str], world: RegistryWorld, kubo_factory,
               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Settings]:
    node_a: KuboNode = kubo_factory("federation-a")
    node_b: KuboNode = kubo_factory("federation-b")
    node_b.connect_to(node_a)
    for name, value in issuer_env.items():
        monkeypatch.setenv(name, value)
    # A issues (automining anvil: one confirmation, or its transactions would wait for
    # blocks nobody mines); B, another institute's registry with its own store and no
    # keys, only counts what has CONFIRMATIONS blocks on top.
    settings_a = load_settings(data_dir=tmp_path / "registry-a",
                               ipfs_api=node_a.api_multiaddr)
    settings_b = load_settings(
        data_dir=tmp_path / "registry-b", ipfs_api=node_b.api_multiaddr,
        confirmations=CONFIRMATIONS,
        database_url=f"sqlite:///{tmp_path / 'registry-b' / 'certreg.db'}")
    return settings_a, settings_b


def follow(settings: Settings) -> None:
    """What `certreg index --follow` does on each tick, once."""
    Indexer(registry_client(settings), open_database(settings.effective_database_url),
            content_store(settings), settings.confirmations).catch_up()


def test_federation_certificate_issued_at_a_is_found_fetched_and_verified_at_b(
        registries: tuple[Settings, Settings], make_dccs: MakeDccs, world: RegistryWorld,
        tmp_path: Path) -> None:
    settings_a, settings_b = registries
    issuer_a = Issuer.from_settings(settings_a)
    paths = make_dccs(tmp_path / "in", 2, "FED")
    report = issuer_a.run(paths, batch_size=10)
    sha256 = report.submissions[0].sha256
    world.anvil.mine(CONFIRMATIONS)

    follow(settings_b)
    registry_b = TestClient(create_app(settings_b))
    found = registry_b.get(f"/v1/certificates/{sha256}")
    assert found.status_code == 200
    document = registry_b.get(f"/v1/certificates/{sha256}/document")
    assert document.status_code == 200
    # B had never seen these bytes: they came over IPFS from A's node.
    verdict = registry_b.post("/v1/verify", content=document.content,
                              headers={"Content-Type": "application/xml"}).json()
    assert verdict["verdict"] == "valid" and verdict["issuer"]["code"] == "PTB"
    hits = registry_b.get("/v1/search", params={"number": "FED-00001"}).json()
    assert [item["sha256"] for item in hits["items"]] == ["0x" + report.submissions[1].sha256]

    # A revokes; B sees it once the revocation has CONFIRMATIONS blocks, not before.
    issuer_a.revoke(sha256, RevocationReason.WITHDRAWN)
    follow(settings_b)
    assert registry_b.get("/v1/revocations").json()["items"] == []
    world.anvil.mine(CONFIRMATIONS)
    follow(settings_b)
    feed = registry_b.get("/v1/revocations").json()["items"]
    assert [item["document_sha256"] for item in feed] == ["0x" + sha256]
    assert registry_b.get(f"/v1/verify/{sha256}").json()["verdict"] == "revoked"
