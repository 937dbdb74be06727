"""The issuer's cache of the manifests it just sealed (registry.index.manifest.ManifestCache):
an entry is taken once, and only the newest are held (each holds a batch's metadata)."""

from __future__ import annotations

import hashlib

from anchor.merkle import MerkleBatch
from registry.index import BatchManifest, ManifestCache, ManifestMember


def _manifest(tag: str) -> tuple[BatchManifest, MerkleBatch]:
    digests = [hashlib.sha256(f"{tag}-{i}".encode()).digest() for i in range(3)]
    tree = MerkleBatch.of(digests)
    members = tuple(ManifestMember(sha256=d.hex(), cid=f"cid-{d.hex()[:8]}",
                                   document_type="dcc", encrypted=False,
                                   unique_identifier=None, metadata={"n": i})
                    for i, d in enumerate(digests))
    return BatchManifest("ab" * 32, tree.root.hex(), members), tree


def test_a_remembered_manifest_is_taken_once_with_its_tree() -> None:
    cache = ManifestCache(capacity=2)
    manifest, tree = _manifest("a")
    cache.remember("cid-a", manifest, tree)
    assert cache.take("cid-b") is None
    assert cache.take("cid-a") == (manifest, tree)
    assert cache.take("cid-a") is None, "a batch is indexed once; a re-index reads the store"


def test_only_the_newest_manifests_are_held() -> None:
    cache = ManifestCache(capacity=2)
    for tag in "abc":
        cache.remember(f"cid-{tag}", *_manifest(tag))
    assert cache.take("cid-a") is None
    assert cache.take("cid-b") is not None and cache.take("cid-c") is not None
    disabled = ManifestCache(capacity=0)  # an indexer not sharing the issuer's store
    disabled.remember("cid-a", *_manifest("a"))
    assert disabled.take("cid-a") is None
