"""Issuance end to end on anvil with the embedded store: every document gets a receipt
that verifies on chain; nothing is anchored twice; encrypted documents stay confidential."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from anchor.cid import Cid
from anchor.encryption import DocumentKey, decrypt_document, is_encrypted
from anchor.errors import DecryptionError, StorageUnavailableError
from anchor.merkle import verify_proof
from anchor.receipt import Receipt, Verdict, verify_receipt
from registry.db import (
    Base,
    BatchState,
    DocumentState,
    IssuedDocument,
    OutboxBatch,
    create_database_engine,
)
from registry.index import BatchManifest
from registry.issuance import STORE_BATCH_SIZE, DocumentSource, Issuer, SubmissionStatus
from registry.settings import load_settings
from tests.anchor.registry_fixtures import RegistryWorld
from tests.registry.conftest import MakeDccs


def database_dump(url: str) -> bytes:
    """Every value of every row of every table (SQLite or PostgreSQL), as bytes."""
    engine = create_database_engine(url)
    with engine.connect() as connection:
        rows = [repr(tuple(row)) for table in Base.metadata.sorted_tables
                for row in connection.execute(table.select())]
    engine.dispose()
    return "\n".join(rows).encode()


def _receipts(report) -> list[Receipt]:
    return [r.receipt for r in report.submissions]


def test_issuance_anchors_every_document_once_with_a_verifiable_receipt(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path) -> None:
    paths = make_dccs(tmp_path / "in", 23, "E2E")
    report = issuer.run(paths, batch_size=10)

    assert [r.status for r in report.submissions] == [SubmissionStatus.ACCEPTED] * 23
    assert [len(b.document_sha256s) for b in report.sealed] == [10, 10, 3]
    assert report.pending_documents == 0 and report.receipts_written == 23
    assert issuer.client.batch_count() == 3
    for path, result in zip(paths, report.submissions, strict=True):
        receipt = result.receipt
        assert receipt is not None
        stored = issuer.store.get(Cid.parse(receipt.cid))
        assert stored != path.read_bytes(), "the institute's signature was added"
        assert b"<ds:Signature" in stored or b"Signature" in stored
        assert verify_receipt(receipt, issuer.client, stored).verdict is Verdict.VALID
        on_disk = Receipt.from_json((issuer.receipts_dir / f"{result.sha256}.json").read_text())
        assert on_disk == receipt

    # The manifest on the store names every member; the root recomputes from it.
    manifest = BatchManifest.from_bytes(issuer.store.get(Cid.parse(
        report.submissions[0].receipt.manifest_cid)))
    assert len(manifest.documents) == 10
    assert manifest.documents[0].metadata["unique_identifier"] == "E2E-00000"


def test_issuance_same_document_again_is_already_anchored_with_its_receipt(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path) -> None:
    (path,) = make_dccs(tmp_path / "in", 1, "TWICE")
    first = issuer.run([path], batch_size=4).submissions[0]
    again = issuer.run([path], batch_size=4)
    assert again.submissions[0].status is SubmissionStatus.ALREADY_ANCHORED
    assert again.submissions[0].receipt == first.receipt
    assert not again.sealed and not again.anchored
    # The signed output itself is recognised too (it is what was anchored).
    signed = issuer.store.get(Cid.parse(first.cid))
    assert issuer.run([signed]).submissions[0].status is SubmissionStatus.ALREADY_ANCHORED
    assert issuer.client.batch_count() == 1


def test_issuance_pending_document_is_reported_already_pending(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path) -> None:
    (path,) = make_dccs(tmp_path / "in", 1, "PENDING")
    assert issuer.submit([path])[0].status is SubmissionStatus.ACCEPTED
    assert issuer.submit([path])[0].status is SubmissionStatus.ALREADY_PENDING
    report = issuer.resume()
    assert report.pending_documents == 0 and issuer.client.batch_count() == 1


def test_issuance_keeps_an_already_signed_document_byte_for_byte(
        issuer: Issuer, shared_dcc: Path) -> None:
    signed = (shared_dcc / "signed" / "dcc_gp_temperature_typical_v12_signed.xml").read_bytes()
    manipulated = (shared_dcc / "signed" /
                   "dcc_gp_temperature_typical_v12_signed_manipulated.xml").read_bytes()
    report = issuer.run([DocumentSource("signed.xml", signed),
                         DocumentSource("manipulated.xml", manipulated)])
    kept, refused = report.submissions
    assert kept.sha256 == hashlib.sha256(signed).hexdigest()
    assert issuer.store.get(Cid.parse(kept.cid)) == signed
    assert refused.status is SubmissionStatus.REJECTED
    assert refused.error_code == "signature-invalid"


def test_issuance_rejects_invalid_documents_and_anchors_the_rest(
        issuer: Issuer, make_dccs: MakeDccs, shared_dcc: Path, tmp_path: Path) -> None:
    good = make_dccs(tmp_path / "in", 2, "MIXED")
    bad = [shared_dcc / "invalid" / "xxe_file.xml", shared_dcc / "invalid" / "bad_date.xml"]
    report = issuer.run([good[0], *bad, good[1]])
    statuses = [r.status for r in report.submissions]
    assert statuses == [SubmissionStatus.ACCEPTED, SubmissionStatus.REJECTED,
                        SubmissionStatus.REJECTED, SubmissionStatus.ACCEPTED]
    assert report.submissions[1].error_code == "xml-forbidden-construct"
    assert report.submissions[2].error_code == "dcc-schema-invalid"
    assert report.pending_documents == 0


def test_issuance_encrypted_document_is_stored_as_ciphertext_and_anchored_by_plaintext_hash(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path, settings) -> None:
    (path,) = make_dccs(tmp_path / "in", 1, "SECRET-CUSTOMER")
    result = issuer.run([path], encrypt=True).submissions[0]
    assert result.encrypted and result.key is not None
    assert result.key.to_text() not in repr(result), "results end up in logs"

    envelope = issuer.store.get(Cid.parse(result.cid))
    assert is_encrypted(envelope)
    plaintext = decrypt_document(envelope, result.key)
    assert hashlib.sha256(plaintext).hexdigest() == result.sha256
    assert result.receipt.encrypted
    assert verify_receipt(result.receipt, issuer.client, plaintext).verdict is Verdict.VALID
    with pytest.raises(DecryptionError):
        decrypt_document(envelope, DocumentKey.generate())

    # Neither the key nor the confidential metadata is in the manifest or the database.
    manifest = issuer.store.get(Cid.parse(result.receipt.manifest_cid))
    entry = json.loads(manifest)["documents"][0]
    assert entry["encrypted"] is True and entry["metadata"] is None
    assert b"SECRET-CUSTOMER" not in manifest
    key_text = result.key.to_text().encode()
    database = database_dump(settings.effective_database_url)
    for blob in (manifest, database):
        assert key_text not in blob and result.key.secret not in blob
    assert b"SECRET-CUSTOMER" not in database


def test_issuance_rebroadcasts_the_persisted_transaction_after_a_crash(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path, settings) -> None:
    issuer.submit(make_dccs(tmp_path / "in", 3, "CRASH"))
    (sealed,) = issuer.seal_batches(10)
    with issuer.sessions() as session:
        batch = session.scalar(select(OutboxBatch))
    assert batch.root == sealed.root and batch.signed_tx is None
    persisted = issuer._sign_and_persist(batch)  # then "crash" before broadcasting
    assert persisted is not None

    restarted = Issuer.from_settings(settings)
    report = restarted.resume()
    (outcome,) = report.anchored
    assert outcome.transaction_hash == persisted.transaction_hash
    assert not outcome.re_signed and restarted.client.batch_count() == 1
    assert report.pending_documents == 0


def test_issuance_re_signs_only_when_the_persisted_nonce_went_elsewhere(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path, settings,
        world: RegistryWorld) -> None:
    issuer.submit(make_dccs(tmp_path / "in", 2, "NONCE"))
    issuer.seal_batches(10)
    with issuer.sessions() as session:
        batch = session.scalar(select(OutboxBatch))
    persisted = issuer._sign_and_persist(batch)
    # The operator's account spends that nonce on something else (a plain transfer).
    operator = issuer.client.account
    w3 = issuer.client.w3
    transfer = operator.sign_transaction({
        "to": world.spare.address, "value": 1, "gas": 21_000, "nonce": persisted.nonce,
        "gasPrice": w3.eth.gas_price, "chainId": w3.eth.chain_id})
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(transfer.raw_transaction))

    report = Issuer.from_settings(settings).resume()
    (outcome,) = report.anchored
    assert outcome.re_signed and outcome.transaction_hash != persisted.transaction_hash
    assert issuer.client.batch_count() == 1 and report.pending_documents == 0
    with issuer.sessions() as session:
        row = session.scalar(select(OutboxBatch))
        assert row.state == BatchState.ANCHORED and row.tx_hash == outcome.transaction_hash


def test_issuance_finds_a_root_anchored_before_the_crash_recorded_it(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path, settings) -> None:
    issuer.submit(make_dccs(tmp_path / "in", 2, "SENT"))
    issuer.seal_batches(10)
    with issuer.sessions() as session:
        batch = session.scalar(select(OutboxBatch))
    signed = issuer._sign_and_persist(batch)
    issuer.client.broadcast(signed)
    issuer.client.wait(signed)  # mined; the process "dies" before anything else
    report = Issuer.from_settings(settings).resume()
    assert report.anchored[0].already_anchored
    assert report.anchored[0].transaction_hash == signed.transaction_hash
    assert issuer.client.batch_count() == 1


def test_issuance_only_the_indexer_marks_documents_anchored(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path) -> None:
    issuer.submit(make_dccs(tmp_path / "in", 4, "STATE"))
    issuer.seal_batches(2)
    issuer.anchor_pending()
    with issuer.sessions() as session:
        states = dict(session.execute(select(IssuedDocument.state, func.count()).group_by(
            IssuedDocument.state)).all())
    assert states == {DocumentState.BATCHED.value: 4}, "anchored on chain, not yet indexed"
    issuer.index()
    with issuer.sessions() as session:
        assert set(session.scalars(select(IssuedDocument.state))) == {DocumentState.ANCHORED}
    assert issuer.write_receipts() == 4


def test_issuance_receipt_proof_recomputes_from_the_manifest(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path) -> None:
    report = issuer.run(make_dccs(tmp_path / "in", 5, "PROOF"), batch_size=5)
    for receipt in _receipts(report):
        assert verify_proof(receipt.root_bytes(), receipt.document_digest(),
                            receipt.proof_bytes())



def _reference_issuer(anvil, issuer_env: dict[str, str], tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> Issuer:
    """A second registry (own contract, SQLite, own data directory) for the same sources."""
    from tests.anchor.registry_fixtures import deploy_world

    other = deploy_world(anvil)
    monkeypatch.delenv("CERTREG_DATABASE_URL", raising=False)
    for name, value in (issuer_env | {
            "CERTREG_DATA_DIR": str(tmp_path / "reference"),
            "CERTREG_CONTRACT_ADDRESS": other.deployer.address,
            "CERTREG_DEPLOYMENT_BLOCK": str(other.deployer.deployment_block)}).items():
        if name != "CERTREG_DATABASE_URL":
            monkeypatch.setenv(name, value)
    return Issuer.from_settings(load_settings(), workers=2)


def test_issuance_run_anchors_full_batches_while_it_still_reads_the_sources(
        settings, make_dccs: MakeDccs, tmp_path: Path) -> None:
    # A long run's first batches are on chain, with receipts to come, before the last
    # document is even read: the workers prepare the rest meanwhile.
    issuer = Issuer.from_settings(settings, workers=2)
    paths = make_dccs(tmp_path / "in", 200, "PIPE")
    anchored_when_read: list[int] = []

    def sources():
        yield from paths[:-1]
        anchored_when_read.append(issuer.client.batch_count())
        yield paths[-1]

    report = issuer.run(sources(), batch_size=10)
    assert anchored_when_read[0] >= 1
    assert [r.status for r in report.submissions] == [SubmissionStatus.ACCEPTED] * 200
    assert [len(b.document_sha256s) for b in report.sealed] == [10] * 20
    assert len(report.anchored) == 20 == issuer.client.batch_count()
    assert report.index is not None and report.index.batches == 20
    assert report.pending_documents == 0 and report.receipts_written == 200
    assert all(r.receipt is not None for r in report.submissions)


def test_issuance_run_pipelined_seals_what_the_steps_one_after_another_seal(
        settings, issuer_env: dict[str, str], world: RegistryWorld, make_dccs: MakeDccs,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Differential: `run` (full batches anchored during submission) against submitting
    # everything first and then sealing, anchoring and indexing (what `run` did before),
    # on two registries; unsigned, so both see the same bytes. Same batches, same order,
    # same receipts, invalid documents rejected alike. The reference resumes in a new
    # Issuer, so it seals from the outbox rows alone (not the metadata `run` keeps of the
    # rows it inserted): the same manifests, byte for byte.
    paths = make_dccs(tmp_path / "in", 75, "DIFF")
    bad = tmp_path / "in" / "broken.xml"
    bad.write_bytes(b"<dcc:digitalCalibrationCertificate")
    sources = [*paths[:33], bad, *paths[33:]]
    pipelined = Issuer.from_settings(settings, workers=2).run(sources, batch_size=16,
                                                             sign=False)
    reference_issuer = _reference_issuer(world.anvil, issuer_env, tmp_path, monkeypatch)
    with reference_issuer.exclusive():
        submitted = reference_issuer.submit(sources, sign=False)
    reference_issuer = Issuer.from_settings(load_settings(), workers=2)
    reference = reference_issuer.resume(batch_size=16)

    assert [b.root for b in pipelined.sealed] == [b.root for b in reference.sealed]
    assert [b.manifest_cid for b in pipelined.sealed] == [
        b.manifest_cid for b in reference.sealed]
    assert [b.document_sha256s for b in pipelined.sealed] == [
        b.document_sha256s for b in reference.sealed]
    assert [len(b.document_sha256s) for b in pipelined.sealed] == [16, 16, 16, 16, 11]
    assert [a.batch_id for a in pipelined.anchored] == [a.batch_id for a in reference.anchored]
    assert [(r.status, r.error_code, r.sha256) for r in pipelined.submissions] == [
        (r.status, r.error_code, r.sha256) for r in submitted]
    for ours, theirs in zip(pipelined.submissions, submitted, strict=True):
        if ours.status is SubmissionStatus.ACCEPTED:
            expected = reference_issuer.receipt_for(theirs.sha256)
            assert ours.receipt is not None
            assert (ours.receipt.merkle_root, ours.receipt.proof, ours.receipt.batch_id,
                    ours.receipt.cid, ours.receipt.manifest_cid) == (
                expected.merkle_root, expected.proof, expected.batch_id, expected.cid,
                expected.manifest_cid)
    assert pipelined.index is not None and pipelined.index.batches == 5


def test_issuance_a_store_failure_mid_run_records_only_what_was_stored_and_a_rerun_finishes(
        issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Groups are stored on a thread while the one before is recorded: a failed write is
    # raised when its group would be recorded, and only the groups written before it are
    # in the outbox. The rerun finds them pending and issues the rest, each once.
    paths = make_dccs(tmp_path / "in", 3 * STORE_BATCH_SIZE + 10, "STOREFAIL")
    real_put_many = issuer.store.put_many
    calls: list[int] = []

    def third_write_fails(documents):
        calls.append(len(documents))
        if len(calls) == 3:
            raise StorageUnavailableError("the disk went away", root="test")
        return real_put_many(documents)

    monkeypatch.setattr(issuer.store, "put_many", third_write_fails)
    with pytest.raises(StorageUnavailableError):
        issuer.run(paths, batch_size=1_000)
    with issuer.sessions() as session:
        assert session.scalar(select(func.count()).select_from(IssuedDocument)) == (
            2 * STORE_BATCH_SIZE)
    monkeypatch.undo()

    report = issuer.run(paths, batch_size=1_000)
    assert Counter(r.status for r in report.submissions) == {
        SubmissionStatus.ALREADY_PENDING: 2 * STORE_BATCH_SIZE,
        SubmissionStatus.ACCEPTED: STORE_BATCH_SIZE + 10}
    assert report.pending_documents == 0 and report.receipts_written == len(paths)
    assert issuer.client.batch_count() == 1
