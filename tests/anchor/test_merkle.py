"""Merkle batches: identical to OpenZeppelin's StandardMerkleTree, proofs sound."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.errors import MerkleError
from anchor.merkle import MerkleBatch, MultiProof, leaf_hash, verify_multiproof, verify_proof
from tests.conftest import REPO_ROOT, require

OZ_SCRIPT = Path(__file__).with_name("oz_merkle_tree.js")
digests_strategy = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=64,
                            unique=True)


def digests(n: int, salt: str = "") -> list[bytes]:
    return [hashlib.sha256(f"{salt}doc-{i}".encode()).digest() for i in range(n)]


def openzeppelin_tree(values: list[bytes], multiproofs: list[list[bytes]] = ()) -> dict:
    node = shutil.which("node")
    require(node is not None and (REPO_ROOT / "node_modules/@openzeppelin/merkle-tree").is_dir(),
            "node and npm package @openzeppelin/merkle-tree (scripts/setup.sh)")
    request = {"digests": ["0x" + v.hex() for v in values],
               "multiproofs": [["0x" + v.hex() for v in chosen] for chosen in multiproofs]}
    out = subprocess.run([node, str(OZ_SCRIPT)], check=True, capture_output=True, timeout=120,
                         input=json.dumps(request).encode())
    return json.loads(out.stdout)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1000])
def test_merkle_root_and_proofs_match_openzeppelin_standard_tree(n: int) -> None:
    values = digests(n)
    batch = MerkleBatch.of(values)
    reference = openzeppelin_tree(values)
    assert "0x" + batch.root.hex() == reference["root"]
    for value in values:
        expected = reference["proofs"]["0x" + value.hex()]
        assert ["0x" + p.hex() for p in batch.proof(value)] == expected


def test_merkle_single_document_root_is_its_leaf_hash() -> None:
    # Single-document anchoring on chain relies on this: root = leaf, proof = [].
    (value,) = digests(1)
    batch = MerkleBatch.of([value])
    assert batch.root == leaf_hash(value)
    assert batch.proof(value) == ()


@settings(max_examples=200, deadline=None)
@given(digests_strategy)
def test_merkle_every_member_proves_inclusion(values: list[bytes]) -> None:
    batch = MerkleBatch.of(values)
    for value in values:
        assert verify_proof(batch.root, value, batch.proof(value))


@settings(max_examples=200, deadline=None)
@given(digests_strategy, st.binary(min_size=32, max_size=32))
def test_merkle_non_member_does_not_verify_with_any_member_proof(values: list[bytes],
                                                                  outsider: bytes) -> None:
    batch = MerkleBatch.of(values)
    if outsider in values:
        return
    for value in values:
        assert not verify_proof(batch.root, outsider, batch.proof(value))


@settings(max_examples=100, deadline=None)
@given(digests_strategy.filter(lambda v: len(v) >= 2), st.data())
def test_merkle_tampered_proof_is_rejected(values: list[bytes], data: st.DataObject) -> None:
    batch = MerkleBatch.of(values)
    value = data.draw(st.sampled_from(values))
    proof = list(batch.proof(value))
    position = data.draw(st.integers(0, len(proof) - 1))
    flipped = bytearray(proof[position])
    flipped[data.draw(st.integers(0, 31))] ^= 1 << data.draw(st.integers(0, 7))
    proof[position] = bytes(flipped)
    assert not verify_proof(batch.root, value, proof)


def test_merkle_root_does_not_depend_on_submission_order() -> None:
    values = digests(50)
    assert MerkleBatch.of(values).root == MerkleBatch.of(reversed(values)).root


def test_merkle_rejects_empty_and_duplicate_batches() -> None:
    with pytest.raises(MerkleError):
        MerkleBatch.of([])
    value = digests(1)[0]
    with pytest.raises(MerkleError):
        MerkleBatch.of([value, value])
    with pytest.raises(MerkleError):
        MerkleBatch.of([b"short"])
    with pytest.raises(MerkleError):
        MerkleBatch.of(digests(3)).proof(digests(1, salt="other")[0])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 1000])
def test_merkle_multiproofs_match_openzeppelin(n: int) -> None:
    values = digests(n, "multi")
    rng = random.Random(n)
    chosen = [values, values[:1], values[-1:], rng.sample(values, min(n, 5)),
              rng.sample(values, min(n, 40))]
    batch = MerkleBatch.of(values)
    reference = openzeppelin_tree(values, chosen)
    for subset, expected in zip(chosen, reference["multiproofs"], strict=True):
        multiproof = batch.multiproof(subset)
        assert ["0x" + d.hex() for d in multiproof.document_digests] == expected["leaves"]
        assert ["0x" + p.hex() for p in multiproof.proof] == expected["proof"]
        assert list(multiproof.proof_flags) == expected["proofFlags"]
        assert verify_multiproof(batch.root, multiproof)


@settings(max_examples=60, deadline=None)
@given(digests_strategy, st.data())
def test_merkle_multiproof_sound(values: list[bytes], data: st.DataObject) -> None:
    batch = MerkleBatch.of(values)
    subset = data.draw(st.lists(st.sampled_from(values), min_size=1, unique=True))
    multiproof = batch.multiproof(subset)
    assert sorted(multiproof.document_digests) == sorted(subset)
    assert verify_multiproof(batch.root, multiproof)
    outsider = hashlib.sha256(b"not in the batch").digest()
    swapped = (outsider, *multiproof.document_digests[1:])
    assert not verify_multiproof(batch.root, MultiProof(swapped, multiproof.proof,
                                                        multiproof.proof_flags))
    if multiproof.proof:
        tampered = (bytes(32), *multiproof.proof[1:])
        assert not verify_multiproof(batch.root, MultiProof(
            multiproof.document_digests, tampered, multiproof.proof_flags))


def test_merkle_multiproof_refuses_unknown_duplicate_and_empty() -> None:
    values = digests(4, "refuse")
    batch = MerkleBatch.of(values)
    with pytest.raises(MerkleError):
        batch.multiproof([hashlib.sha256(b"stranger").digest()])
    with pytest.raises(MerkleError):
        batch.multiproof([values[0], values[0]])
    with pytest.raises(MerkleError):
        batch.multiproof([])
