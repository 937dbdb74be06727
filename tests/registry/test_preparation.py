"""Validation and signing on several processes give exactly the outcomes of one process,
in submission order; the outbox sees every document once."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from registry.db import IssuedDocument
from registry.documents.keys import KeyType, SigningIdentity, create_test_signing_identity
from registry.documents.metadata import DccMetadata
from registry.documents.parse import parse_xml
from registry.documents.signing import (
    DS_NS,
    XADES_NS,
    SignatureStatus,
    default_signature_algorithm,
    verify_signature,
)
from registry.documents.validate import load_document
from registry.errors import ConfigurationError, DocumentError, SignatureInvalidError
from registry.issuance import STORE_BATCH_SIZE, CertificatePreparer, DocumentSource, Issuer
from registry.issuance import SubmissionStatus as Status
from registry.preparation import (
    TEST_SIGNER_WARNING,
    PreparationPool,
    Rejection,
    SignedCertificate,
    prepare_one,
)
from tests.conftest import SHARED_DCC
from tests.registry.conftest import MakeDccs
from tests.registry.documents._sign_fixtures import signxml_signed, tokens, xmlsec1_verify


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return create_test_signing_identity("Pool Lab", "Test NMI", "DE")


def _mixed_sources(make_dccs: MakeDccs, shared_dcc: Path, directory: Path) -> list[DocumentSource]:
    good = [DocumentSource.from_path(p) for p in make_dccs(directory, 9, "POOL")]
    bad = [DocumentSource.from_path(shared_dcc / "invalid" / name)
           for name in ("xxe_file.xml", "bad_date.xml")]
    signed = [DocumentSource.from_path(shared_dcc / "signed" / name) for name in (
        "dcc_gp_temperature_typical_v12_signed.xml",
        "dcc_gp_temperature_typical_v12_signed_manipulated.xml")]
    return [good[0], bad[0], *good[1:4], signed[0], bad[1], *good[4:], signed[1]]


def _outcome(prepared: object) -> tuple:
    """What must not depend on the number of workers (signatures are randomised)."""
    if isinstance(prepared, Rejection):
        return ("rejected", prepared.code, prepared.message)
    return ("prepared", prepared.source_name, prepared.source_sha256, prepared.signed_here,
            prepared.unique_identifier, prepared.public_metadata, prepared.warnings,
            None if prepared.signed_here else prepared.sha256)


def test_two_workers_prepare_exactly_what_one_process_prepares(
        identity: SigningIdentity, make_dccs: MakeDccs, shared_dcc: Path,
        tmp_path: Path) -> None:
    sources = _mixed_sources(make_dccs, shared_dcc, tmp_path / "in")
    results = {}
    for workers in (1, 2):
        preparer = CertificatePreparer(identity)
        with PreparationPool(preparer, workers) as pool:
            results[workers] = list(pool.prepare(enumerate(sources), "dcc", None, sign=True))
            assert (pool._executor is not None) is (workers == 2)
        # The workers' stage time is added to the caller's timings.
        assert preparer.timings.seconds["validate"] > 0 and preparer.timings.seconds["sign"] > 0
    assert [tag for tag, _ in results[2]] == list(range(len(sources)))
    assert [_outcome(p) for _, p in results[2]] == [_outcome(p) for _, p in results[1]]
    for _, prepared in results[2]:
        if not isinstance(prepared, Rejection) and prepared.signed_here:
            verdict = verify_signature(prepared.data, trusted_certs=[identity.certificate])
            assert verdict.is_valid and verdict.chains_to_trusted_anchor


def test_one_document_is_prepared_without_starting_processes(
        identity: SigningIdentity, make_dccs: MakeDccs, tmp_path: Path) -> None:
    (path,) = make_dccs(tmp_path / "in", 1, "SINGLE")
    with PreparationPool(CertificatePreparer(identity), 2) as pool:
        ((tag, prepared),) = pool.prepare([("only", DocumentSource.from_path(path))], "dcc",
                                          None, sign=True)
        assert pool._executor is None
    assert tag == "only" and not isinstance(prepared, Rejection) and prepared.signed_here


def test_a_pool_needs_a_worker(identity: SigningIdentity) -> None:
    with pytest.raises(ConfigurationError):
        PreparationPool(CertificatePreparer(identity), 0)


def test_submission_on_two_workers_records_each_document_once_in_order(
        settings, make_dccs: MakeDccs, shared_dcc: Path, tmp_path: Path) -> None:
    issuer = Issuer.from_settings(settings, workers=2)
    paths = make_dccs(tmp_path / "in", STORE_BATCH_SIZE + 5, "ORDER")
    invalid = shared_dcc / "invalid" / "bad_date.xml"
    # More than one store batch, a document twice, an invalid one twice.
    sources = [*paths[:10], invalid, paths[3], *paths[10:], invalid]

    results = issuer.submit(sources)

    assert [r.source_name for r in results] == [
        *map(str, paths[:10]), str(invalid), str(paths[3]), *map(str, paths[10:]), str(invalid)]
    expected = [Status.ACCEPTED] * 10 + [Status.REJECTED, Status.ALREADY_PENDING] + [
        Status.ACCEPTED] * (len(paths) - 10) + [Status.REJECTED]
    assert [r.status for r in results] == expected
    assert results[11].sha256 == results[3].sha256
    assert results[-1].error_code == results[10].error_code == "dcc-schema-invalid"
    with issuer.sessions() as session:
        rows = session.execute(select(IssuedDocument.source_name).order_by(IssuedDocument.id)
                               ).scalars().all()
        assert session.scalar(select(func.count()).select_from(IssuedDocument)) == len(paths)
    assert rows == [str(path) for path in paths]  # the outbox keeps submission order
    # A second run finds every one of them.
    again = issuer.submit(sources)
    assert {r.status for r in again} == {Status.ALREADY_PENDING, Status.REJECTED}


_CALLER = """
import fcntl, sys, time
from pathlib import Path
from registry.documents.keys import create_test_signing_identity
from registry.preparation import CertificatePreparer, DocumentSource, PreparationPool

