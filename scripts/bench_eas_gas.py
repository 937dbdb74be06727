"""The gas figures of `scripts/bench_eas.py`: per certificate for each N and function (EAS
attest, multiAttest, timestamp, multiTimestamp; ours anchorBatch), per revocation (single
and batched), and the comparison of two chains' figures.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from anchor.chain import RegistryClient, RevocationReason, manifest_cid_parts
from anchor.cid import compute_cid
from anchor.compile import load_artifact
from anchor.merkle import MerkleBatch
from scripts.bench_eas_chain import Abi, Chain, Params, Pipe, gas_limit, log
from scripts.bench_eas_contracts import (
    SCHEMA,
    TIMESTAMPED_TOPIC,
    ZERO32,
    Eas,
    deploy_ours,
)
from scripts.bench_eas_verify import measure_verification

EIP7825_TX_GAS_CAP = 2**24  # Osaka: no transaction may carry more gas than this
TX_BASE_GAS = 21_000


def digest(salt: str, index: int) -> bytes:
    return hashlib.sha256(f"{salt}:{index}".encode()).digest()


def calldata_gas(data: bytes) -> int:
    """EIP-2028 calldata price: 4 gas per zero byte, 16 per other byte."""
    zeros = data.count(0)
    return 4 * zeros + 16 * (len(data) - zeros)


def tx_stats(receipts: Sequence[Any], calldata: Sequence[bytes], documents: int,
             sampled: int | None, **extra: Any) -> dict:
    gas = [int(r["gasUsed"]) for r in receipts]
    execution = [g - TX_BASE_GAS - calldata_gas(d) for g, d in zip(gas, calldata, strict=True)]
    counted = sampled if sampled is not None else documents
    return {"documents": documents, "transactions": len(receipts), "sampled": sampled,
            "total_gas": sum(gas), "gas_per_document": round(sum(gas) / counted, 2),
            "min_tx_gas": min(gas), "max_tx_gas": max(gas),
            "execution_gas_min": min(execution), "execution_gas_max": max(execution), **extra}


def gas_summary(gas: Sequence[int], calldata: Sequence[bytes]) -> dict:
    execution = [g - TX_BASE_GAS - calldata_gas(d) for g, d in zip(gas, calldata, strict=True)]
    return {"mean": statistics.fmean(gas), "min": min(gas), "max": max(gas),
            "revocations": len(gas), "execution_gas_min": min(execution),
            "execution_gas_max": max(execution)}


def choose_batch_size(pipe: Pipe, to: str, make: Callable[[int], bytes], cap: int) -> dict:
    """The batch size with the lowest estimated gas per document that fits `cap`."""
    def fits(size: int) -> int | None:
        estimate = pipe.estimate(to, make(size))
        return estimate if gas_limit(estimate) <= cap else None

    small, large = 16, 32
    g_small, g_large = pipe.estimate(to, make(small)), pipe.estimate(to, make(large))
    marginal = (g_large - g_small) / (large - small)
    fixed = g_small - small * marginal
    largest = max(1, int(((cap - 10_000) / 1.2 - fixed) / marginal))
    while fits(largest) is None:  # memory costs grow faster than linearly
        largest = int(largest * 0.97)
    candidates = sorted({2**k for k in range(largest.bit_length()) if 2**k <= largest} | {largest})
    per_document = {}
    for size in candidates:
        estimate = fits(size)
        if estimate is not None:
            per_document[size] = round(estimate / size, 1)
    chosen = min(per_document, key=lambda s: (per_document[s], -s))
    return {"chosen": chosen, "largest_fitting": largest, "gas_cap": cap,
            "estimated_gas_per_document": {str(k): v for k, v in per_document.items()}}


def batched(items: Sequence[bytes], size: int) -> Iterator[Sequence[bytes]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def measure_chain(chain: Chain, compiled: dict, params: Params,
                  reuse_batch_sizes: tuple[str, dict] | None = None) -> dict:
    """Every figure on one chain. `reuse_batch_sizes` = (chain name, its batch_sizes):
    batch the same way as on that chain, so the two chains' gas can be compared exactly."""
    started = time.perf_counter()
    rng = random.Random(params.seed)
    w3 = chain.w3
    log(f"{chain.name}: deploying our registry and EAS")
    operator, ours_gas = deploy_ours(chain)
    ours_abi = Abi(load_artifact()["abi"])
    eas = Eas(chain, compiled)
    pipe = eas.pipe
    # Fast calldata must equal web3's own encoding.
    probe = digest("encoding-check", 0)
    if eas.attest_data(probe) != bytes.fromhex(eas.contract.encode_abi(
            "attest", [(eas.schema_uid, eas._request(probe))])[2:]):
        raise AssertionError("calldata encoding differs from web3's")

    block_limit = int(w3.eth.get_block("latest")["gasLimit"])
    cap = min(block_limit, EIP7825_TX_GAS_CAP)
    if reuse_batch_sizes is None and block_limit < EIP7825_TX_GAS_CAP:
        log(f"{chain.name}: block gas limit {block_limit} is below 2**24: batches are smaller")
    if reuse_batch_sizes is None:
        log(f"{chain.name}: choosing batch sizes (gas cap per transaction {cap})")
        batch_sizes = {
            "eas_multi_attest": choose_batch_size(
                pipe, eas.address,
                lambda n: eas.multi_attest_data([digest("size-probe", i) for i in range(n)]),
                cap),
            "eas_multi_timestamp": choose_batch_size(
                pipe, eas.address,
                lambda n: eas.multi_timestamp_data([digest("size-probe", i) for i in range(n)]),
                cap),
        }
    else:
        source, sizes = reuse_batch_sizes
        batch_sizes = {key: {"chosen": value["chosen"], "gas_cap": cap, "chosen_on": source}
                       for key, value in sizes.items()}

    # The registry's first anchoring may cost more than later ones (with contract
    # version 1 it created the batch counter's slot; version 2 packs the counter into a
    # slot issuer registration already wrote): done once before measuring, so every
    # figure below is the steady state of a registry in use. Its gas is reported.
    warmup = digest("first-anchoring", 0)
    first = operator.anchor_document(warmup, str(compute_cid(warmup)))
    first_anchoring_gas = int(w3.eth.get_transaction_receipt(first.transaction_hash)["gasUsed"])
    single = digest("anchor-document", 0)
    anchored_single = operator.anchor_document(single, str(compute_cid(single)))
    anchor_document_gas = int(w3.eth.get_transaction_receipt(
        anchored_single.transaction_hash)["gasUsed"])

    gas_table: dict[str, dict] = {}
    revocations: dict[str, dict] = {}
    largest = max(params.sizes)
    verify_probe: dict[str, Any] = {}
    for n in params.sizes:
        t0 = time.perf_counter()
        detail: dict[str, dict] = {}
        sampled = None if n <= params.full_limit else min(params.sample, n)
        indexes = range(n) if sampled is None else sorted(rng.sample(range(n), sampled))

        # EAS attest, one transaction per document.
        hashes = [digest(f"attest-{n}", i) for i in indexes]
        data = [eas.attest_data(h) for h in hashes]
        gas = gas_limit(pipe.estimate(eas.address, data[0]))
        log(f"{chain.name} N={n}: {len(data)} attest transactions")
        receipts = pipe.send_all(eas.address, ((d, gas) for d in data))
        attest_uids = eas.uids(receipts)
        assert len(attest_uids) == len(data)
        detail["eas_attest"] = tx_stats(receipts, data, n, sampled)

        # EAS multiAttest, all N documents.
        size = batch_sizes["eas_multi_attest"]["chosen"]
        hashes = [digest(f"multi-attest-{n}", i) for i in range(n)]
        data = [eas.multi_attest_data(chunk) for chunk in batched(hashes, size)]
        log(f"{chain.name} N={n}: {len(data)} multiAttest transactions of <= {size}")
        receipts = pipe.send_all(eas.address,
                                 ((d, gas_limit(pipe.estimate(eas.address, d))) for d in data))
        multi_uids = eas.uids(receipts)
        assert len(multi_uids) == n
        detail["eas_multi_attest"] = tx_stats(receipts, data, n, None, batch_size=size)

        # EAS timestamp, one per document.
        data = [eas.timestamp_data(digest(f"timestamp-{n}", i)) for i in indexes]
        gas = gas_limit(pipe.estimate(eas.address, data[0]))
        log(f"{chain.name} N={n}: {len(data)} timestamp transactions")
        receipts = pipe.send_all(eas.address, ((d, gas) for d in data))
        assert len(eas.uids(receipts, TIMESTAMPED_TOPIC)) == len(data)
        detail["eas_timestamp"] = tx_stats(receipts, data, n, sampled)

        # EAS multiTimestamp, all N.
        size = batch_sizes["eas_multi_timestamp"]["chosen"]
        hashes = [digest(f"multi-timestamp-{n}", i) for i in range(n)]
        data = [eas.multi_timestamp_data(chunk) for chunk in batched(hashes, size)]
        log(f"{chain.name} N={n}: {len(data)} multiTimestamp transactions of <= {size}")
        receipts = pipe.send_all(eas.address,
                                 ((d, gas_limit(pipe.estimate(eas.address, d))) for d in data))
        assert len(eas.uids(receipts, TIMESTAMPED_TOPIC)) == n
        detail["eas_multi_timestamp"] = tx_stats(receipts, data, n, None, batch_size=size)

        # Ours: one anchorBatch with the Merkle root of the N documents.
        documents = [digest(f"ours-{n}", i) for i in range(n)]
        build_started = time.perf_counter()
        batch = MerkleBatch.of(documents)
        build_seconds = time.perf_counter() - build_started
        # A real CIDv1 of the right kind for the manifest (here: the sorted hash list).
        manifest_cid = str(compute_cid(b"".join(sorted(documents))))
        log(f"{chain.name} N={n}: anchorBatch")
        anchored = operator.anchor_batch(batch.root, n, manifest_cid)
        receipt = w3.eth.get_transaction_receipt(anchored.transaction_hash)
        input_data = ours_abi.encode("anchorBatch", batch.root, n,
                                     *manifest_cid_parts(manifest_cid))
        detail["ours_batch"] = tx_stats([receipt], [input_data], n, None,
                                        batch_id=anchored.batch.batch_id,
                                        manifest_cid_length=len(manifest_cid),
                                        merkle_build_seconds=round(build_seconds, 3))

        row: dict[str, Any] = {key: detail[key]["gas_per_document"] for key in detail}
        ours = row["ours_batch"]
        for key in ("attest", "multi_attest", "timestamp", "multi_timestamp"):
            row[f"ratio_{key}"] = round(row[f"eas_{key}"] / ours, 4)
        row["detail"] = detail
        gas_table[str(n)] = row

        # Revocation: as many of each as asked (or as there are documents).
        ours_candidates = list(range(n))
        if n == largest:
            keep = rng.randrange(n)  # stays valid: the verification probe
            verify_probe["ours"] = (documents[keep], anchored.batch.batch_id, batch.proof(
                documents[keep]))
            verify_probe["eas"] = multi_uids[rng.randrange(n)]
            ours_candidates.remove(keep)
        k = min(params.revocations, len(ours_candidates), len(attest_uids))
        log(f"{chain.name} N={n}: {k} revocations each")
        eas_data = [eas.revoke_data(uid) for uid in rng.sample(attest_uids, k)]
        eas_gas = [int(pipe.transact(eas.address, data)["gasUsed"]) for data in eas_data]
        ours_data, ours_revoke_gas, proof_lengths = [], [], []
        revoked_singly = rng.sample(ours_candidates, k)
        for index in revoked_singly:
            proof = batch.proof(documents[index])
            outcome = operator.revoke(documents[index], anchored.batch.batch_id, proof,
                                      RevocationReason.WITHDRAWN)
            ours_data.append(ours_abi.encode("revoke", documents[index], batch.root,
                                             list(proof), int(RevocationReason.WITHDRAWN),
                                             ZERO32, 0))
            ours_revoke_gas.append(outcome.gas_used)
            proof_lengths.append(len(proof))
        revocations[str(n)] = {
            "eas_revoke": gas_summary(eas_gas, eas_data) if k else None,
            "ours": {**gas_summary(ours_revoke_gas, ours_data),
                     "proof_length_min": min(proof_lengths),
                     "proof_length_max": max(proof_lengths)} if k else None,
            "ratio": round(statistics.fmean(eas_gas) / statistics.fmean(ours_revoke_gas), 4)
            if k else None,
        }
        eas_left = [u for u in multi_uids if u != verify_probe.get("eas")]
        ours_left = sorted(set(ours_candidates) - set(revoked_singly))
        many = min(params.revoke_many, len(eas_left), len(ours_left))
        if many >= 2:
            log(f"{chain.name} N={n}: multiRevoke and revokeMany of {many}")
            revocations[str(n)].update(measure_batched_revocation(
                eas, operator, ours_abi, batch, anchored.batch.batch_id,
                rng.sample(eas_left, many), [documents[i] for i in rng.sample(ours_left, many)]))
        log(f"{chain.name} N={n}: done in {time.perf_counter() - t0:.1f}s "
            f"(EAS attest {row['eas_attest']:.0f}, multiAttest {row['eas_multi_attest']:.0f}, "
            f"ours {ours:.2f} gas/doc)")

    log(f"{chain.name}: verification rate, {params.runs} runs of {params.verify_checks} checks")
    verify = measure_verification(chain, eas, operator, verify_probe, params)
    return {
        "chain": chain.name,
        "gas_deterministic": True,
        "deployment_gas": {**eas.deployment_gas, **ours_gas},
        "batch_sizes": batch_sizes,
        "block_gas_limit": block_limit,
        "gas_per_certificate": gas_table,
        "ours_anchor_document_gas": anchor_document_gas,
        "ours_first_anchoring_gas": first_anchoring_gas,
        "revocation_gas": revocations,
        "verify_calls_per_s": verify,
        "contracts": {"eas": eas.address, "schema_registry": eas.registry_address,
                      "schema_uid": "0x" + eas.schema_uid.hex(), "schema": SCHEMA,
                      "registry": operator.address, "attester": chain.roles.attester.address,
                      "operator": chain.roles.operator.address},
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def measure_batched_revocation(eas: Eas, operator: RegistryClient, ours_abi: Abi,
                               batch: MerkleBatch, batch_id: int, uids: Sequence[bytes],
                               documents: Sequence[bytes]) -> dict:
    """One EAS multiRevoke of `uids` against one revokeMany of `documents` (one multiproof)."""
    eas_data = eas.multi_revoke_data(uids)
    eas_gas = int(eas.pipe.transact(eas.address, eas_data)["gasUsed"])
    multiproof = batch.multiproof(documents)
    outcome = operator.revoke_many(batch_id, multiproof, RevocationReason.WITHDRAWN)
    ours_data = ours_abi.encode("revokeMany", batch.root, list(multiproof.document_digests),
                                list(multiproof.proof), list(multiproof.proof_flags),
                                int(RevocationReason.WITHDRAWN), 0)
    if len(outcome.events) != 1 or len(outcome.events[0].args["documentHashes"]) != len(documents):
        raise AssertionError("revokeMany did not revoke every document in one event")

    def figures(gas: int, data: bytes, **extra: Any) -> dict:
        return {"revocations": len(documents), "total_gas": gas,
                "gas_per_revocation": round(gas / len(documents), 2),
                "calldata_bytes": len(data), **extra}

    return {"eas_multi_revoke": figures(eas_gas, eas_data),
            "ours_revoke_many": figures(outcome.gas_used, ours_data,
                                        multiproof_length=len(multiproof.proof)),
            "ratio_many": round(eas_gas / outcome.gas_used, 4)}


GAS_FIELDS = ("total_gas", "min_tx_gas", "max_tx_gas", "execution_gas_min",
              "execution_gas_max")


def gas_differences(first: dict, second: dict) -> list[dict]:
    """Every gas figure that differs between two chains' runs (same documents, samples
    and batch sizes, so equal EVM semantics give equal numbers)."""
    pairs = [("ours_anchor_document", first["ours_anchor_document_gas"],
              second["ours_anchor_document_gas"]),
             ("ours_first_anchoring", first["ours_first_anchoring_gas"],
              second["ours_first_anchoring_gas"])]
    for n, row in first["gas_per_certificate"].items():
        other = second["gas_per_certificate"].get(n, {}).get("detail", {})
        for method, detail in row["detail"].items():
            theirs = other.get(method, {})
            pairs.append((f"{n}/{method}", {f: detail[f] for f in GAS_FIELDS},
                          {f: theirs.get(f) for f in GAS_FIELDS}))
    for n, row in first["revocation_gas"].items():
        other = second["revocation_gas"].get(n, {})
        for side in ("eas_revoke", "ours"):
            # The revoked EAS UIDs hash the attestation time: their calldata differs by
            # chain, so compare what the contract spent.
            mine, theirs = row[side] or {}, other.get(side) or {}
            fields = ("revocations", "execution_gas_min", "execution_gas_max")
            pairs.append((f"{n}/revoke/{side}", {f: mine.get(f) for f in fields},
                          {f: theirs.get(f) for f in fields}))
    return [{"figure": name, "first": a, "second": b} for name, a, b in pairs if a != b]
