"""The two systems `scripts/bench_eas.py` compares, on one chain: EAS compiled from its
npm sources (and checked against the npm package's own artifact) and deployed with one
schema, and our CertificateRegistry with one issuer and its operator.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from anchor.chain import (
    GovernanceAction,
    IssuerKind,
    RegistryClient,
    RevertDecoder,
    issuer_id_from_name,
)
from anchor.compile import COMPILER_SETTINGS
from anchor.errors import CompilationError
from scripts.bench_eas_chain import Abi, Chain, Pipe

REPO_ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = REPO_ROOT / "node_modules"
EAS_PACKAGE = "@ethereum-attestation-service/eas-contracts"
EAS_CONTRACTS = ("SchemaRegistry", "EAS")
# npm aliases (package.json) for the compiler and OpenZeppelin that EAS pins.
EAS_SOLC_MODULE = "solc-0.8.29"
EAS_OZ_MODULE = "openzeppelin-contracts-5.3.0"
OUR_SOLC_MODULE = "solc"
OUR_OZ_MODULE = "@openzeppelin/contracts"
# The settings of EAS's hardhat.config.ts (not shipped on npm; the published-artifact
# comparison in the output shows whether they are the ones the release was built with).
EAS_UPSTREAM_SETTINGS: dict = {
    "optimizer": {"enabled": True, "runs": 1_000_000},
    "evmVersion": "paris",
    "metadata": {"bytecodeHash": "none"},
}
OUTPUT_SELECTION = {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}}

SCHEMA = "bytes32 documentHash"
ZERO_ADDRESS = "0x" + "00" * 20
ZERO32 = b"\x00" * 32
ATTESTED_TOPIC = keccak(text="Attested(address,address,bytes32,bytes32)")
REVOKED_TOPIC = keccak(text="Revoked(address,address,bytes32,bytes32)")
TIMESTAMPED_TOPIC = keccak(text="Timestamped(bytes32,uint64)")
REGISTERED_TOPIC = keccak(text="Registered(bytes32,address,(bytes32,address,bool,string))")

BENCH_ISSUER = "BENCH-NMI"


# ------------------------------------------------------------------ compiling EAS

_SOLCJS = r"""
"use strict";
const fs = require("fs");
const path = require("path");
const [solcDir, importRoot] = process.argv.slice(1);
const solc = require(solcDir);
const root = path.resolve(importRoot);
function findImports(importPath) {
  const candidate = path.resolve(root, importPath);
  if (!candidate.startsWith(root + path.sep)) return { error: "outside: " + importPath };
  if (!fs.existsSync(candidate)) return { error: "File not found in " + root + ": " + importPath };
  return { contents: fs.readFileSync(candidate, "utf8") };
}
const input = fs.readFileSync(0, "utf8");
const output = JSON.parse(solc.compile(input, { import: findImports }));
process.stdout.write(JSON.stringify({ version: solc.version(), output: output }));
"""


def solcjs_compile(solc_module: str, standard_input: dict) -> tuple[str, dict]:
    """Compile standard JSON with an npm solcjs build; imports resolve in node_modules."""
    module_dir = NODE_MODULES / solc_module
    if not (module_dir / "package.json").is_file():
        raise CompilationError(f"{solc_module} is not installed in node_modules: run npm ci")
    proc = subprocess.run(["node", "-e", _SOLCJS, str(module_dir), str(NODE_MODULES)],
                          input=json.dumps(standard_input), capture_output=True, text=True,
                          timeout=600, check=False)
    if proc.returncode != 0:
        raise CompilationError(f"solcjs ({solc_module}) failed: {proc.stderr[-2000:]}")
    reply = json.loads(proc.stdout)
    return reply["version"], reply["output"]


def _package_version(module: str) -> str:
    return json.loads((NODE_MODULES / module / "package.json").read_text())["version"]


def _eas_input(settings: dict, remap_openzeppelin: bool) -> dict:
    sources = {f"{EAS_PACKAGE}/contracts/{name}.sol": {
        "content": (NODE_MODULES / EAS_PACKAGE / "contracts" / f"{name}.sol").read_text()}
        for name in EAS_CONTRACTS}
    settings = {**settings, "outputSelection": OUTPUT_SELECTION}
    if remap_openzeppelin:
        settings["remappings"] = [f"@openzeppelin/contracts/={EAS_OZ_MODULE}/"]
    return {"language": "Solidity", "sources": sources, "settings": settings}


def _errors(output: dict) -> list[str]:
    return [e.get("formattedMessage", e["message"]).strip() for e in output.get("errors", [])
            if e.get("severity") == "error"]


def rejected_routes() -> list[dict]:
    """Compile EAS the way our contract is compiled, and with its own solc but our
    OpenZeppelin; both for paris. Reports whether each compiles and the errors verbatim."""
    routes = [
        ("our solc, our OpenZeppelin, our settings", OUR_SOLC_MODULE, OUR_OZ_MODULE,
         COMPILER_SETTINGS, False),
        ("EAS's solc, our OpenZeppelin, EAS's settings", EAS_SOLC_MODULE, OUR_OZ_MODULE,
         EAS_UPSTREAM_SETTINGS, False),
    ]
    report = []
    for route, solc_module, oz_module, settings, remap in routes:
        plain = {k: v for k, v in settings.items() if k != "outputSelection"}
        version, output = solcjs_compile(solc_module, _eas_input(plain, remap))
        errors = _errors(output)
        report.append({"route": route, "solc": version, "openzeppelin": _package_version(oz_module),
                       "evmVersion": plain["evmVersion"], "compiled": not errors,
                       "error_count": len(errors), "first_error": errors[0] if errors else None,
                       "distinct_errors": sorted({e.splitlines()[0] for e in errors})})
    return report


def compile_eas() -> dict:
    """SchemaRegistry and EAS from node_modules, with the compiler and settings EAS pins."""
    started = time.perf_counter()
    version, output = solcjs_compile(EAS_SOLC_MODULE, _eas_input(EAS_UPSTREAM_SETTINGS, True))
    errors = _errors(output)
    if errors:
        raise CompilationError("EAS compilation failed:\n" + "\n".join(errors))
    contracts, matches = {}, {}
    for name in EAS_CONTRACTS:
        compiled = output["contracts"][f"{EAS_PACKAGE}/contracts/{name}.sol"][name]
        contracts[name] = {"abi": compiled["abi"],
                           "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                           "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"]}
        published = json.loads((NODE_MODULES / EAS_PACKAGE / "artifacts" / "contracts"
                                / f"{name}.sol" / f"{name}.json").read_text())
        matches[name] = (published["bytecode"] == contracts[name]["bytecode"]
                         and published["deployedBytecode"] == contracts[name]["deployedBytecode"])
    return {"contracts": contracts, "solc": version,
            "openzeppelin": _package_version(EAS_OZ_MODULE),
            "eas_contracts": _package_version(EAS_PACKAGE),
            "settings": EAS_UPSTREAM_SETTINGS, "matches_published_artifact": matches,
            "seconds": round(time.perf_counter() - started, 2)}


# ------------------------------------------------------------------ deployments


def deploy_ours(chain: Chain) -> tuple[RegistryClient, dict]:
    """Our registry, 2-of-3 governors, one issuer and its operator (public client API)."""
    roles = chain.roles
    deployer, deployment = RegistryClient.deploy(
        chain.w3, roles.deployer, [g.address for g in roles.governors], 2,
        poll_interval=chain.poll_interval)
    deploy_gas = int(chain.w3.eth.get_transaction_receipt(deployment.transaction_hash)["gasUsed"])
    issuer = issuer_id_from_name(BENCH_ISSUER)
    proposal_id, proposed = deployer.as_account(roles.governors[0]).propose(
        GovernanceAction.register_issuer(issuer, "ZZ", IssuerKind.NATIONAL_METROLOGY_INSTITUTE,
                                         roles.issuer_admin.address, ""))
    approved = deployer.as_account(roles.governors[1]).approve(proposal_id)
    added = deployer.as_account(roles.issuer_admin).add_operator(issuer, roles.operator.address)
    operator = deployer.as_account(roles.operator)
    return operator, {"ours_deploy": deploy_gas,
                      "ours_setup": proposed.gas_used + approved.gas_used + added.gas_used}


class Eas:
    """SchemaRegistry + EAS deployed from our compilation, one registered schema."""

    def __init__(self, chain: Chain, compiled: dict) -> None:
        self.chain = chain
        self.registry_abi = Abi(compiled["contracts"]["SchemaRegistry"]["abi"])
        eas = compiled["contracts"]["EAS"]
        self.abi = Abi(eas["abi"])
        self.pipe = Pipe(chain.w3, chain.roles.attester,
                         RevertDecoder(eas["abi"] + compiled["contracts"]["SchemaRegistry"]["abi"]),
                         node_signs=chain.node_signs, window=chain.window,
                         poll_interval=chain.poll_interval,
                         manual_mining=chain.manual_mining)
        registry = self.pipe.transact(
            None, bytes.fromhex(compiled["contracts"]["SchemaRegistry"]["bytecode"][2:]))
        self.registry_address = registry["contractAddress"]
        deployed = self.pipe.transact(None, bytes.fromhex(eas["bytecode"][2:])
                                      + abi_encode(["address"], [self.registry_address]))
        self.address = deployed["contractAddress"]
        registered = self.pipe.transact(self.registry_address, self.registry_abi.encode(
            "register", SCHEMA, ZERO_ADDRESS, True))
        (log_entry,) = [entry for entry in registered["logs"]
                        if bytes(entry["topics"][0]) == REGISTERED_TOPIC]
        self.schema_uid = bytes(log_entry["topics"][1])
        expected = keccak(SCHEMA.encode() + bytes(20) + b"\x01")  # abi.encodePacked
        if self.schema_uid != expected:
            raise AssertionError("schema UID differs from keccak256(schema, resolver, revocable)")
        self.contract = chain.w3.eth.contract(address=self.address, abi=eas["abi"])
        self.deployment_gas = {"schema_registry": int(registry["gasUsed"]),
                               "eas": int(deployed["gasUsed"]),
                               "schema_registration": int(registered["gasUsed"])}

    # calldata
    def _request(self, document_hash: bytes) -> tuple:
        # recipient, expirationTime, revocable, refUID, data, value
        return (ZERO_ADDRESS, 0, True, ZERO32, abi_encode(["bytes32"], [document_hash]), 0)

    def attest_data(self, document_hash: bytes) -> bytes:
        return self.abi.encode("attest", (self.schema_uid, self._request(document_hash)))

    def multi_attest_data(self, hashes: Sequence[bytes]) -> bytes:
        return self.abi.encode("multiAttest",
                               [(self.schema_uid, [self._request(h) for h in hashes])])

    def timestamp_data(self, document_hash: bytes) -> bytes:
        return self.abi.encode("timestamp", document_hash)

    def multi_timestamp_data(self, hashes: Sequence[bytes]) -> bytes:
        return self.abi.encode("multiTimestamp", list(hashes))

    def revoke_data(self, uid: bytes) -> bytes:
        return self.abi.encode("revoke", (self.schema_uid, (uid, 0)))

    def multi_revoke_data(self, uids: Sequence[bytes]) -> bytes:
        return self.abi.encode("multiRevoke", [(self.schema_uid, [(uid, 0) for uid in uids])])

    def uids(self, receipts: Iterable[Any], topic: bytes = ATTESTED_TOPIC) -> list[bytes]:
        return [bytes(entry["data"]) for receipt in receipts for entry in receipt["logs"]
                if entry["address"] == self.address and bytes(entry["topics"][0]) == topic]

    def attestation(self, uid: bytes) -> dict:
        fields = ("uid", "schema", "time", "expirationTime", "revocationTime", "refUID",
                  "recipient", "attester", "revocable", "data")
        return dict(zip(fields, self.contract.functions.getAttestation(uid).call(), strict=True))

    def is_valid(self, uid: bytes) -> bool:
        return bool(self.contract.functions.isAttestationValid(uid).call())
