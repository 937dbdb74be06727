"""The committed contract artifact is exactly what the sources compile to."""

from __future__ import annotations

from anchor.compile import compile_registry, load_artifact, solc_binary
from anchor.errors import CompilationError
from tests.conftest import require


def test_contract_artifact_matches_a_fresh_compile() -> None:
    try:
        solc_binary()
    except CompilationError as exc:
        require(False, str(exc))
    fresh = compile_registry()
    committed = load_artifact()
    assert fresh["sources"] == committed["sources"], (
        "contracts changed: run `.venv/bin/python -m anchor.compile` and commit the artifact")
    assert fresh == committed


def test_contract_is_compiled_for_paris_without_push0() -> None:
    # geth 1.13 Clique (our permissioned network) executes no Shanghai opcodes.
    artifact = load_artifact()
    assert artifact["compiler"]["settings"]["evmVersion"] == "paris"
