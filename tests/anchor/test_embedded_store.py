"""The embedded store: content-addressed files on local disk, verified on every read."""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import pytest

from anchor.cid import KUBO_DEFAULT_IMPORT, REGISTRY_IMPORT, compute_cid
from anchor.errors import ContentIntegrityError, ContentNotFoundError, StorageError
from anchor.store import ContentStore, EmbeddedStore, PinState

rng = random.Random(20240603)
SMALL_DOC = b"<dcc:digitalCalibrationCertificate>...</dcc:digitalCalibrationCertificate>"
LARGE_DOC = rng.randbytes(700_000)  # three chunks: a dag-pb root over raw leaves


def test_embedded_store_satisfies_the_content_store_protocol(store_dir: Path) -> None:
    assert isinstance(EmbeddedStore(store_dir), ContentStore)


@pytest.mark.parametrize("document", [b"", SMALL_DOC, LARGE_DOC], ids=["empty", "small", "large"])
def test_put_returns_the_kubo_compatible_cid_and_get_returns_the_bytes(
        store_dir: Path, document: bytes) -> None:
    store = EmbeddedStore(store_dir)
    cid = store.put(document)
    assert cid == compute_cid(document, REGISTRY_IMPORT)
    assert store.get(cid) == document
    assert store.has(cid)
    stat = store.stat(cid)
    assert (stat.size, stat.pin, stat.location) == (len(document), PinState.PINNED, "embedded")


def test_put_is_idempotent_and_leaves_no_temporary_files(store_dir: Path) -> None:
    store = EmbeddedStore(store_dir)
    first = store.put(SMALL_DOC)
    second = store.put(SMALL_DOC)
    assert first == second
    assert list(store.cids()) == [first]
    assert list((store_dir / "tmp").iterdir()) == []


def test_documents_survive_reopening_the_store(store_dir: Path) -> None:
    cid = EmbeddedStore(store_dir).put(LARGE_DOC)
    reopened = EmbeddedStore(store_dir)
    assert reopened.get(cid) == LARGE_DOC
    assert list(reopened.cids()) == [cid]


def test_unknown_cid_is_reported_not_found(store_dir: Path) -> None:
    store = EmbeddedStore(store_dir)
    missing = compute_cid(b"never stored")
    assert not store.has(missing)
    assert store.pin_status(missing) is PinState.ABSENT
    with pytest.raises(ContentNotFoundError) as caught:
        store.get(missing)
    assert caught.value.code == "content-not-found"
    with pytest.raises(ContentNotFoundError):
        store.stat(missing)


def test_a_corrupted_blob_is_never_returned(store_dir: Path) -> None:
    store = EmbeddedStore(store_dir)
    cid = store.put(LARGE_DOC)
    path = store.path_for(cid)
    damaged = bytearray(path.read_bytes())
    damaged[500_000] ^= 0x40  # one bit flipped deep inside the file
    path.write_bytes(bytes(damaged))
    with pytest.raises(ContentIntegrityError) as caught:
        store.get(cid)
    assert caught.value.code == "content-integrity-failed"


def test_a_substituted_blob_is_never_returned(store_dir: Path) -> None:
    store = EmbeddedStore(store_dir)
    genuine = store.put(b"certificate: 10.000 03 V")
    forged = store.put(b"certificate: 10.000 93 V")
    store.path_for(genuine).write_bytes(store.path_for(forged).read_bytes())
    with pytest.raises(ContentIntegrityError):
        store.get(genuine)


def test_putting_a_document_again_repairs_a_damaged_copy(store_dir: Path) -> None:
    store = EmbeddedStore(store_dir)
    cid = store.put(SMALL_DOC)
    store.path_for(cid).write_bytes(SMALL_DOC.upper())
    assert store.put(SMALL_DOC) == cid
    assert store.get(cid) == SMALL_DOC


