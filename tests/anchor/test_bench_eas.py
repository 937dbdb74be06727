"""scripts/bench_eas.py on a real anvil: EAS compiled from npm sources against our registry.

One quick run with tiny sizes (1 and 10, the 10 sampled) feeds every test; the tests
then check the figures against each other and against the chain itself.
"""

from __future__ import annotations

import json
import shutil

import pytest
from eth_utils import keccak

from anchor.chain import connect
from anchor.services.anvil import AnvilNode
from scripts import bench_eas
from tests.conftest import require

SIZES = (1, 10)
SAMPLE = 3
REVOCATIONS = 2
REVOKE_MANY = 4


@pytest.fixture(scope="module")
def result(anvil: AnvilNode) -> dict:
    require(shutil.which("node") is not None, "node is not installed")
    for module in (bench_eas.EAS_PACKAGE, bench_eas.EAS_SOLC_MODULE, bench_eas.EAS_OZ_MODULE):
        require((bench_eas.NODE_MODULES / module / "package.json").is_file(),
                f"{module} missing from node_modules: run npm ci")
    return bench_eas.run(quick=True, runs=5, sizes=SIZES, rpc_url=anvil.rpc_url,
                         full_limit=5, sample=SAMPLE, revocations=REVOCATIONS,
                         verify_checks=10, seed=7, revoke_many=REVOKE_MANY)


def test_contract_eas_compiled_from_source_reproduces_the_published_release(result: dict) -> None:
    compiler = result["compiler"]
    assert compiler["eas"]["matches_published_artifact"] == {"SchemaRegistry": True, "EAS": True}
    assert compiler["eas"]["settings"]["evmVersion"] == "paris"
    assert result["versions"]["eas_contracts"] == bench_eas._package_version(bench_eas.EAS_PACKAGE)
    # Our compiler cannot take EAS's exact pragma, nor our OpenZeppelin target paris:
    # the reasons come from the compiler in this run.
    ours, our_oz = compiler["rejected_routes"]
    assert not ours["compiled"] and "requires different compiler version" in ours["first_error"]
    assert not our_oz["compiled"] and '"mcopy" instruction' in our_oz["first_error"]


def test_contract_eas_attest_gas_is_the_same_for_every_document(result: dict) -> None:
    rows = result["gas_per_certificate"]
    assert set(rows) == {str(n) for n in SIZES}
    for method in ("eas_attest", "eas_timestamp"):
        executions = set()
        for row in rows.values():
            detail = row["detail"][method]
            assert row[method] > 0
            executions.add((detail["execution_gas_min"], detail["execution_gas_max"]))
            # gasUsed differs only by the price of the hash's zero bytes in calldata.
            assert detail["max_tx_gas"] - detail["min_tx_gas"] <= 12 * 32
        (only,) = executions  # the same across N
        assert only[0] == only[1] > 0
    assert rows["1"]["detail"]["eas_attest"]["sampled"] is None
    assert rows["1"]["detail"]["eas_attest"]["transactions"] == 1
    assert rows["10"]["detail"]["eas_attest"]["sampled"] == SAMPLE
    assert rows["10"]["detail"]["eas_attest"]["transactions"] == SAMPLE
    assert rows["10"]["detail"]["eas_multi_attest"]["documents"] == 10


def test_contract_eas_our_gas_per_document_falls_with_n_and_ratios_match(result: dict) -> None:
    rows = result["gas_per_certificate"]
    assert rows["10"]["ours_batch"] < rows["1"]["ours_batch"]
    assert rows["10"]["ours_batch"] == pytest.approx(
        rows["10"]["detail"]["ours_batch"]["total_gas"] / 10, abs=0.01)
    for row in rows.values():
        for key in ("attest", "multi_attest", "timestamp", "multi_timestamp"):
            assert row[f"ratio_{key}"] == pytest.approx(row[f"eas_{key}"] / row["ours_batch"],
                                                        rel=1e-3)
    # Batching pays off for EAS too, but per document it stays flat where ours divides.
    assert rows["10"]["eas_multi_attest"] < rows["1"]["eas_multi_attest"]
    assert rows["10"]["ratio_attest"] > rows["1"]["ratio_attest"]


