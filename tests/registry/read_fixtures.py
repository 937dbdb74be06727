"""A registry with history, for the read-side API tests (lookup, search, issuers,
revocations, audit): a fresh contract on the session's anvil, real embedded store, a real
database (SQLite or PostgreSQL), and the app over them through FastAPI's TestClient.

Issued by PTB (anvil account 5): six public DCCs in two batches, one encrypted DCC, one
PDF verification certificate with issuer metadata; DCC 1 superseded by a corrected
certificate, DCC 2 withdrawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from anchor.chain import RevocationReason
from anchor.encryption import DocumentKey
from registry.api.app import create_app
from registry.documents.keys import SigningIdentityFiles
from registry.issuance import DocumentSource, Issuer, SubmissionResult
from registry.settings import Settings
from tests.anchor.registry_fixtures import RegistryWorld, deploy_world
from tests.registry.conftest import SIGNING_PASSWORD, MakeDccs, vary_unique_identifier

PDF_METADATA = {"identifier": "VC-2024-17", "issuer": "PTB", "issue_date": "2024-03-01",
                "serial_number": "SN-4711", "manufacturer": "Acme Scales", "model": "AS-300",
                "calibration_date": "2024-02-20"}
PDF_BYTES = b"%PDF-1.4\n% verification certificate VC-2024-17\n%%EOF\n"


@dataclass
class ReadWorld:
    world: RegistryWorld
    settings: Settings
    issuer: Issuer
    client: TestClient
    public: list[SubmissionResult]  # DCCs READ-00000..00005, in order
    encrypted: SubmissionResult
    pdf: SubmissionResult
    corrected: SubmissionResult  # supersedes public[1]

    @property
    def key(self) -> DocumentKey:
        assert self.encrypted.key is not None
        return self.encrypted.key


def read_settings(world: RegistryWorld, data_dir: Path, signing: SigningIdentityFiles,
                  database_url: str | None = None) -> Settings:
    return Settings(data_dir=data_dir, rpc_url=world.anvil.rpc_url,
                    contract_address=world.deployer.address,
                    deployment_block=world.deployer.deployment_block,
                    database_url=database_url, signing_key=signing.private_key_pem,
                    signing_certificate=signing.certificate_pem,
                    signing_password=SIGNING_PASSWORD,
                    # Tests fire requests faster than a public client may.
                    rate_limit_per_second=0)


def build_read_world(world: RegistryWorld, data_dir: Path, signing: SigningIdentityFiles,
                     make_dccs: MakeDccs, database_url: str | None = None) -> ReadWorld:
    settings = read_settings(world, data_dir, signing, database_url)
    issuer = Issuer.from_settings(settings)
    paths = make_dccs(data_dir.parent / "in", 6, "READ")
    public = list(issuer.run(paths, batch_size=4).submissions)
    secret = make_dccs(data_dir.parent / "secret", 1, "SECRET")
    (encrypted,) = issuer.run(secret, encrypt=True).submissions
    (pdf,) = issuer.run([DocumentSource("vc.pdf", PDF_BYTES)], "verification-certificate",
                        issuer_metadata=PDF_METADATA).submissions
    corrected_path = data_dir.parent / "read-00001-r1.xml"
    corrected_path.write_bytes(vary_unique_identifier(paths[1].read_bytes(), "READ-00001-R1"))
    assert public[1].sha256 is not None and public[2].sha256 is not None
    supersession = issuer.supersede(public[1].sha256, DocumentSource.from_path(corrected_path))
    issuer.revoke(public[2].sha256, RevocationReason.WITHDRAWN)
    client = TestClient(create_app(settings))
    return ReadWorld(world, settings, issuer, client, public, encrypted, pdf, supersession.new)


@pytest.fixture(name="database_url", scope="module", params=["sqlite", "postgresql"])
def database_url_fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str | None]:
    """None (SQLite under the data directory) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    cluster = request.getfixturevalue("postgres_cluster")
    import uuid

    database = cluster.create_database(f"read_{uuid.uuid4().hex[:16]}")
    yield database.url
    cluster.drop_database(database)


@pytest.fixture(name="read_world", scope="module")
def read_world_fixture(anvil, database_url: str | None, signing_files: SigningIdentityFiles,
               make_dccs: MakeDccs, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[ReadWorld]:
    built = build_read_world(deploy_world(anvil), tmp_path_factory.mktemp("read") / "data",
                             signing_files, make_dccs, database_url)
    with built.client:
        yield built


def hex0x(sha256: str | None) -> str:
    assert sha256 is not None
    return "0x" + sha256
