"""Proofs built in Python verify on chain with OpenZeppelin's MerkleProof."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anchor.merkle import MerkleBatch, leaf_hash
from anchor.services.anvil import AnvilNode
from tests.anchor.registry_fixtures import RegistryWorld, cid_of, deploy_world


@pytest.fixture(scope="module")
def world(anvil: AnvilNode) -> RegistryWorld:
    return deploy_world(anvil)


def digests(n: int, salt: str) -> list[bytes]:
    return [hashlib.sha256(f"{salt}:{i}".encode()).digest() for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1000, 100_000])
def test_merkle_python_proofs_verify_on_chain(world: RegistryWorld, n: int) -> None:
    values = digests(n, f"onchain-{n}")
    batch = MerkleBatch.of(values)
    anchored = world.ptb_operator.anchor_batch(batch.root, len(batch), cid_of(f"manifest-{n}"))
    batch_id = anchored.batch.batch_id
    # Every leaf for small trees; for large ones the extremes plus a random sample.
    sample = values if n <= 1000 else [values[0], values[-1], *random.Random(n).sample(values, 60)]
    for value in sample:
        assert world.outsider.verify(value, batch_id, batch.proof(value)).anchored
    # A proof belongs to its own leaf only.
    if n > 1:
        assert not world.outsider.verify(values[0], batch_id, batch.proof(values[-1])).anchored


def test_merkle_leaf_encoding_matches_contract(world: RegistryWorld) -> None:
    for value in digests(5, "leaf"):
        assert world.outsider.leaf_of(value) == leaf_hash(value)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True),
       st.data())
def test_merkle_random_batches_verify_on_chain(world: RegistryWorld, values: list[bytes],
                                               data: st.DataObject) -> None:
    batch = MerkleBatch.of(values)
    anchored = world.ptb_operator.anchor_batch(batch.root, len(batch), cid_of("hypothesis"))
    value = data.draw(st.sampled_from(values))
    assert world.outsider.verify(value, anchored.batch.batch_id, batch.proof(value)).anchored