def test_a_failed_write_leaves_neither_a_partial_blob_nor_a_temporary_file(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = EmbeddedStore(store_dir)

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(StorageError) as caught:
        store.put(LARGE_DOC)
    assert caught.value.code == "storage-unavailable"
    monkeypatch.undo()
    assert not store.has(compute_cid(LARGE_DOC))
    assert list((store_dir / "tmp").iterdir()) == []


def test_concurrent_puts_of_the_same_document_agree(store_dir: Path) -> None:
    store = EmbeddedStore(store_dir)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(store.put(LARGE_DOC)))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert store.get(compute_cid(LARGE_DOC)) == LARGE_DOC


def test_a_store_refuses_to_be_reopened_with_other_cid_options(store_dir: Path) -> None:
    EmbeddedStore(store_dir).put(SMALL_DOC)
    with pytest.raises(StorageError):
        EmbeddedStore(store_dir, KUBO_DEFAULT_IMPORT)


def test_cids_lists_documents_oldest_first(store_dir: Path) -> None:
    store = EmbeddedStore(store_dir)
    written = []
    for index in range(5):
        cid = store.put(f"document {index}".encode())
        os.utime(store.path_for(cid), ns=(index * 10**9, index * 10**9))
        written.append(cid)
    assert list(store.cids()) == written
    assert len(store) == 5


def test_a_batch_put_gives_the_cids_of_single_puts_and_is_idempotent(store_dir: Path) -> None:
    documents = [SMALL_DOC, LARGE_DOC, b"", SMALL_DOC, rng.randbytes(24_000)]
    store = EmbeddedStore(store_dir)
    cids = store.put_many(documents)
    assert cids == [compute_cid(document) for document in documents]
    assert [store.get(cid) for cid in cids] == documents
    assert store.put_many(documents) == cids
    assert len(store) == 4 and list((store_dir / "tmp").iterdir()) == []
    assert store.put_many([]) == []


def test_a_batch_put_repairs_a_damaged_copy(store_dir: Path) -> None:
    store = EmbeddedStore(store_dir)
    cid = store.put(SMALL_DOC)
    store.path_for(cid).write_bytes(SMALL_DOC.upper())
    assert store.put_many([LARGE_DOC, SMALL_DOC])[1] == cid
    assert store.get(cid) == SMALL_DOC


def test_a_batch_is_synced_before_and_after_its_renames(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import anchor.files

    store = EmbeddedStore(store_dir)
    events: list[str] = []
    real_replace, real_sync = os.replace, anchor.files._sync_filesystem_of
    monkeypatch.setattr(os, "replace", lambda *a: (events.append("rename"), real_replace(*a)))
    monkeypatch.setattr(anchor.files, "_sync_filesystem_of",
                        lambda path: (events.append("sync"), real_sync(path)))
    store.put_many([SMALL_DOC, LARGE_DOC, b"third"])
    # The data is on disk before any name points at it; the names before put_many returns.
    assert events == ["sync", "rename", "rename", "rename", "sync"]


def test_without_syncfs_every_file_and_directory_is_fsynced(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import anchor.files

    store = EmbeddedStore(store_dir)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(anchor.files, "_syncfs", None)
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    documents = [SMALL_DOC, LARGE_DOC]
    cids = store.put_many(documents)
    directories = {store.path_for(cid).parent for cid in cids}
    assert len(synced) == len(documents) + len(directories)
    assert [store.get(cid) for cid in cids] == documents


def test_a_failed_batch_write_leaves_no_partial_blob_nor_temporary_file(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = EmbeddedStore(store_dir)
    renamed = []
    real_replace = os.replace

    def disk_full_on_second(*args: object) -> None:
        if renamed:
            raise OSError(28, "No space left on device")
        renamed.append(args)
        real_replace(*args)

    monkeypatch.setattr(os, "replace", disk_full_on_second)
    with pytest.raises(StorageError) as caught:
        store.put_many([SMALL_DOC, LARGE_DOC])
    assert caught.value.code == "storage-unavailable"
    monkeypatch.undo()
    # Each document is either absent or complete.
    assert store.get(compute_cid(SMALL_DOC)) == SMALL_DOC
    assert not store.has(compute_cid(LARGE_DOC))
    assert list((store_dir / "tmp").iterdir()) == []
