#!/usr/bin/env python
"""Our registry against the Ethereum Attestation Service (EAS): gas and verification rate.

EAS is what an Ethereum user would pick to attest document hashes. Its contracts
(npm `@ethereum-attestation-service/eas-contracts`, pinned in package.json) are
compiled here from their sources in node_modules and deployed beside our
CertificateRegistry on the same chain: a fresh anvil (default), or a geth Clique
network (`--chain clique`; `--chain both` measures both and compares the gas).

Which compiler. Every EAS release pins an exact compiler (`pragma solidity 0.8.29;`
in 1.9.0) and the OpenZeppelin it was built with (5.3.0, a devDependency, so npm
does not install it); our contract is built by solc 0.8.28 against OpenZeppelin
5.7.0. The run first tries EAS with our compiler and our OpenZeppelin for `paris`
(the last EVM our Clique network runs) and reports the compiler's errors verbatim
under `compiler.rejected_routes`, then compiles with what EAS pins: solcjs 0.8.29
(npm alias `solc-0.8.29`), OpenZeppelin 5.3.0 (npm alias
`openzeppelin-contracts-5.3.0`, via a remapping) and the settings of EAS's own
hardhat.config.ts (optimizer 1,000,000 runs, evmVersion paris, no metadata hash).
`compiler.matches_published_artifact` says whether that reproduces the bytecode
shipped in the npm package. EAS sources are never modified.

What is measured (gas from real transaction receipts; gas is deterministic, so it
is measured once per N; the verification rate is timed over `--runs` >= 5 runs):

* gas per certificate for each N in --sizes:
  - EAS `attest`, one transaction per document (schema "bytes32 documentHash",
    revocable, no resolver, no recipient, no expiry, the SHA-256 as data). Up to
    --full-limit documents every one is sent (pipelined, explicit nonces); above it a
    random sample of --sample documents is sent and `sampled` says so;
  - EAS `multiAttest`, all N documents in batches; EAS `timestamp(bytes32)` one per
    document (full or sampled like attest); EAS `multiTimestamp`, all N in batches.
    A batch size is chosen per function: the one with the lowest estimated gas per
    document among powers of two and the largest batch that fits
    min(block gas limit, 2**24) (EIP-7825's per-transaction cap since Osaka), the
    same limit on every chain so figures stay comparable;
  - ours: one `anchorBatch(root, N, manifestDigest, manifestCodec)` with the Merkle
    root of the N documents (anchor.merkle.MerkleBatch) and a real CIDv1 as manifest
    CID (contract version 2 takes its digest and codec and keeps them in the event);
  - ratio_* = EAS gas per document / our gas per document.
* revocation gas per N: EAS `revoke` of --revocations attestations made at that N vs
  our `revoke(hash, root, proof, reason, 0, 0)` of as many documents of the N-batch
  (the proof grows with log2 N); and batched: one EAS `multiRevoke` of --revoke-many
  attestations vs one `revokeMany(root, hashes, multiproof, flags, reason, 0)` of as
  many documents of the N-batch picked at random (gas per revocation; the multiproof
  grows with N and with how spread the documents are over the tree).
* verification rate: eth_call round trips over loopback HTTP with pre-encoded calldata.
  One EAS check = `getAttestation(uid)` + `isAttestationValid(uid)` (two calls; the
  second only says the attestation exists, revocation is in the first); one check of
  ours = `verify(hash, batchId, proof)` with a proof from the largest batch. Checks
  per second, median/min/max over the runs, and the paired per-run ratio ours/EAS.

Prints one JSON object on stdout (progress on stderr); `run()` returns the same dict:

    {"benchmark": "eas", "mode": "quick"|"full", "chain": "anvil"|"clique",
     "versions": {"eas_contracts", "eas_solc", "eas_openzeppelin", "ours_solc",
                  "ours_openzeppelin", "anvil"|"geth", "python", "web3"},
     "compiler": {"eas": {"solc", "openzeppelin", "settings", "seconds",
                          "matches_published_artifact": {"EAS": bool, "SchemaRegistry": bool}},
                  "rejected_routes": [{"route", "solc", "openzeppelin", "evmVersion",
                                       "compiled": bool, "error_count", "first_error"}]},
     "settings": {"sizes", "runs", "full_limit", "sample", "revocations",
                  "verify_checks_per_run", "seed", "eip7825_tx_gas_cap", ...},
     "gas_deterministic": true,
     "block_gas_limit": int,
     "deployment_gas": {"schema_registry", "eas", "schema_registration",
                        "ours_deploy", "ours_setup"},
     "batch_sizes": {"eas_multi_attest": {"chosen", "estimated_gas_per_document": {B: gas}},
                     "eas_multi_timestamp": {...}},
     "gas_per_certificate": {"<N>": {
         "eas_attest", "eas_multi_attest", "eas_timestamp", "eas_multi_timestamp",
         "ours_batch",                                  # gas per document
         "ratio_attest", "ratio_multi_attest", "ratio_timestamp", "ratio_multi_timestamp",
         "detail": {"<method>": {"documents", "transactions", "sampled", "total_gas",
                                 "min_tx_gas", "max_tx_gas", "execution_gas_min",
                                 "execution_gas_max", ...}}}},
     "ours_anchor_document_gas": int,                   # anchorDocument, a batch of one
     "ours_first_anchoring_gas": int,   # the registry's very first anchoring (done
                                        # before measuring)
     "revocation_gas": {"<N>": {"eas_revoke": {"mean", "min", "max", "revocations",
                                               "execution_gas_min", "execution_gas_max"},
                                "ours": {<the same>,
                                         "proof_length_min", "proof_length_max"},
                                "ratio": eas mean / ours mean,
                                # when N leaves room for >= 2 more revocations:
                                "eas_multi_revoke": {"revocations", "total_gas",
                                                     "gas_per_revocation"},
                                "ours_revoke_many": {<the same>, "multiproof_length"},
                                "ratio_many": EAS / ours gas per revocation}},
     "verify_calls_per_s": {"eas": {"checks_per_second": {median, min, max, runs},
                                    "eth_calls_per_second": {...}, "eth_calls_per_check": 2},
                            "ours": {..., "eth_calls_per_check": 1, "proof_length",
                                     "batch_size"},
                            "ratio": {median, min, max, runs},   # ours/EAS checks per second
                            "eas_get_attestation_only": {"checks_per_second",
                                                         "ratio_ours_over_it"},
                            "checks_per_run": int},
     "contracts": {"eas", "schema_registry", "schema_uid", "registry", "attester",
                   "operator"},
     "wall_seconds": float,
     # with --chain both: the Clique measurement, same keys, and the comparison
     "clique": {..., "gas_identical_to_anvil": bool, "gas_differences": [...]}}

How transactions are sent: on anvil, in JSON-RPC batches of 500 transactions with
explicit nonces, signed by anvil (its unlocked development accounts), automine off and
blocks mined on demand; the anvil this script starts has a 300M block gas limit so that
fewer blocks are needed (anvil's time per block grows with its state). On Clique, signed
locally, pipelined up to 1,000 in flight, sealed every second. None of this changes gas.

execution_gas = gasUsed - 21000 - calldata gas (4 per zero byte, 16 per other byte):
what the contract itself spent, identical for every `attest`/`timestamp` whatever the
document; gasUsed differs only by the zero bytes of each document's hash.

Usage: scripts/bench_eas.py [--quick] [--runs 5] [--sizes 1,100,10000,100000]
       [--chain anvil|clique|both]

Where the code is: `bench_eas_contracts` (EAS compiled from npm and deployed, ours
deployed), `bench_eas_chain` (the chains, sending transactions, the run parameters),
`bench_eas_gas` (the gas figures), `bench_eas_verify` (the verification rate); here, the
run over one or both chains and the command line.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import web3 as web3_package

# The pieces are imported as `scripts.*`: scripts/bench.py runs this file with the
# repository on PYTHONPATH, a direct run may not have it.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from anchor.compile import load_artifact  # noqa: E402
from scripts import bench_gas_floor  # noqa: E402
from scripts.bench_eas_chain import Params, log, open_chain  # noqa: E402
from scripts.bench_eas_contracts import (  # noqa: E402
    ATTESTED_TOPIC,
    EAS_OZ_MODULE,
    EAS_PACKAGE,
    EAS_SOLC_MODULE,
    NODE_MODULES,
    OUR_OZ_MODULE,
    REVOKED_TOPIC,
    SCHEMA,
    _package_version,
    compile_eas,
    rejected_routes,
)
from scripts.bench_eas_gas import EIP7825_TX_GAS_CAP, gas_differences, measure_chain  # noqa: E402

QUICK = {"sizes": (1, 100, 1000), "full_limit": 100, "sample": 50, "revocations": 3,
         "revoke_many": 20, "verify_checks": 200}
FULL = {"sizes": (1, 100, 10_000, 100_000), "full_limit": 10_000, "sample": 1_000,
        "revocations": 5, "revoke_many": 100, "verify_checks": 2_000}


def run(quick: bool = False, runs: int = 5, sizes: Sequence[int] | None = None,
        chain: str = "anvil", *, rpc_url: str | None = None, full_limit: int | None = None,
        sample: int | None = None, revocations: int | None = None,
        verify_checks: int | None = None, seed: int | None = None,
        revoke_many: int | None = None) -> dict:
    """Run the benchmark and return the JSON-ready result (see the module docstring).

    `rpc_url` uses an already running anvil (started with anvil's development mnemonic)
    instead of starting one. `chain` is "anvil", "clique" or "both".
    """
    if runs < 5:
        raise ValueError("timing figures need at least 5 runs")
    started = time.perf_counter()
    defaults = QUICK if quick else FULL
    params = Params(
        sizes=tuple(sizes or defaults["sizes"]), runs=runs,
        full_limit=defaults["full_limit"] if full_limit is None else full_limit,
        sample=defaults["sample"] if sample is None else sample,
        revocations=defaults["revocations"] if revocations is None else revocations,
        revoke_many=defaults["revoke_many"] if revoke_many is None else revoke_many,
        verify_checks=defaults["verify_checks"] if verify_checks is None else verify_checks,
        seed=random.SystemRandom().randrange(2**32) if seed is None else seed)
    if min(params.sizes) < 1:
        raise ValueError("sizes must be positive")
    log(f"compiling EAS {_package_version(EAS_PACKAGE)} from node_modules")
    compiled = compile_eas()
    routes = rejected_routes()
    ours_artifact = load_artifact()
    result: dict[str, Any] = {
        "benchmark": "eas",
        "mode": "quick" if quick else "full",
        "versions": {"eas_contracts": compiled["eas_contracts"], "eas_solc": compiled["solc"],
                     "eas_openzeppelin": compiled["openzeppelin"],
                     "ours_solc": ours_artifact["compiler"]["solc"],
                     "ours_openzeppelin": _package_version(OUR_OZ_MODULE),
                     "python": platform.python_version(), "web3": web3_package.__version__},
        "compiler": {"eas": {k: compiled[k] for k in ("solc", "openzeppelin", "settings",
                                                       "seconds", "matches_published_artifact")},
                     "ours": {"solc": ours_artifact["compiler"]["solc"],
                              "settings": {k: v for k, v in ours_artifact["compiler"]["settings"]
                                           .items() if k != "outputSelection"}},
                     "rejected_routes": routes},
        "settings": {"sizes": list(params.sizes), "runs": params.runs,
                     "full_limit": params.full_limit, "sample": params.sample,
                     "revocations": params.revocations, "revoke_many": params.revoke_many,
                     "verify_checks_per_run": params.verify_checks, "seed": params.seed,
                     "eip7825_tx_gas_cap": EIP7825_TX_GAS_CAP,
                     "schema": SCHEMA, "recipient": "none (zero address)",
                     "our_revocation": "reason withdrawn, no replacement, effectiveFrom 0"},
    }
    chains = ["anvil", "clique"] if chain == "both" else [chain]
    measured: dict[str, dict] = {}
    for name in chains:
        reuse = (chains[0], measured[chains[0]]["batch_sizes"]) if measured else None
        with open_chain(name, rpc_url if name == "anvil" else None) as opened:
            result["versions"].update(opened.versions)
            measured[name] = measure_chain(opened, compiled, params, reuse)
            if name == "anvil":
                # What any contract keeping our revocation guarantees must spend, on the
                # same chain as EAS revoke (anvil only: it signs for its own accounts).
                log("anvil: the revocation gas floor")
                floor_sizes = tuple(n for n in params.sizes if n >= 2 * params.revocations)
                if floor_sizes:
                    measured[name]["revocation_floor"] = bench_gas_floor.measure(
                        opened.w3, opened.w3.eth.accounts[0], sizes=floor_sizes,
                        revocations=params.revocations, revoke_many=params.revoke_many,
                        seed=params.seed)
    result.update(measured[chains[0]])
    if len(chains) > 1:
        differences = gas_differences(measured["anvil"], measured["clique"])
        result["clique"] = {
            **measured["clique"], "gas_identical_to_anvil": not differences,
            "gas_differences": differences,
            "gas_compared": "every gas_per_certificate figure, revocation execution gas and "
                            "our anchoring; not deployment_gas: anvil (Osaka) charges "
                            "EIP-3860 initcode gas that London does not, and constructor "
                            "and setup arguments hold each chain's own accounts"}
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 1,100,1000, short loops")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (at least 5)")
    parser.add_argument("--sizes", help="comma-separated N (default 1,100,10000,100000)")
    parser.add_argument("--chain", choices=("anvil", "clique", "both"), default="anvil")
    parser.add_argument("--rpc-url", help="a running anvil (development mnemonic) to use")
    parser.add_argument("--full-limit", type=int,
                        help="largest N sent one transaction per document (else sampled)")
    parser.add_argument("--sample", type=int, help="documents sampled above --full-limit")
    parser.add_argument("--revocations", type=int, help="revocations per N and system")
    parser.add_argument("--revoke-many", type=int,
                        help="revocations per multiRevoke / revokeMany transaction")
    parser.add_argument("--verify-checks", type=int, help="verifications per timed run")
    parser.add_argument("--seed", type=int, help="seed of the samples (default: random)")
    args = parser.parse_args(argv)
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    result = run(args.quick, args.runs, sizes, args.chain, rpc_url=args.rpc_url,
                 full_limit=args.full_limit, sample=args.sample, revocations=args.revocations,
                 verify_checks=args.verify_checks, seed=args.seed,
                 revoke_many=args.revoke_many)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "ATTESTED_TOPIC", "EAS_OZ_MODULE", "EAS_PACKAGE", "EAS_SOLC_MODULE", "FULL",
    "NODE_MODULES", "QUICK", "REVOKED_TOPIC", "_package_version", "main", "run",
]
