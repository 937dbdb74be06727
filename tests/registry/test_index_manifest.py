"""Batch manifest bytes (registry.index.manifest): written piece by piece, with the
metadata text issuance encoded once, they are byte for byte the canonical JSON of the
whole manifest that was written before, so sealing the same members gives the same CID."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from anchor.receipt import LEAF_ENCODING
from registry.documents.model import CanonicalJson
from registry.index import BatchManifest, ManifestMember
from registry.index.manifest import MANIFEST_FORMAT


def _previous_bytes(manifest: BatchManifest) -> bytes:
    """BatchManifest.to_bytes as it was: the whole value through json.dumps."""
    value = {"format": MANIFEST_FORMAT, "issuer_id": "0x" + manifest.issuer_id,
             "merkle_root": "0x" + manifest.root, "leaf_encoding": LEAF_ENCODING,
             "count": len(manifest.documents),
             "documents": [{"sha256": "0x" + m.sha256, "cid": m.cid,
                            "document_type": m.document_type, "encrypted": m.encrypted,
                            "unique_identifier": m.unique_identifier, "metadata": m.metadata}
                           for m in manifest.documents]}
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _text(rng: random.Random) -> str:
    """Any characters but lone surrogates (which UTF-8 cannot carry): quotes, backslashes,
    controls, line separators, CJK, emoji."""
    alphabet = ['"', "\\", "/", "\n", "\t", "\x00", "\x1f", "\x7f", "\u2028", "\u2029", "ß",
                "ü", "质", "\U0001f52c", "a", "Z", "0", " ", "{", "}", "[", "]", ",", ":"]
    return "".join(rng.choice(alphabet) if rng.random() < 0.7
                   else chr(rng.choice([rng.randrange(0x20, 0xd800),
                                        rng.randrange(0xe000, 0x110000)]))
                   for _ in range(rng.randrange(0, 24)))


def _value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return _text(rng)
    if choice == 1:
        return rng.randrange(-10**12, 10**12)
    if choice == 2:
        return rng.choice([0.1, -2.5e-300, 1e21, 3.141592653589793, 0.0])
    if choice == 3:
        return rng.choice([True, False])
    if choice == 4:
        return None
    if choice == 5:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {_text(rng): _value(rng, depth + 1) for _ in range(rng.randrange(5))}


def _members(rng: random.Random, n: int) -> list[ManifestMember]:
    members = []
    for i in range(n):
        encrypted = rng.random() < 0.2
        metadata = None if encrypted else {"format": "x/1", **{
            _text(rng): _value(rng) for _ in range(rng.randrange(6))}}
        given: CanonicalJson | dict[str, Any] | None = metadata
        if metadata is not None and rng.random() < 0.6:
            given = CanonicalJson.of(metadata)  # as the outbox cache holds it
        members.append(ManifestMember.published(
            f"{i:064x}", f"bafk{_text(rng)}", rng.choice(["dcc", "drmd", _text(rng)]),
            encrypted, rng.choice([None, _text(rng)]), given))
    return members


@pytest.mark.parametrize("seed", range(20))
def test_manifest_bytes_are_the_canonical_json_they_were(seed: int) -> None:
    rng = random.Random(seed)
    manifest = BatchManifest("ab" * 32, "cd" * 32, tuple(_members(rng, rng.randrange(0, 40))))

    data = manifest.to_bytes()

    assert data == _previous_bytes(manifest)
    assert BatchManifest.from_bytes(data) == manifest


def test_a_member_given_encoded_metadata_decodes_it_for_the_indexer() -> None:
    metadata = {"z": [1, {"b": "ü"}], "a": None}
    member = ManifestMember.published("00" * 32, "bafk", "dcc", False, "ID-1",
                                      CanonicalJson.of(metadata))
    assert member.metadata == metadata
    assert member.metadata_json == '{"a":null,"z":[1,{"b":"ü"}]}'
    assert member == ManifestMember.published("00" * 32, "bafk", "dcc", False, "ID-1", metadata)
