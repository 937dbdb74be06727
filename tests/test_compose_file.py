"""docker-compose.yml: valid against the Compose Specification, and in step with the
native deployment (settings names, ports) and with deploy/.env.example.

No Docker engine is needed: the file is checked against the Compose Specification's
JSON schema (vendored in tests/compose_spec/, Apache-2.0, with its NOTICE), and the
parity checks read registry.settings and the native launchers.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from anchor.errors import ServiceError
from anchor.services.kubo import kubo_binary
from anchor.services.postgres import DEFAULT_PORT as POSTGRES_NATIVE_PORT
from anchor.store.kubo import DEFAULT_KUBO_API
from registry.errors import ConfigurationError
from registry.settings import Settings, load_settings
from tests.conftest import require

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SCHEMA_FILE = REPO_ROOT / "tests" / "compose_spec" / "compose-spec.json"
ENV_EXAMPLE = REPO_ROOT / "deploy" / ".env.example"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?[^}]*\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    # The schema declares draft-07 (as "https://json-schema.org/draft-07/schema", a URI
    # jsonschema does not map to a draft by itself).
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "KEY=value" list form
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _published_ports(compose: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {name: service.get("ports", []) for name, service in compose["services"].items()
            if service.get("ports")}


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _port_of_url(url: str) -> int:
    match = re.search(r":(\d+)(?:/|$)", url) or re.search(r"/tcp/(\d+)", url)
    assert match, f"no port in {url}"
    return int(match.group(1))


def test_compose_file_validates_against_compose_specification(
        compose: dict[str, Any], compose_validator: jsonschema.protocols.Validator) -> None:
    errors = sorted(compose_validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    # The schema does catch mistakes (a misspelt key, a wrong condition) in this file.
    broken = copy.deepcopy(compose)
    broken["services"]["registry-api"]["depends_on"]["postgres"]["condition"] = "healthy"
    broken["services"]["postgres"]["healtcheck"] = broken["services"]["postgres"]["healthcheck"]
    messages = [e.message for e in compose_validator.iter_errors(broken)]
    assert any("healthy" in m for m in messages) and any("healtcheck" in m for m in messages)


def test_compose_runs_the_whole_permissioned_deployment(compose: dict[str, Any]) -> None:
    services = compose["services"]
    validators = [name for name, s in services.items()
                  if "besu" in str(s.get("image", "")) and "--config-file" in str(s["command"])]
    assert sorted(validators) == ["validator1", "validator2", "validator3", "validator4"]
    assert services["registry-api"]["command"] == ["up", "--no-index"]
    assert services["indexer"]["command"] == ["index", "--follow"]
    assert services["deploy"]["restart"] == "no" and services["besu-init"]["restart"] == "no"
    assert "postgres:15" in services["postgres"]["image"]
    assert sum("kubo" in str(s.get("image", "")) for s in services.values()) == 2
    # Every Besu validator enforces both allowlists from the generated permissions file.
    besu_config = tomllib.loads((REPO_ROOT / "deploy/besu/config.toml").read_text())
    assert besu_config["permissions-nodes-config-file-enabled"] is True
    assert besu_config["permissions-accounts-config-file-enabled"] is True
    assert besu_config["discovery-enabled"] is False


def test_compose_waits_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            condition = rule["condition"]
            assert condition in {"service_healthy", "service_completed_successfully"}, \
                f"{name} starts before {dependency} is ready"
            if condition == "service_healthy":
                # Without a health check `up` would wait for ever.
                check = services[dependency].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), \
                    f"{name} waits for {dependency} to be healthy, which has no health check"
            else:
                assert services[dependency].get("restart") == "no", \
                    f"{dependency} is a one-shot job and must not restart"
    # Everything a certreg container needs is ready before it starts.
    api_needs = set(services["registry-api"]["depends_on"])
    assert {"deploy", "postgres", "kubo1", "validator1"} <= api_needs


def test_compose_certreg_variables_are_settings_fields(compose: dict[str, Any]) -> None:
    fields = {f"CERTREG_{name.upper()}" for name in Settings.model_fields}
    used: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        for variable in _environment(service):
            if variable.startswith("CERTREG_"):
                used.setdefault(variable, set()).add(name)
    unknown = {v: sorted(s) for v, s in used.items() if v not in fields}
    # Settings ignores unknown CERTREG_* names silently: a typo here would go unnoticed.
    assert not unknown, f"not fields of registry.settings.Settings: {unknown}"
    assert {"CERTREG_RPC_URL", "CERTREG_DATABASE_URL", "CERTREG_IPFS_API",
            "CERTREG_OPERATOR_KEYSTORE", "CERTREG_OPERATOR_PASSWORD"} <= set(used)
    example = {v for v in _env_example() if v.startswith("CERTREG_")}
    assert example <= fields, f"not settings fields: {sorted(example - fields)}"


def test_compose_published_ports_match_native_defaults(compose: dict[str, Any],
                                                       tmp_path: Path) -> None:
    try:
        binary = kubo_binary()
    except ServiceError as exc:
        require(False, exc.message)
    # Kubo's own defaults, which the native binary uses when nothing overrides them.
    env = {**os.environ, "IPFS_PATH": str(tmp_path / "ipfs"), "IPFS_TELEMETRY": "off"}
    subprocess.run([str(binary), "init", "--empty-repo"], env=env, check=True,
                   capture_output=True, timeout=60)
    kubo_defaults = json.loads((tmp_path / "ipfs" / "config").read_text())["Addresses"]

    settings = Settings()
    native = {
        "validator1": {settings.chain_port},
        "registry-api": {settings.api_port},
        "kubo1": {_port_of_url(DEFAULT_KUBO_API), _port_of_url(kubo_defaults["API"]),
                  _port_of_url(kubo_defaults["Gateway"])},
        "postgres": {POSTGRES_NATIVE_PORT},
    }
    assert native == {"validator1": {8545}, "registry-api": {8000}, "kubo1": {5001, 8080},
                      "postgres": {5432}}
    published = {name: {int(p["published"]) for p in ports}
                 for name, ports in _published_ports(compose).items()}
    assert published == native
    for name, ports in _published_ports(compose).items():
        for port in ports:
            assert int(port["target"]) == int(port["published"]), f"{name} remaps a port"
            # Loopback unless the operator deliberately sets PUBLISH_ADDRESS.
            assert port["host_ip"] in {"127.0.0.1", "${PUBLISH_ADDRESS:-127.0.0.1}"}, name

    # Inside the compose network, the certreg containers use the same ports.
    env = _environment(compose["services"]["registry-api"])
    assert _port_of_url(env["CERTREG_RPC_URL"]) == settings.chain_port
    assert _port_of_url(env["CERTREG_IPFS_API"]) == _port_of_url(DEFAULT_KUBO_API)
    assert _port_of_url(env["CERTREG_DATABASE_URL"].rsplit("@", 1)[1]) == POSTGRES_NATIVE_PORT
    assert int(env["CERTREG_API_PORT"]) == settings.api_port
    besu_config = tomllib.loads((REPO_ROOT / "deploy/besu/config.toml").read_text())
    assert besu_config["rpc-http-port"] == settings.chain_port


def test_compose_env_example_is_complete_and_its_placeholders_are_refused(
        compose: dict[str, Any]) -> None:
    example = _env_example()
    text = COMPOSE_FILE.read_text()
    required = {m["name"] for m in _INTERPOLATION.finditer(text) if m["op"] in {":?", "?"}}
    assert required, "the compose file should demand its secrets from deploy/.env"
    missing = required - set(example)
    assert not missing, f"deploy/.env.example lacks {sorted(missing)}"

    secret_fields = [v for v in example if v.startswith("CERTREG_") and v.endswith("PASSWORD")]
    assert secret_fields
    for variable in secret_fields:
        field = variable.removeprefix("CERTREG_").lower()
        with pytest.raises(ConfigurationError) as refused:
            load_settings(**{field: example[variable]})
        assert field in str(refused.value)
        assert example[variable] not in str(refused.value)  # the value is never echoed


def test_compose_commits_no_secret(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for variable, value in _environment(service).items():
            if re.search(r"PASSWORD|SECRET|_KEY$", variable) and not value.startswith("/run/"):
                assert _INTERPOLATION.fullmatch(value) or "${" in value, \
                    f"{name}: {variable} is a literal in the compose file"
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name} uses undeclared secret {secret}"
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./deploy/secrets/")
    ignore = (REPO_ROOT / "deploy/secrets/.gitignore").read_text().split()
    assert ignore[0] == "*" and set(ignore[1:]) == {"!.gitignore", "!README.md"}
    committed = subprocess.run(["git", "ls-files", "deploy/secrets"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=False).stdout.split()
    assert set(committed) <= {"deploy/secrets/.gitignore", "deploy/secrets/README.md"}


def test_compose_certreg_commands_exist_in_our_cli(compose: dict[str, Any]) -> None:
    """Each certreg service runs a command our own CLI accepts (the image's entrypoint)."""
    from registry.cli import build_parser

    parser = build_parser()
    for name in ("registry-api", "indexer"):
        args = parser.parse_args(compose["services"][name]["command"])
        assert callable(args.handler), name