lock = open(sys.argv[1], "a")
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as Issuer.exclusive() does
sources = [DocumentSource.from_path(Path(p)) for p in sys.argv[2:]]
pool = PreparationPool(CertificatePreparer(create_test_signing_identity("K", "T", "DE")), 2)
results = pool.prepare(enumerate(sources), "dcc", None, sign=True)
next(results)
print(" ".join(str(pid) for pid in pool._executor._processes), flush=True)
time.sleep(600)
"""


def test_workers_die_with_a_sigkilled_caller_and_free_the_issuance_lock(
        make_dccs: MakeDccs, tmp_path: Path) -> None:
    import fcntl
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO_ROOT

    paths = make_dccs(tmp_path / "in", 40, "ORPHAN")
    lock_path = tmp_path / "issuance.lock"
    caller = subprocess.Popen([sys.executable, "-c", _CALLER, str(lock_path), *map(str, paths)],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert caller.stdout is not None
    workers = [int(pid) for pid in caller.stdout.readline().split()]
    assert len(workers) == 2
    caller.send_signal(signal.SIGKILL)  # the caller alone, not its process group
    caller.wait()

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie until reaped by init counts as gone: it holds no files.
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in workers if alive(pid)]
    for pid in survivors:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert survivors == []
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the next run can start


# ------------------------------------------- differential: the preparation this one replaced

_CORPUS_FILES = sorted(f"{section}/{path.name}" for section in ("examples", "invalid", "signed")
                       for path in (SHARED_DCC / section).glob("*.xml"))


@pytest.fixture(scope="module", params=[KeyType.EC_P256, KeyType.RSA_3072], ids=str)
def any_identity(request: pytest.FixtureRequest) -> SigningIdentity:
    return create_test_signing_identity("Differential Lab", "Test NMI", "DE",
                                        key_type=request.param)


def _previous_preparation(source: DocumentSource, identity: SigningIdentity,
                          when: dt.datetime | None) -> tuple:
    """What CertificatePreparer.prepare gave before validation and signing were made
    cheaper: every D-SI unit parsed afresh, signxml's signer checked by parsing its output
    again, both hashes taken again, the metadata as a tree encoded by its consumers."""
    try:
        document = load_document(source.data, "dcc")
        if parse_xml(source.data).getroot().find(f".//{{{DS_NS}}}Signature") is not None:
            verification = verify_signature(document.raw)
            if verification.status is SignatureStatus.INVALID:
                raise SignatureInvalidError(
                    f"the document's own signature does not verify: {verification.reason}")
            data, signed_here = document.raw, False
        else:
            assert when is not None, "the new path did not sign what the old one signs"
            data, signed_here = signxml_signed(document.raw, identity, when), True
    except DocumentError as exc:
        return ("rejected", exc.code, exc.message)
    assert isinstance(document.metadata, DccMetadata)
    return ("prepared", hashlib.sha256(source.data).hexdigest(),
            document.metadata.unique_identifier,
            # The text the outbox, manifest and projection held: the metadata tree they
            # were given, encoded as the manifest encoded it.
            json.dumps(document.metadata.to_json_dict(), sort_keys=True, separators=(",", ":"),
                       ensure_ascii=False),
            tuple(w.code for w in document.warnings) + (
                (TEST_SIGNER_WARNING,) if signed_here else ()),
            signed_here, data, hashlib.sha256(data).hexdigest())


def _outcome_with_bytes(prepared: object) -> tuple:
    if isinstance(prepared, Rejection):
        return ("rejected", prepared.code, prepared.message)
    assert isinstance(prepared, SignedCertificate)
    return ("prepared", prepared.source_sha256, prepared.unique_identifier,
            str(prepared.public_metadata_json), prepared.warnings, prepared.signed_here,
            prepared.data, prepared.sha256)


def _signing_time(data: bytes) -> dt.datetime | None:
    text = parse_xml(data).getroot().findtext(f".//{{{XADES_NS}}}SigningTime")
    return None if text is None else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("corpus_file", _CORPUS_FILES)
def test_preparation_gives_what_the_previous_preparation_gave(
        corpus_file: str, any_identity: SigningIdentity, shared_dcc: Path,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from registry.documents import units, validate, xades_signer

    source = DocumentSource.from_path(shared_dcc / corpus_file)
    monkeypatch.setattr(xades_signer, "new_token", tokens())
    new = _outcome_with_bytes(prepare_one(CertificatePreparer(any_identity), source, "dcc",
                                          None, True))
    signed_here = new[0] == "prepared" and new[5]
    with monkeypatch.context() as uncached:
        uncached.setattr(validate, "dsi_unit_problem", units._unit_problem)
        old = _previous_preparation(source, any_identity,
                                    _signing_time(new[6]) if signed_here else None)
    signed = new[6] if signed_here else b""
    if signed_here and default_signature_algorithm(any_identity).value.startswith("ecdsa"):
        # ECDSA signatures are random: all but the SignatureValue (and the hash) must agree.
        assert _without_signature_value(signed) == _without_signature_value(old[6])
        assert new[7] == hashlib.sha256(signed).hexdigest()
        new, old = new[:6], old[:6]
    assert new == old
    if signed_here:
        verdict = verify_signature(signed, trusted_certs=[any_identity.certificate])
        assert verdict.is_valid and verdict.chains_to_trusted_anchor
        result = xmlsec1_verify(signed, tmp_path, trusted=[any_identity.certificate])
        assert result.returncode == 0, result.stderr


def _without_signature_value(data: bytes) -> bytes:
    return re.sub(rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>", b"", data)
