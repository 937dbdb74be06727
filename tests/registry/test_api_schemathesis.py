"""Property-based API tests generated from our own OpenAPI document (schemathesis).

The app runs on a real registry — a contract on anvil, documents issued through the
pipeline (one of them revoked), SQLite — and every operation gets generated requests,
valid and invalid, with a valid issuance credential. Whatever the input, no response may
be a 5xx: malformed input is the caller's problem and must say so with a 4xx.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import GenerationMode

from anchor.chain import RevocationReason
from anchor.services.anvil import AnvilNode
from registry.api.app import create_app
from registry.documents.keys import SigningIdentityFiles
from registry.issuance import Issuer
from registry.settings import Settings
from tests.anchor.registry_fixtures import deploy_world
from tests.registry.api_support import PTB_CODE, api_token, bearer
from tests.registry.conftest import SIGNING_PASSWORD, MakeDccs

# Examples per operation and generation mode (valid and invalid requests): the whole run
# stays well under a minute on two cores.
EXAMPLES_PER_OPERATION = 30


@pytest.fixture(scope="module")
def populated_settings(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory,
                       signing_files: SigningIdentityFiles, make_dccs: MakeDccs) -> Settings:
    world = deploy_world(anvil)
    data_dir = tmp_path_factory.mktemp("schemathesis")
    settings = Settings(
        data_dir=data_dir / "data", rpc_url=anvil.rpc_url,
        contract_address=world.deployer.address,
        deployment_block=world.deployer.deployment_block,
        signing_key=signing_files.private_key_pem,
        signing_certificate=signing_files.certificate_pem,
        signing_password=SecretStr(SIGNING_PASSWORD),
        rate_limit_per_second=0.0, issuance_rate_limit_per_minute=0.0)
    issuer = Issuer.from_settings(settings)
    report = issuer.run(make_dccs(data_dir / "dcc", 4, "FUZZ"), batch_size=2)
    revoked = report.submissions[0].sha256
    assert revoked is not None and report.pending_documents == 0
    issuer.revoke(revoked, RevocationReason.WITHDRAWN)
    return settings


@pytest.fixture(scope="module")
def api_schema(populated_settings: Settings):
    app = create_app(populated_settings)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def issuance_token(populated_settings: Settings) -> str:
    return api_token(populated_settings, PTB_CODE)


def test_api_never_answers_with_a_server_error(api_schema, issuance_token: str) -> None:
    # schemathesis' Python API driven by hypothesis directly: its pytest plugin's lazy
    # fixtures do not work with pytest 9 (they rewrite the removed `Node._nodeid`).
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 6

    for operation, mode in itertools.product(operations, GenerationMode):
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(headers=bearer(issuance_token))
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:500]}\nreproduce: {case.as_curl_command()}")

        try:
            no_server_error()
        except AssertionError as failure:
            failures.append(str(failure))
        except Unsatisfiable:
            # Negative mode on an operation without parameters: nothing invalid to send.
            assert mode is GenerationMode.NEGATIVE
    assert failures == []


def test_api_schema_covers_every_route(api_schema) -> None:
    """A route missing from the OpenAPI document would escape the test above."""
    paths = set(api_schema.raw_schema["paths"])
    assert {"/v1/verify", "/v1/verify/{sha256}", "/v1/issuance/documents",
            "/v1/issuance/documents/{sha256}", "/v1/issuance/revocations", "/readyz"} <= paths


def test_fixture_registry_holds_documents(populated_settings: Settings) -> None:
    assert (Path(populated_settings.data_dir) / "receipts").is_dir()
    assert len(list((Path(populated_settings.data_dir) / "receipts").iterdir())) == 4
