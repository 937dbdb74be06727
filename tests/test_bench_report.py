"""scripts/bench.py and scripts/bench_report.py: ratios, the markdown report, error rows,
published proof sizes, machine information, and how sub-benchmarks are run.

Rendering is tested on hand-made sub-results (no benchmark runs here); running is tested
on tiny scripts in a temporary scripts/ directory.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


report_module = _load("bench_report")
bench = _load("bench")


def summary(median: float, low: float | None = None, high: float | None = None) -> dict:
    return {"median": median, "min": median if low is None else low,
            "max": median if high is None else high, "runs": 5}


PUBLISHED = {
    "about": "Published sizes, not measured.",
    "proofs": [
        {"id": "ots", "system": "OpenTimestamps", "label": "OTS complete", "value": 688,
         "unit": "bytes", "quote": "a complete timestamp", "what": "hello-world.txt.ots",
         "url": "https://example.invalid/ots/hello-world.txt.ots"},
        {"id": "chainpoint", "system": "Chainpoint", "label": "Chainpoint JSON", "value": 4000,
         "unit": "bytes", "quote": "found in one of two forms",
         "url": "https://example.invalid/chainpoint.chp.json"},
    ],
}


def ok(name: str, result: dict, seconds: float = 1.5) -> dict:
    return {"name": name, "ok": True, "wall_seconds": seconds, "result": result,
            "command": [f"scripts/bench_{name}.py", "--runs", "5"]}


def issuance_result() -> dict:
    return {
        "documents_per_run": 100, "batch_size": 50, "runs": 5,
        "document_bytes": {"mean": 25_000, "min": 14_000, "max": 46_000},
        "docs_per_s": {"end_to_end": summary(80.0, 70.0, 90.0), "sign": summary(200.0),
                       "store_kubo": summary(320.0, 300.0, 330.0), "hash": summary(40_000.0)},
        "mb_per_s": {"end_to_end": summary(2.0), "sign": summary(5.0),
                     "store_kubo": summary(8.0), "hash": summary(1000.0)},
        "sha256_single_core_same_bytes": {"docs_per_s": 80_000.0, "mb_per_s": 2000.0},
        "peak_rss_mb": summary(133.0), "gas_per_document": summary(4522.5),
    }


def api_result() -> dict:
    def endpoint(rps: float, p50: float, p99: float) -> dict:
        return {"rps": summary(rps), "p50_ms": summary(p50), "p99_ms": summary(p99)}

    return {"parameters": {"connections": 16, "seconds_per_run": 1, "runs": 5},
            "dataset": {"indexed_documents": 1_000_020, "upload_bytes": 18_876},
            "database": "PostgreSQL",
            "http": {"verify_by_hash": endpoint(40.0, 300.0, 500.0),
                     "bare_fastapi_get": endpoint(4000.0, 3.0, 10.0),
                     "verify_by_upload": endpoint(30.0, 400.0, 600.0),
                     "bare_fastapi_post": endpoint(6000.0, 2.0, 4.0)}}


def receipts_result() -> dict:
    def batch(n: int, size: int, proof: int, seconds: float) -> dict:
        timing = {"seconds_per_verification": summary(seconds),
                  "verifications_per_second": summary(1 / seconds),
                  "rpc_requests_per_verification": 3}
        return {"batch_size": n, "proof_length": proof, "receipt_bytes": size,
                "receipt_bytes_over_sampled_members": {"median": size, "min": size,
                                                       "max": size + 74, "members": 16},
                "receipt_bytes_zlib": size // 2,
                "verification": {"proof_plus_one_eth_call": timing}}

    return {"batches": {"1": batch(1, 932, 0, 0.004), "1000": batch(1000, 1376, 10, 0.006)}}


def anchor_result() -> dict:
    return {"single_document_gas": summary(172_000),
            "batch": {"1000": {"gas_per_batch": summary(172_000), "gas_per_document": 172.0,
                               "proof_length": 10, "merkle_build_seconds": summary(0.012)}},
            "anchoring_tx_per_second": {"sequential": summary(60.0),
                                        "pipelined": summary(120.0),
                                        "transactions_per_run": 20}}


def eas_result() -> dict:
    return {"gas_per_certificate": {
                "100": {"eas_attest": 180_000, "eas_multi_attest": 146_000,
                        "eas_timestamp": 45_000, "eas_multi_timestamp": 24_000,
                        "ours_batch": 2000.0, "ratio_attest": 90.0,
                        "detail": {"eas_attest": {"sampled": True}}}},
            "revocation_gas": {"100": {"eas_revoke": {"mean": 60_000, "min": 59_000,
                                                      "max": 61_000},
                                       "ours": {"mean": 40_000, "min": 39_000,
                                                "max": 41_000}}},
            "verify_calls_per_s": {"eas": {"checks_per_second": summary(200.0)},
                                   "ours": {"checks_per_second": summary(500.0)}}}


def full_report(**overrides: dict) -> dict:
    benchmarks = {"anchor": ok("anchor", anchor_result()), "eas": ok("eas", eas_result()),
                  "issuance": ok("issuance", issuance_result()),
                  "api": ok("api", api_result()),
                  "receipts": ok("receipts", receipts_result())}
    benchmarks.update(overrides)
    return {"mode": "full", "runs": 5, "command": "scripts/bench.py", "total_seconds": 100.0,
            "started_at": "2026-01-01T00:00:00Z",
            "machine": {"cpu_model": "Test CPU 9000", "logical_cpus": 2, "physical_cores": 2,
                        "memory_gib": 23.5},
            "versions": {"python": "3.11.7", "tools": {"anvil": "anvil Version: 1.7.1"}},
            "published_proof_sizes": PUBLISHED, "benchmarks": benchmarks}


# ------------------------------------------------------------------ ratios

def test_issuance_stage_rates_are_divided_by_sha256_of_the_same_bytes() -> None:
    ratios = report_module.issuance_ratios(issuance_result())
    assert ratios["end_to_end"] == pytest.approx(80.0 / 80_000)
    assert ratios["sign"] == pytest.approx(200.0 / 80_000)
    assert ratios["store_kubo"] == pytest.approx(320.0 / 80_000)
    assert ratios["hash"] == pytest.approx(0.5)
    text = "\n".join(report_module.section_issuance(ok("issuance", issuance_result()), {}))
    assert "| store, Kubo | 320 [300\u2013330] | 8.00 [8.00\u20138.00] | 0.004\u00d7 (1/250) |" \
        in text
    assert ("| hash (SHA-256) | 40,000 [40,000\u201340,000] | 1,000 [1,000\u20131,000] | "
            "0.50\u00d7 |") in text


def test_api_figures_are_divided_by_the_bare_endpoint_of_the_same_run() -> None:
    ratios = report_module.api_ratios(api_result())
    assert ratios["verify_by_hash"]["rps"] == pytest.approx(0.01)
    assert ratios["verify_by_hash"]["p50_ms"] == pytest.approx(100.0)
    assert ratios["verify_by_upload"]["rps"] == pytest.approx(30.0 / 6000.0)
    assert ratios["verify_by_upload"]["p99_ms"] == pytest.approx(150.0)
    text = "\n".join(report_module.section_api(ok("api", api_result()), {}))
    assert "40.0 [40.0\u201340.0] vs 4,000 [4,000\u20134,000] | 0.01\u00d7 (1/100)" in text


def test_api_sizes_table_sets_each_size_against_its_own_bare_run() -> None:
    def endpoint(rps: float, p50: float) -> dict:
        return {"rps": summary(rps), "p50_ms": summary(p50), "p99_ms": summary(p50 * 2)}

    result = api_result()
    result["sizes"] = [
        {"dataset": {"indexed_documents": n},
         "http": {"verify_by_hash": endpoint(v, p50), "lookup": endpoint(v / 2, 2.0),
                  "bare_fastapi_get": endpoint(bare, 1.0)}}
        for n, v, bare, p50 in ((10_000, 1000.0, 2000.0, 4.0), (1_000_000, 900.0, 1800.0, 5.0))]
    text = "\n".join(report_module.section_api(ok("api", result), {}))
    assert "| 10,000 | 0.50\u00d7 | 0.25\u00d7 |" in text
    assert "| 1,000,000 | 0.50\u00d7 | 0.25\u00d7 |" in text
    assert "1,000,000 vs 10,000 (p50 ratio) |  |  | 1.25\u00d7 |" in text


def test_receipt_sizes_are_set_beside_published_proofs() -> None:
    ratios = report_module.receipt_ratios(receipts_result(), PUBLISHED)
    assert ratios["receipt_bytes_vs_published"]["1000"]["ots"] == pytest.approx(2.0)
    assert ratios["receipt_bytes_vs_published"]["1"]["chainpoint"] == pytest.approx(0.233)
    timing = ratios["verify_seconds_vs_smallest_batch"]["1000"]["proof_plus_one_eth_call"]
    assert timing == pytest.approx(1.5)


def test_anchor_and_eas_ratios_come_from_the_gas_in_the_result() -> None:
    anchor = report_module.anchor_ratios(anchor_result())
    assert anchor["gas_per_document_vs_anchor_document"]["1000"] == pytest.approx(0.001)
    assert anchor["pipelined_vs_sequential_tx_per_s"] == pytest.approx(2.0)
    eas = report_module.eas_ratios(eas_result())
    assert eas["gas_per_certificate_eas_vs_ours"]["100"]["eas_attest"] == pytest.approx(90.0)
    assert eas["gas_per_certificate_eas_vs_ours"]["100"]["eas_multi_timestamp"] == \
        pytest.approx(12.0)
    assert eas["revocation_gas_eas_vs_ours"]["100"] == pytest.approx(1.5)
    assert eas["verify_checks_per_s_ours_vs_eas"] == pytest.approx(2.5)
    text = "\n".join(report_module.section_eas(ok("eas", eas_result()), {}))
    assert "180,000 (sampled) | 90.0\u00d7" in text


def test_an_eas_result_of_unknown_layout_is_still_shown() -> None:
    result = {"something": {"ratio_gas": summary(42.0)}, "gas": {"ours": 1000}}
    text = "\n".join(report_module.section_eas(ok("eas", result), {}))
    assert "| something.ratio_gas | 42.0 [42.0\u201342.0] |" in text
    assert "| gas.ours | 1,000 |" in text
    assert report_module.eas_ratios(result) == {"something.ratio_gas": 42.0}


def test_store_throughput_is_divided_by_sha256_of_the_same_run() -> None:
    result = {"limit": {"sha256_single_core_MB_per_s": summary(2000.0), "buffer_MiB": 16},
              "20KB": {"documents_per_run": 50,
                       "kubo": {"store_docs_per_s": summary(250.0),
                                "store_MB_per_s": summary(5.0, 4.0, 6.0)}}}
    assert report_module.store_ratios(result) == {"20KB/kubo/store": pytest.approx(0.0025)}
    text = "\n".join(report_module.section_store(ok("store", result), {}))
    assert "| 20KB | kubo | store | 250 [250\u2013250] | 5.00 [4.00\u20136.00] | " \
           "0.0025\u00d7 (1/400) |" in text
    assert "| 16 MiB buffer |" in text


def test_a_missing_comparison_gives_no_ratio() -> None:
    result = issuance_result()
    del result["sha256_single_core_same_bytes"]
    assert report_module.issuance_ratios(result)["sign"] is None
    assert report_module.ratio(summary(5.0), summary(0.0)) is None
    assert report_module.fmt_ratio(None) == "n/a"


# ----------------------------------------------------------------- report

def test_a_failed_sub_benchmark_is_an_error_row_and_the_rest_still_render() -> None:
    failed = {"name": "eas", "ok": False, "wall_seconds": 0.0,
              "error": "scripts/bench_eas.py does not exist", "command": ["scripts/bench_eas.py"]}
    text = report_module.render_markdown(full_report(eas=failed))
    assert "| eas | **error**: scripts/bench_eas.py does not exist |" in text
    assert ("| [eas](#anchoring-cost-against-eas) | **error**: scripts/bench_eas.py does not "
            "exist |") in text  # the summary row
    assert "## Errors" in text
    assert "0.004\u00d7 (1/250)" in text  # issuance still rendered
    assert "ratio to EAS" not in text


def test_a_sub_benchmark_that_was_not_run_is_a_row_saying_so() -> None:
    report = full_report()
    del report["benchmarks"]["api"]
    text = report_module.render_markdown(report)
    assert "| api | not run in this invocation |" in text
    assert "## Errors" not in text


def test_published_sizes_are_labelled_and_cited() -> None:
    text = report_module.render_markdown(full_report())
    assert "ratio to OTS complete (published, not measured)" in text
    assert "| OTS complete | 688 | published, not measured | hello-world.txt.ots | " \
           "[OpenTimestamps](https://example.invalid/ots/hello-world.txt.ots)" in text
    assert "\u201ca complete timestamp\u201d" in text
    assert "| 1,000 | 10 | 1,376 | 1,376\u20131,450 | 688 | 2.00\u00d7 | 0.34\u00d7 |" in text


def test_the_report_names_the_machine_and_versions() -> None:
    text = report_module.render_markdown(full_report())
    assert "| CPU | Test CPU 9000 |" in text
    assert "| cores | 2 |" in text
    assert "| memory (GiB) | 23.5 |" in text
    assert "| tools: anvil | anvil Version: 1.7.1 |" in text


def test_quick_mode_and_too_few_runs_are_flagged() -> None:
    report = full_report()
    report.update(mode="quick", runs=3, budget_seconds=180, within_budget=False)
    text = report_module.render_markdown(report)
    assert "**Quick mode**" in text
    assert "Fewer than 5 runs per figure" in text
    assert "budget 180 s: **exceeded**" in text


def test_compute_ratios_skips_failed_benchmarks() -> None:
    failed = {"name": "api", "ok": False, "error": "timed out after 10 s"}
    ratios = report_module.compute_ratios(full_report(api=failed))
    assert "api" not in ratios
    assert ratios["receipts"]["receipt_bytes_vs_published"]["1000"]["ots"] == pytest.approx(2.0)


def test_plots_are_pngs_beside_the_report(tmp_path: Path) -> None:
    links = report_module.make_plots(full_report(), tmp_path / "benchmarks", "benchmarks")
    assert set(links) == {"issuance", "api", "receipts", "anchor", "eas"}
    for link in links.values():
        assert link.startswith("benchmarks/")
        assert (tmp_path / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = report_module.render_markdown(full_report(), links)
    assert "![receipt size by batch size](benchmarks/receipt_size.png)" in text


# -------------------------------------------------------------- bench.py

def test_published_proof_sizes_file_is_complete() -> None:
    published = bench.published_proof_sizes()
    assert "not measured" in published["about"].lower()
    assert {p["system"] for p in published["proofs"]} >= {"OpenTimestamps", "Chainpoint"}
    for proof in published["proofs"]:
        assert isinstance(proof["value"], int) and proof["value"] > 0
        assert proof["unit"] == "bytes"
        assert proof["quote"] and proof["url"].startswith("https://")


def test_machine_info_reads_cpu_cores_and_memory() -> None:
    machine = bench.machine_info()
    assert machine["cpu_model"]
    assert machine["logical_cpus"] >= 1
    assert machine["memory_gib"] > 0


def test_quick_arguments_keep_the_runs_and_do_not_overwrite_the_committed_report() -> None:
    for spec in bench.BENCHMARKS:
        command = spec.command(quick=True, runs=5)
        assert command[-2:] == ["--runs", "5"]
    output, json_out = bench.output_paths(bench.parse_args(["--quick"]))
    assert output == bench.QUICK_OUTPUT.resolve() != bench.FULL_OUTPUT.resolve()
    assert json_out == output.with_suffix(".json")
    output, _ = bench.output_paths(bench.parse_args([]))
    assert output == bench.FULL_OUTPUT.resolve()
    with pytest.raises(SystemExit):
        bench.parse_args(["--only", "nonsense"])


def test_parse_json_output_skips_progress_lines() -> None:
    assert bench.parse_json_output('{"a": 1}\n') == {"a": 1}
    assert bench.parse_json_output('progress {\nstarting\n{\n "a": 2\n}\n') == {"a": 2}
    with pytest.raises(ValueError):
        bench.parse_json_output("no json here\n")


@pytest.fixture
def fake_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "scripts").mkdir()
    monkeypatch.setattr(bench, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(bench, "INTERRUPT_GRACE_SECONDS", 5.0)
    return tmp_path


def _script(repo: Path, name: str, body: str) -> object:
    (repo / "scripts" / name).write_text(textwrap.dedent(body))
    return bench.SubBenchmark(name.removesuffix(".py"), name, ("--quick",))


def test_a_sub_benchmark_runs_with_its_quick_arguments(fake_repo: Path) -> None:
    spec = _script(fake_repo, "bench_echo.py", """
        import json, sys
        print("warming up")
        print(json.dumps({"argv": sys.argv[1:]}))
    """)
    entry = bench.run_subbenchmark(spec, quick=True, runs=5, timeout=60)
    assert entry["ok"], entry
    assert entry["result"] == {"argv": ["--quick", "--runs", "5"]}


@pytest.mark.parametrize(("body", "expected"), [
    ("import sys\nsys.stderr.write('boom\\n')\nsys.exit(3)\n", "exited with status 3: boom"),
    ("print('not json')\n", "no JSON object on stdout"),
    ("import time\ntime.sleep(60)\n", "timed out after 1 s"),
])
def test_a_failing_sub_benchmark_becomes_an_error_entry(fake_repo: Path, body: str,
                                                        expected: str) -> None:
    spec = _script(fake_repo, "bench_bad.py", body)
    entry = bench.run_subbenchmark(spec, quick=False, runs=5, timeout=1 if "sleep" in body
                                   else 60)
    assert not entry["ok"]
    assert expected in entry["error"]


def test_a_missing_script_or_spent_budget_is_an_error_entry(fake_repo: Path) -> None:
    missing = bench.SubBenchmark("eas", "bench_eas.py", ())
    entry = bench.run_subbenchmark(missing, quick=True, runs=5, timeout=60)
    assert entry["error"] == "scripts/bench_eas.py does not exist"
    spec = _script(fake_repo, "bench_late.py", "print('{}')\n")
    entry = bench.run_subbenchmark(spec, quick=True, runs=5, timeout=0)
    assert "budget was used up" in entry["error"]


def test_report_json_round_trips(tmp_path: Path) -> None:
    report = full_report()
    report["ratios"] = report_module.compute_ratios(report)
    assert json.loads(json.dumps(report)) == report


def test_certreg_bench_runs_the_script_with_the_same_options() -> None:
    from registry.cli import build_parser
    from registry.cli.bench import BENCH_SCRIPT, bench_command

    args = build_parser().parse_args(["bench", "--quick", "--only", "receipts,anchor",
                                      "--runs", "7", "--output", "out/report.md"])
    command = bench_command(args)
    assert command[1] == str(BENCH_SCRIPT) == str(REPO_ROOT / "scripts" / "bench.py")
    assert command[2:] == ["--quick", "--runs", "7", "--output",
                           str(Path("out/report.md").resolve()), "--only", "receipts,anchor"]
