"""KuboStore against a real Kubo daemon: identical CIDs, add/cat/stat/pin, integrity, outages."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import ipfshttpclient
import pytest

from anchor.car import car_header, write_car
from anchor.cid import (
    KUBO_DEFAULT_IMPORT,
    REGISTRY_IMPORT,
    Cid,
    ImportOptions,
    base32_encode,
    compute_cid,
    dag_blocks,
    decode_varint,
)
from anchor.errors import ContentIntegrityError, ContentNotFoundError, StorageUnavailableError
from anchor.services._process import free_port
from anchor.services.kubo import KuboNode
from anchor.store import ContentStore, EmbeddedStore, KuboStore, PinState
from registry.cli import store as store_cli

MIB = 1024 * 1024
SIZES = [0, 1, 262_144, 262_145, MIB + 7, 20 * MIB]


def random_document(size: int, seed: int = 7) -> bytes:
    return random.Random(seed * 1_000_003 + size).randbytes(size)


@pytest.mark.parametrize("size", SIZES, ids=[f"{size}B" for size in SIZES])
def test_kubo_and_pure_python_cids_are_identical(kubo_store: KuboStore, kubo: KuboNode,
                                                 size: int) -> None:
    document = random_document(size)
    # The registry's options, through a real add with pin.
    cid = kubo_store.put(document)
    assert cid == compute_cid(document, REGISTRY_IMPORT)
    # Kubo's own defaults (a plain `ipfs add`, CIDv0 with dag-pb leaves), which we can
    # reproduce too: ask the daemon for the hash only, without any import option.
    with ipfshttpclient.Client(kubo.api_multiaddr, timeout=60) as client:
        default_cid = client.add_bytes(document, opts={"only-hash": True})
    assert default_cid == str(compute_cid(document, KUBO_DEFAULT_IMPORT))
    assert default_cid.startswith("Qm")
    assert kubo_store.get(cid) == document


@pytest.mark.parametrize("options", [
    ImportOptions(cid_version=1, raw_leaves=True, chunk_size=1024, max_links=3),
    ImportOptions(cid_version=0, raw_leaves=False, chunk_size=1000, max_links=5),
    ImportOptions(cid_version=1, raw_leaves=False, chunk_size=4096, max_links=174),
], ids=["v1-raw-deep", "v0-deep", "v1-dagpb-leaves"])
def test_kubo_agrees_on_deep_trees_and_other_options(kubo: KuboNode,
                                                     options: ImportOptions) -> None:
    # Small chunks and few links give trees four and more levels deep, which the
    # default chunking only reaches beyond 43 MiB.
    document = random_document(100_000, seed=3)
    with KuboStore(kubo.api_multiaddr, import_options=options) as store:
        cid = store.put(document)  # put() itself refuses a CID differing from ours
        assert cid == compute_cid(document, options)
        assert store.get(cid) == document


def test_kubo_store_satisfies_the_content_store_protocol(kubo_store: KuboStore) -> None:
    assert isinstance(kubo_store, ContentStore)


def test_embedded_and_kubo_stores_give_the_same_cids(kubo_store: KuboStore,
                                                     tmp_path: Path) -> None:
    embedded = EmbeddedStore(tmp_path / "store")
    for size in (0, 5_000, 300_000):
        document = random_document(size, seed=11)
        assert embedded.put(document) == kubo_store.put(document)


def test_a_batch_put_gives_every_cid_the_embedded_store_gives(kubo_store: KuboStore,
                                                              tmp_path: Path) -> None:
    # Sizes across the chunk boundary (one raw leaf, two leaves), an empty document and a
    # document twice in the same batch.
    documents = [random_document(size, seed=13) for size in
                 (20_000, 0, 262_144, 262_145, 1_000_003, 24_000)]
    documents.append(documents[0])
    embedded_cids = EmbeddedStore(tmp_path / "store").put_many(documents)

    assert kubo_store.put_many(documents) == embedded_cids
    assert embedded_cids == [compute_cid(document) for document in documents]
    for cid, document in zip(embedded_cids, documents, strict=True):
        assert kubo_store.pin_status(cid) is PinState.PINNED
        assert kubo_store.get(cid) == document
    assert kubo_store.put_many([]) == []


@pytest.mark.parametrize("options", [REGISTRY_IMPORT, KUBO_DEFAULT_IMPORT,
                                     ImportOptions(cid_version=1, raw_leaves=True,
                                                   chunk_size=1024, max_links=3)],
                         ids=["registry", "kubo-default-v0", "v1-raw-deep"])
def test_a_batch_put_gives_the_cids_of_kubos_own_add(kubo: KuboNode,
                                                    options: ImportOptions) -> None:
    # The CAR carries blocks we built; Kubo's own importer must arrive at the same roots.
    documents = [random_document(size, seed=19) for size in (0, 3_000, 300_000)]
    with KuboStore(kubo.api_multiaddr, import_options=options) as store:
        cids = store.put_many(documents)
        with ipfshttpclient.Client(kubo.api_multiaddr, timeout=60) as client:
            for cid, document in zip(cids, documents, strict=True):
                own = client.add_bytes(document, opts={**options.kubo_add_options,
                                                       "only-hash": True})
                assert Cid.parse(own) == cid
                assert store.get(cid) == document
                assert store.pin_status(cid) is PinState.PINNED


def test_our_car_header_is_the_one_kubo_writes(kubo_store: KuboStore, kubo: KuboNode) -> None:
    document = random_document(2_000, seed=23)
    (cid,) = kubo_store.put_many([document])
    with ipfshttpclient.Client(kubo.api_multiaddr, timeout=60) as client:
        exported = client._client.request("/dag/export", (str(cid),), decoder="none")
    exported = b"".join(exported) if isinstance(exported, list) else exported
    length, offset = decode_varint(exported)
    assert exported[offset:offset + length] == car_header([cid])
    # and the rest of Kubo's archive is our one block
    assert exported == write_car([cid], dag_blocks(document)[1])


def test_put_pins_and_stat_reports_size(kubo_store: KuboStore) -> None:
    document = random_document(20_000, seed=5)
    cid = kubo_store.put(document)
    assert kubo_store.has(cid)
    stat = kubo_store.stat(cid)
    assert (stat.cid, stat.size, stat.pin, stat.location) == (
        cid, len(document), PinState.PINNED, "kubo")


def test_unpinned_content_is_reported_unpinned_then_pinned(kubo_store: KuboStore,
                                                           kubo: KuboNode) -> None:
    document = random_document(3_000, seed=9)
    with ipfshttpclient.Client(kubo.api_multiaddr, timeout=10) as client:
        client.add_bytes(document, opts={**REGISTRY_IMPORT.kubo_add_options, "pin": False})
    cid = compute_cid(document)
    assert kubo_store.pin_status(cid) is PinState.UNPINNED
    kubo_store.pin(cid)
    assert kubo_store.pin_status(cid) is PinState.PINNED


def test_unknown_content_is_not_found_quickly(kubo_store: KuboStore) -> None:
    missing = compute_cid(b"nobody ever added this")
    assert not kubo_store.has(missing)
    assert kubo_store.pin_status(missing) is PinState.ABSENT
    with pytest.raises(ContentNotFoundError):
        kubo_store.stat(missing)
    with pytest.raises(ContentNotFoundError) as caught:
        kubo_store.get(missing)  # no peer has it: gives up after fetch_timeout
    assert caught.value.code == "content-not-found"


def flatfs_block_path(node: KuboNode, multihash: bytes) -> Path:
    # Kubo's flatfs: key = base32 (upper, unpadded) of the multihash, sharded next-to-last/2.
    key = base32_encode(multihash).upper()
    return node.repo_dir / "blocks" / key[-3:-1] / f"{key}.data"


def test_a_block_corrupted_on_kubos_disk_is_never_returned(kubo_store: KuboStore,
                                                           kubo: KuboNode) -> None:
    document = random_document(4_000, seed=13)
    cid = kubo_store.put(document)
    block_file = flatfs_block_path(kubo, cid.multihash)
    assert block_file.read_bytes() == document  # a single raw block: the document itself
    damaged = bytearray(document)
    damaged[1234] ^= 0x01
    block_file.write_bytes(bytes(damaged))
    with pytest.raises(ContentIntegrityError) as caught:
        kubo_store.get(cid)
    assert caught.value.code == "content-integrity-failed"
    block_file.write_bytes(document)
    assert kubo_store.get(cid) == document


def test_daemon_down_gives_a_clear_storage_unavailable_error() -> None:
    nothing_listens = f"/ip4/127.0.0.1/tcp/{free_port()}"
    store = KuboStore(nothing_listens, timeout=2.0)
    secret_document = b"confidential calibration values"
    with pytest.raises(StorageUnavailableError) as caught:
        store.put(secret_document)
    assert caught.value.code == "storage-unavailable"
    assert nothing_listens in caught.value.message
    assert secret_document.decode() not in str(caught.value)
    with pytest.raises(StorageUnavailableError):
        store.put_many([secret_document])
    with pytest.raises(StorageUnavailableError):
        store.get(compute_cid(secret_document))
    with pytest.raises(StorageUnavailableError):
        store.has(compute_cid(secret_document))
    assert not store.is_available()


def run_store_cli(*argv: str) -> int:
    # The `store` group on its own parser: the CLI's other groups belong to other modules.
    parser = argparse.ArgumentParser(prog="certreg")
    parser.add_argument("--json", action="store_true")
    store_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


def test_store_push_migrates_an_embedded_store_to_kubo(
        kubo: KuboNode, kubo_store: KuboStore, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    embedded_dir = tmp_path / "embedded"
    documents = [random_document(size, seed=17) for size in (10, 70_000, 400_000)]
    document_file = tmp_path / "doc.bin"
    for document in documents:
        document_file.write_bytes(document)
        assert run_store_cli("store", "put", str(document_file),
                             "--store-dir", str(embedded_dir)) == 0
    capsys.readouterr()
    assert run_store_cli("--json", "store", "push", "--from-dir", str(embedded_dir),
                         "--kubo-api", kubo.api_multiaddr,
                         "--store-dir", str(tmp_path / "spool-unused")) == 0
    report = json.loads(capsys.readouterr().out)
    expected = {str(compute_cid(document)) for document in documents}
    assert set(report["pushed"]) | set(report["already_present"]) == expected
    for document in documents:
        cid = compute_cid(document)
        assert kubo_store.get(cid) == document
        assert kubo_store.pin_status(cid) is PinState.PINNED
