"""Long-term validity through the registry, on real anvil chains: traced certificates
(NMI <- reference lab <- working standard <- instrument, citing each other by hash),
revoked, superseded and compromised ones are renewed, then migrated to a new contract on
another chain. With the old chain gone, a registry indexing only the new contract gives
every verdict unchanged (traceability and cascade included) through verify_certificate
and the API, rebuilds it all on reindex, and serves each certificate's evidence record
from chain + IPFS, checkable with nothing but the new chain's RPC endpoint."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from anchor.chain import RevocationReason
from anchor.evidence import EvidenceRecord, verify_evidence_record
from anchor.receipt import Verdict
from anchor.services.anvil import AnvilNode
from registry.bundle import TraceBundle, build_trace_bundle, verify_trace_bundle
from registry.context import content_store, registry_client
from registry.db import open_database
from registry.db.models import ChainDocument
from registry.documents.keys import SigningIdentityFiles
from registry.index.indexer import Indexer
from registry.renewal import EvidenceDirectory, export_from_projection, import_export, renew_batches
from registry.settings import Settings, load_settings
from registry.verdicts import FastVerifier, render_verdict
from tests.anchor.registry_fixtures import LAB, PTB, RegistryWorld, account, deploy_world
from tests.registry.api_support import api_client
from tests.registry.conftest import SIGNING_PASSWORD, TEST_DATABASE
from tests.registry.trust_fixtures import TrustChain

DAY = dt.timedelta(days=1)


@pytest.fixture
def chains(tmp_path: Path) -> Iterator[tuple[AnvilNode, AnvilNode]]:
    """Two private chains (old, new): the old one is stopped mid-test."""
    old = AnvilNode.start(workdir=tmp_path / "old-chain", chain_id=31338)
    new = AnvilNode.start(workdir=tmp_path / "new-chain")
    try:
        yield old, new
    finally:
        old.stop()
        new.stop()


def registry_settings(world: RegistryWorld, data_dir: Path, signing: SigningIdentityFiles,
                      monkeypatch: pytest.MonkeyPatch, database_url: str | None) -> Settings:
    env = {"CERTREG_DATA_DIR": str(data_dir), "CERTREG_RPC_URL": world.anvil.rpc_url,
           "CERTREG_CONTRACT_ADDRESS": world.deployer.address,
           "CERTREG_DEPLOYMENT_BLOCK": str(world.deployer.deployment_block),
           "CERTREG_SIGNING_KEY": str(signing.private_key_pem),
           "CERTREG_SIGNING_CERTIFICATE": str(signing.certificate_pem),
           "CERTREG_SIGNING_PASSWORD": SIGNING_PASSWORD}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if database_url is None:
        monkeypatch.delenv("CERTREG_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("CERTREG_DATABASE_URL", database_url)
    return load_settings()


def indexer_of(settings: Settings) -> Indexer:
    return Indexer(registry_client(settings), open_database(settings.effective_database_url),
                   content_store(settings), settings.confirmations)


def summary(verdict: dict[str, Any]) -> tuple:
    """Everything a verdict says but where and when the anchoring was (batch, block,
    transaction, proof, revocation transaction time: they are the new contract's)."""
    revocation = verdict["revocation"]
    trace = verdict["traceability"]
    return (verdict["verdict"],
            tuple((c["name"], c["status"]) for c in verdict["checks"]),
            None if revocation is None else (revocation["reason"], revocation["effective_from"],
                                             revocation["replacement"]),
            None if trace is None else (trace["status"], trace["compromised"],
                                        trace["certificates"], trace["links"],
                                        None if trace["first_problem"] is None else (
                                            trace["first_problem"].get("problem"),
                                            trace["first_problem"].get("sha256"))),
            verdict["accreditation_scope"] and verdict["accreditation_scope"]["status"],
            verdict["issuer"]["code"] if verdict["issuer"] else None)


def verdicts(settings: Settings, hashes: dict[str, str]) -> dict[str, tuple]:
    """Each certificate's verdict by the library's verify_certificate (uncached path) and
    by the API (cached and fresh): all three agree, and this is it."""
    indexer = indexer_of(settings)
    indexer.catch_up()
    verifier = FastVerifier(indexer.sessions, indexer.client, indexer.store)
    client = api_client(settings)
    found = {}
    for name, sha256 in hashes.items():
        library = json.loads(render_verdict(verifier.verify_fresh(sha256, None)).stable_json)
        cached = client.get(f"/v1/verify/{sha256}")
        fresh = client.get(f"/v1/verify/{sha256}", params={"fresh": "true"})
        assert cached.status_code == fresh.status_code == 200, cached.text
        found[name] = summary(library)
        assert summary(cached.json()) == summary(fresh.json()) == found[name], name
    return found


def test_migration_keeps_every_registry_verdict_of_traced_certificates(
        chains: tuple[AnvilNode, AnvilNode], signing_files: SigningIdentityFiles,
        shared_dcc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    old_node, new_node = chains
    data_dir = tmp_path / "data"  # the content store (IPFS) outlives the old chain
    old_world = deploy_world(old_node)
    old_settings = registry_settings(
        old_world, data_dir, signing_files, monkeypatch,
        request.getfixturevalue("postgres_database_url") if TEST_DATABASE == "postgresql"
        else f"sqlite:///{tmp_path / 'old.db'}")
    chain = TrustChain(old_world, old_settings, shared_dcc, tmp_path / "old-keys")
    (tmp_path / "old-keys").mkdir()
    sound = chain.four_levels("SOUND")
    cut = chain.four_levels("CUT")
    day = chain.today
    withdrawn = chain.issue(PTB, "WITHDRAWN", day)
    superseded = chain.issue(LAB, "SUPERSEDED", day)
    successor = chain.issue(LAB, "SUCCESSOR", day)
    # The cascade: CUT's NMI standard compromised since yesterday, so every certificate
    # calibrated against it since is traceability-compromised.
    chain.issuer(PTB).revoke(cut["nmi"], RevocationReason.COMPROMISED,
                             effective_from=int(dt.datetime.combine(
                                 day - DAY, dt.time(), dt.UTC).timestamp()))
    chain.issuer(PTB).revoke(withdrawn, RevocationReason.WITHDRAWN)
    chain.issuer(LAB).revoke(superseded, RevocationReason.SUPERSEDED, successor)
    hashes = {**{f"sound-{k}": v for k, v in sound.items()},
              **{f"cut-{k}": v for k, v in cut.items()},
              "withdrawn": withdrawn, "superseded": superseded, "successor": successor}

    # A hash-tree renewal of everything on the old chain first: the migration then
    # carries evidence with both kinds of renewal.
    old_indexer = indexer_of(old_settings)
    old_indexer.catch_up()
    directory = EvidenceDirectory(data_dir / "evidence")
    renewal = renew_batches(old_indexer.sessions, old_world.ptb_operator, old_indexer.store,
                            directory, None)
    assert len(renewal.records) == len(hashes) and not renewal.skipped
    before = verdicts(old_settings, hashes)
    assert {name: v[0] for name, v in before.items()} == {
        **{f"sound-{k}": "valid" for k in sound},
        "cut-nmi": "revoked", "cut-ref": "traceability-compromised",
        "cut-work": "traceability-compromised", "cut-customer": "traceability-compromised",
        "withdrawn": "revoked", "superseded": "revoked", "successor": "valid"}
    old_api = api_client(old_settings)
    renewed = old_api.get(f"/v1/certificates/{sound['work']}").json()["evidence"]
    assert [(r["kind"], r["algorithm"]) for r in renewed["renewals"]] == [
        ("hash-tree", "sha3-256")]
    assert renewed["document_algorithm"] == "sha3-256"
    export = export_from_projection(old_indexer.sessions, old_indexer.client, directory)
    assert len(export.records) == len(hashes) and len(export.revocations) == 3
    assert all(len(r.renewals) == 1 for r in export.records)
    old_node.stop()  # the old chain is gone

    new_world = deploy_world(new_node)
    new_settings = registry_settings(new_world, data_dir, signing_files, monkeypatch,
                                     f"sqlite:///{tmp_path / 'new.db'}")
    TrustChain(new_world, new_settings, shared_dcc, tmp_path)  # registers WSL there too
    store = content_store(new_settings)
    for operator in (new_world.ptb_operator, new_world.lab_operator,
                     new_world.deployer.as_account(account(8))):  # WSL's operator
        import_export(operator, export, store=store)

    after = verdicts(new_settings, hashes)
    assert after == before
    new_indexer = indexer_of(new_settings)
    new_indexer.rebuild()  # `certreg reindex`: the projection is the chain's + IPFS's
    assert verdicts(new_settings, hashes) == before

    # Each certificate's evidence record, from the new registry's projection alone,
    # verifies with the new chain's endpoint only, and agrees with the registry.
    api = api_client(new_settings)
    for name, sha256 in hashes.items():
        response = api.get(f"/v1/certificates/{sha256}/evidence")
        assert response.status_code == 200, response.text
        record = EvidenceRecord.from_json(response.content)
        assert [r.kind for r in record.renewals] == ["hash-tree", "migration"]
        result = verify_evidence_record(record, None, new_node.rpc_url)
        revoked = before[name][0] == "revoked"
        assert result.verdict is (Verdict.REVOKED if revoked else Verdict.VALID), name
        certificate = api.get(f"/v1/certificates/{sha256}").json()
        assert [r["kind"] for r in certificate["evidence"]["renewals"]] == [
            "hash-tree", "migration"]
        checked = api.post("/v1/evidence/verify", json=record.to_dict()).json()
        assert checked["verdict"] == result.verdict.value
    # Trace bundles carry the records, checked with the new chain alone: the same trace.
    for name, compromised in (("sound-customer", False), ("cut-customer", True)):
        bundle = build_trace_bundle(new_indexer.sessions, new_indexer.client,
                                    new_indexer.store, hashes[name])
        assert bundle is not None and all(c.evidence is not None for c in bundle.certificates)
        checked_bundle = verify_trace_bundle(TraceBundle.from_json(bundle.to_json()),
                                             new_node.rpc_url)
        assert checked_bundle.traceability is not None
        assert (checked_bundle.traceability.status.value, checked_bundle.traceability
                .compromised) == (before[name][3][0], compromised) == before[name][3][:2]
        assert api.get("/v1/certificates/" + "ab" * 32 + "/evidence").json()["error"][
        "code"] == "evidence-not-found"
    bad = api.post("/v1/evidence/verify", json={"format": "certreg-evidence-record/1"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "evidence-invalid"

    # A forged row lending an unanchored hash a migrated document's leaf and proof (a
    # self-consistent projection otherwise) is unknown: the leaf is recomputed from the
    # hash and the covered evidence's digest, never taken from the row.
    forged = hashlib.sha256(b"forged migrated certificate").hexdigest()
    with new_indexer.sessions() as session, session.begin():
        genuine = session.scalar(select(ChainDocument).where(
            ChainDocument.sha256 == sound["work"], ChainDocument.anchored_hash.is_not(None)))
        assert genuine.migration_binding.startswith(genuine_algorithm(genuine) + ":")
        row = {column.name: getattr(genuine, attribute) for attribute, column
               in ChainDocument.__mapper__.columns.items() if column.name != "id"}
        row.update(sha256=forged)
        session.execute(insert(ChainDocument.__table__).values(**row))
    forged_verdict = verdicts(new_settings, {"forged": forged})["forged"]
    assert forged_verdict[0] == "unknown"
    assert verdicts(new_settings, {"work": sound["work"]})["work"] == before["sound-work"]


def genuine_algorithm(document: ChainDocument) -> str:
    """The 32-byte algorithm the migration leaves were made with (sha256 by default)."""
    return document.migration_binding.partition(":")[0]