def test_contract_eas_revocation_gas_per_n(result: dict) -> None:
    revocations = result["revocation_gas"]
    ten = revocations["10"]
    assert ten["eas_revoke"]["revocations"] == ten["ours"]["revocations"] == REVOCATIONS
    assert ten["ours"]["proof_length_min"] >= 3  # ceil(log2 10) - 1
    assert revocations["1"]["ours"]["proof_length_max"] == 0
    assert ten["ours"]["mean"] > revocations["1"]["ours"]["mean"]  # longer proof
    assert ten["ratio"] == pytest.approx(ten["eas_revoke"]["mean"] / ten["ours"]["mean"],
                                         rel=1e-3)
    # Batched: as many as asked where the batch leaves room, none in a batch of one.
    assert "ours_revoke_many" not in revocations["1"]
    many, ours_many = ten["eas_multi_revoke"], ten["ours_revoke_many"]
    assert many["revocations"] == ours_many["revocations"] == REVOKE_MANY
    assert ours_many["gas_per_revocation"] == pytest.approx(
        ours_many["total_gas"] / REVOKE_MANY, abs=0.01)
    assert ten["ratio_many"] == pytest.approx(many["total_gas"] / ours_many["total_gas"],
                                              rel=1e-3)
    # One multiproof for all: cheaper per document than one proof each.
    assert ours_many["gas_per_revocation"] < ten["ours"]["mean"]


def test_contract_eas_revocation_floor_is_below_ours_on_the_same_chain(result: dict) -> None:
    # A batch of one leaves no room for the floor's revocations: only N=10 is measured.
    floor = result["revocation_floor"]["gas"]
    assert set(floor) == {"10"}
    ours = result["revocation_gas"]["10"]
    # The floor keeps our guarantees and nothing else, so ours can only cost more; and
    # nothing costs less than the transaction, its calldata and the new slot.
    assert floor["10"]["unguarded"]["unavoidable"]["max"] < floor["10"]["floor"]["min"]
    assert floor["10"]["floor"]["mean"] < ours["ours"]["mean"]
    many = floor["10"]["floor_many"]
    assert many["revocations"] == REVOKE_MANY
    assert many["unavoidable_per_revocation"] < many["gas_per_revocation"] < \
        ours["ours_revoke_many"]["gas_per_revocation"]


def test_contract_eas_attestations_are_valid_and_revoked_on_chain(result: dict,
                                                                   anvil: AnvilNode) -> None:
    w3 = connect(anvil.rpc_url)
    contracts = result["contracts"]
    # The published artifact's ABI: the run showed our build is byte-identical to it.
    published = bench_eas.NODE_MODULES / bench_eas.EAS_PACKAGE / "artifacts/contracts/EAS.sol"
    eas = w3.eth.contract(address=contracts["eas"],
                          abi=json.loads((published / "EAS.json").read_text())["abi"])

    def uids(topic: bytes) -> list[bytes]:
        logs = w3.eth.get_logs({"address": contracts["eas"], "fromBlock": 0,
                                "toBlock": "latest", "topics": ["0x" + topic.hex()]})
        return [bytes(entry["data"]) for entry in logs]

    attested = uids(bench_eas.ATTESTED_TOPIC)
    revoked = uids(bench_eas.REVOKED_TOPIC)
    rows = result["gas_per_certificate"].values()
    assert len(attested) == sum(r["detail"]["eas_attest"]["transactions"]
                                + r["detail"]["eas_multi_attest"]["documents"] for r in rows)
    assert len(revoked) == sum(r["eas_revoke"]["revocations"]
                               + r.get("eas_multi_revoke", {}).get("revocations", 0)
                               for r in result["revocation_gas"].values())
    assert set(revoked) <= set(attested)
    for uid in attested:
        attestation = eas.functions.getAttestation(uid).call()
        assert eas.functions.isAttestationValid(uid).call()
        assert attestation[0] == uid and attestation[7] == contracts["attester"]
        assert (attestation[4] != 0) == (uid in revoked)  # revocationTime
    assert not eas.functions.isAttestationValid(keccak(b"never attested")).call()


def test_contract_eas_verification_rate_has_five_runs(result: dict) -> None:
    verify = result["verify_calls_per_s"]
    for side in ("eas", "ours"):
        figures = verify[side]["checks_per_second"]
        assert figures["runs"] == 5 and 0 < figures["min"] <= figures["median"] <= figures["max"]
    assert verify["eas"]["eth_calls_per_check"] == 2 and verify["ours"]["eth_calls_per_check"] == 1
    assert verify["ratio"]["runs"] == 5 and verify["ratio"]["min"] > 0
    assert verify["ours"]["batch_size"] == max(SIZES)


def test_contract_eas_rejects_fewer_than_five_runs() -> None:
    with pytest.raises(ValueError, match="at least 5 runs"):
        bench_eas.run(quick=True, runs=4)
