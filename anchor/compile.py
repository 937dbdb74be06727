"""Compile the registry contract from source with py-solc-x.

py-solc-x cannot download solc on our machines, so it is pointed at a compiler we
install ourselves: $CERTREG_SOLC, a native `solc` on PATH, or `scripts/solc`, a
launcher for the official solcjs build from npm. The compiled artifact is
committed under anchor/artifacts/ so an installed package deploys without a
compiler; a test recompiles and fails when the two differ.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from anchor.errors import CompilationError

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = REPO_ROOT / "contracts"
NODE_MODULES = REPO_ROOT / "node_modules"
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
MAIN_CONTRACT = "CertificateRegistry"
SOLC_VERSION = "0.8.28"

# paris: the last EVM version our Clique (geth 1.13) network executes; no PUSH0/MCOPY.
COMPILER_SETTINGS: dict = {
    "evmVersion": "paris",
    "optimizer": {"enabled": True, "runs": 200},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


def solc_binary() -> Path:
    for candidate in (os.environ.get("CERTREG_SOLC"), shutil.which("solc"),
                      str(REPO_ROOT / "scripts" / "solc")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise CompilationError("no solc found: set CERTREG_SOLC or run scripts/setup.sh")


def _sources() -> dict[str, dict[str, str]]:
    """Our .sol files by path relative to the repo, the compiler resolves OZ imports."""
    return {
        path.relative_to(REPO_ROOT).as_posix(): {"content": path.read_text()}
        for path in sorted(CONTRACTS_DIR.rglob("*.sol"))
    }


def compile_registry() -> dict:
    """Compile contracts/ and return the artifact of CertificateRegistry."""
    import solcx
    from solcx.exceptions import SolcError

    sources = _sources()
    binary = solc_binary()
    version = solcx.wrapper.get_solc_version(binary)
    if str(version) != SOLC_VERSION:
        raise CompilationError(f"solc {version} found, {SOLC_VERSION} required", binary=str(binary))
    try:
        output = solcx.compile_standard(
            {"language": "Solidity", "sources": sources, "settings": COMPILER_SETTINGS},
            solc_binary=binary, base_path=str(REPO_ROOT), allow_paths=[str(NODE_MODULES)],
        )
    except SolcError as exc:
        raise CompilationError(f"solc failed: {exc}") from None
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompilationError("compilation failed:\n" + "\n".join(
            e.get("formattedMessage", e["message"]) for e in errors))
    compiled = output["contracts"][f"contracts/{MAIN_CONTRACT}.sol"][MAIN_CONTRACT]
    return {
        "contractName": MAIN_CONTRACT,
        "abi": compiled["abi"],
        "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
        "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
        "compiler": {"solc": SOLC_VERSION, "settings": COMPILER_SETTINGS},
        "sources": {path: hashlib.sha256(src["content"].encode()).hexdigest()
                    for path, src in sources.items()},
    }


def artifact_path() -> Path:
    return ARTIFACTS_DIR / f"{MAIN_CONTRACT}.json"


def write_artifact(artifact: dict) -> Path:
    path = artifact_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
    return path


def load_artifact() -> dict:
    """The committed artifact (what deployments use)."""
    try:
        return json.loads(artifact_path().read_text())
    except FileNotFoundError:
        raise CompilationError(
            "contract artifact missing: run `certreg contract compile`") from None


if __name__ == "__main__":
    print(write_artifact(compile_registry()))
