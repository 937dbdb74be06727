#!/usr/bin/env python
"""The gas floor of a revocation: what any contract keeping our guarantees must spend.

`scripts/gas_floor/RevocationFloor.sol` (benchmark only, never deployed by certreg) keeps
exactly CertificateRegistry's revocation guarantees (pause, the operator's issuer, the
issuer not retired, the batch being that issuer's, the inclusion proof, one irreversible
packed record per document, one event) and nothing else. This script compiles it with the
registry's compiler and settings, deploys it on the chain it is given and, for each batch
size N, revokes random documents of a real N-document MerkleBatch with their proofs:

* `floor`: `revoke` with every guarantee;
* `unguarded`: `revokeUnguarded`, without the pause, operator and retirement checks: a
  proof, a record and an event, nothing else;
* `floor_many`: one `revokeMany` of `revoke_many` documents by one multiproof.

Next to each figure, `unavoidable` is what no contract can spend less than whatever its
code: the transaction's intrinsic 21,000, its calldata (16 gas per non-zero byte, 4 per
zero byte, EIP-2028) and one new storage slot (22,100: 20,000 to set it, EIP-2200, plus
2,100 for its cold access, EIP-2929). scripts/bench_eas.py runs this beside EAS `revoke`
on the same chain; standalone it starts its own anvil and prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from anchor.compile import COMPILER_SETTINGS, NODE_MODULES, solc_binary  # noqa: E402
from anchor.merkle import MerkleBatch  # noqa: E402

FLOOR_SOURCE = Path(__file__).resolve().parent / "gas_floor" / "RevocationFloor.sol"
TX_INTRINSIC_GAS = 21_000
NEW_SLOT_GAS = 22_100  # SSTORE zero -> non-zero (20,000) + cold slot access (2,100)
SIZES = (100, 10_000, 100_000)


def calldata_gas(data: bytes) -> int:
    zeros = data.count(0)
    return 4 * zeros + 16 * (len(data) - zeros)


def compile_floor() -> dict:
    import solcx

    settings = {**COMPILER_SETTINGS,
                "remappings": [f"@openzeppelin/={NODE_MODULES}/@openzeppelin/"]}
    output = solcx.compile_standard(
        {"language": "Solidity",
         "sources": {"RevocationFloor.sol": {"content": FLOOR_SOURCE.read_text()}},
         "settings": settings},
        solc_binary=solc_binary(), allow_paths=[str(NODE_MODULES)])
    compiled = output["contracts"]["RevocationFloor.sol"]["RevocationFloor"]
    return {"abi": compiled["abi"], "bytecode": "0x" + compiled["evm"]["bytecode"]["object"]}


def _summary(values: list[int]) -> dict[str, float | int]:
    return {"mean": round(statistics.fmean(values), 1), "min": min(values), "max": max(values),
            "revocations": len(values)}


def measure(w3: Any, sender: str, *, sizes: tuple[int, ...] = SIZES, revocations: int = 5,
            revoke_many: int = 100, seed: int = 20261204) -> dict:
    """Deploy the floor contract and measure it; `sender` is an unlocked account of `w3`."""
    artifact = compile_floor()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    deployed = w3.eth.wait_for_transaction_receipt(
        factory.constructor().transact({"from": sender}))
    contract = w3.eth.contract(address=deployed.contractAddress, abi=artifact["abi"])
    rng = random.Random(seed)

    def gas_of(call: Any) -> tuple[int, int]:
        tx = call.transact({"from": sender})
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        if receipt.status != 1:
            raise RuntimeError(f"floor transaction reverted: {tx.hex()}")
        data = bytes(w3.eth.get_transaction(tx)["input"])
        return int(receipt.gasUsed), TX_INTRINSIC_GAS + calldata_gas(data)

    if min(sizes) < 2 * revocations:
        raise ValueError(f"a batch of {min(sizes)} cannot give 2 x {revocations} revocations")
    results: dict[str, dict] = {}
    for batch_id, n in enumerate(sizes, start=1):
        digests = [rng.randbytes(32) for _ in range(n)]
        batch = MerkleBatch.of(digests)
        w3.eth.wait_for_transaction_receipt(
            contract.functions.setUp(sender, 7, batch.root, batch_id).transact({"from": sender}))
        chosen = rng.sample(digests, min(n, 2 * revocations + revoke_many))
        entry: dict[str, Any] = {}
        for kind, function in (("floor", contract.functions.revoke),
                               ("unguarded", contract.functions.revokeUnguarded)):
            used, unavoidable, proof_lengths = [], [], []
            for _ in range(revocations):
                digest = chosen.pop()
                proof = list(batch.proof(digest))
                gas, floor = gas_of(function(digest, batch.root, proof, 1))
                used.append(gas)
                unavoidable.append(floor + NEW_SLOT_GAS)
                proof_lengths.append(len(proof))
            entry[kind] = {**_summary(used), "unavoidable": _summary(unavoidable),
                           "proof_length_min": min(proof_lengths),
                           "proof_length_max": max(proof_lengths)}
        if chosen:
            multiproof = batch.multiproof(chosen[:revoke_many])
            count = len(multiproof.document_digests)
            gas, floor = gas_of(contract.functions.revokeMany(
                batch.root, list(multiproof.document_digests), list(multiproof.proof),
                list(multiproof.proof_flags), 1))
            entry["floor_many"] = {
                "revocations": count, "total_gas": gas,
                "gas_per_revocation": round(gas / count, 1),
                "unavoidable_per_revocation": round((floor + count * NEW_SLOT_GAS) / count, 1),
                "multiproof_length": len(multiproof.proof)}
        results[str(n)] = entry
    return {"sizes": list(sizes), "revocations": revocations, "revoke_many": revoke_many,
            "seed": seed, "gas": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--revocations", type=int, default=5)
    parser.add_argument("--revoke-many", type=int, default=100)
    args = parser.parse_args(argv)
    from web3 import Web3

    from anchor.services.anvil import AnvilNode

    with tempfile.TemporaryDirectory(prefix="certreg-gas-floor-") as workdir:
        node = AnvilNode.start(workdir=Path(workdir), extra_args=("--gas-limit", "300000000"))
        try:
            w3 = Web3(Web3.HTTPProvider(node.rpc_url))
            report = measure(w3, w3.eth.accounts[0],
                             sizes=tuple(int(s) for s in args.sizes.split(",")),
                             revocations=args.revocations, revoke_many=args.revoke_many)
        finally:
            node.stop()
    print(json.dumps({"benchmark": "gas_floor", **report}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
