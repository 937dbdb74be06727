"""scripts/bench_gas_floor.py on a real anvil: the revocation floor is an honest floor.

The floor contract only means something if it keeps the guarantees it claims (a wrong
proof, a second revocation and a stranger are all refused) and if its figures order the
way the argument needs: unavoidable < unguarded < guarded.
"""

from __future__ import annotations

import random

import pytest
from web3 import Web3
from web3.exceptions import ContractLogicError

from anchor.merkle import MerkleBatch
from anchor.services.anvil import AnvilNode
from scripts import bench_gas_floor


@pytest.fixture(scope="module")
def w3(anvil: AnvilNode) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.rpc_url))


def test_floor_figures_order_as_the_argument_needs(w3: Web3) -> None:
    report = bench_gas_floor.measure(w3, w3.eth.accounts[0], sizes=(4, 64), revocations=2,
                                     revoke_many=8)
    for n in ("4", "64"):
        row = report["gas"][n]
        assert row["unguarded"]["unavoidable"]["max"] < row["unguarded"]["min"]
        # The three checks cost at least three cold reads (EIP-2929: 2,100 each).
        assert row["floor"]["min"] - row["unguarded"]["max"] >= 3 * 2_100
    big = report["gas"]["64"]
    assert big["floor"]["proof_length_min"] == 6
    assert big["floor"]["min"] > report["gas"]["4"]["floor"]["max"]  # the proof's price
    many = big["floor_many"]
    assert many["revocations"] == 8
    assert bench_gas_floor.NEW_SLOT_GAS < many["unavoidable_per_revocation"] < \
        many["gas_per_revocation"]


def test_floor_contract_refuses_what_a_registry_refuses(w3: Web3) -> None:
    artifact = bench_gas_floor.compile_floor()
    owner, stranger = w3.eth.accounts[0], w3.eth.accounts[1]
    deployed = w3.eth.wait_for_transaction_receipt(w3.eth.contract(
        abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor().transact(
        {"from": owner}))
    floor = w3.eth.contract(address=deployed.contractAddress, abi=artifact["abi"])
    rng = random.Random(3)
    digests = [rng.randbytes(32) for _ in range(8)]
    batch = MerkleBatch.of(digests)
    w3.eth.wait_for_transaction_receipt(
        floor.functions.setUp(owner, 1, batch.root, 1).transact({"from": owner}))
    first, second = digests[0], digests[1]
    with pytest.raises(ContractLogicError):  # another document's proof
        floor.functions.revoke(first, batch.root, list(batch.proof(second)), 1).call(
            {"from": owner})
    with pytest.raises(ContractLogicError):  # not an operator of the batch's issuer
        floor.functions.revoke(first, batch.root, list(batch.proof(first)), 1).call(
            {"from": stranger})
    w3.eth.wait_for_transaction_receipt(floor.functions.revoke(
        first, batch.root, list(batch.proof(first)), 1).transact({"from": owner}))
    with pytest.raises(ContractLogicError):  # irreversible: no second revocation
        floor.functions.revoke(first, batch.root, list(batch.proof(first)), 1).call(
            {"from": owner})
