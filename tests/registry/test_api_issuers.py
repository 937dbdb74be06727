"""Issuers over HTTP: what the chain says now, status history and operators over time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from anchor.chain import GovernanceAction, IssuerStatus
from registry.api.app import create_app
from registry.cli.audit import build_indexer
from registry.documents.keys import SigningIdentityFiles
from tests.anchor.registry_fixtures import LAB, RegistryWorld, account
from tests.registry.read_fixtures import read_settings


@pytest.fixture
def api(world: RegistryWorld, tmp_path: Path,
        signing_files: SigningIdentityFiles) -> Iterator[TestClient]:
    # LAB is suspended and reactivated; it gains a second operator and loses it again.
    world.govern(GovernanceAction.set_issuer_status(LAB, IssuerStatus.SUSPENDED))
    world.govern(GovernanceAction.set_issuer_status(LAB, IssuerStatus.ACTIVE))
    world.lab_admin.add_operator(LAB, world.spare.address)
    world.lab_admin.remove_operator(LAB, world.spare.address)
    settings = read_settings(world, tmp_path / "data", signing_files)
    build_indexer(settings).catch_up()
    with TestClient(create_app(settings)) as client:
        yield client


def test_issuers_lists_every_registered_issuer(api: TestClient) -> None:
    items = api.get("/v1/issuers").json()["items"]
    assert [(i["code"], i["country"], i["kind"], i["status"]) for i in items] == [
        ("PTB", "DE", "national_metrology_institute", "active"),
        ("DAkkS-D-K-15070", "BY", "accredited_laboratory", "active")]
    assert items[0]["operators"] == [account(5).address]


def test_issuer_status_history_has_block_time_and_transaction(
        api: TestClient, world: RegistryWorld) -> None:
    body = api.get("/v1/issuers/DAkkS-D-K-15070").json()
    history = body["status_history"]
    assert [(h["previous_status"], h["status"]) for h in history] == [
        (None, "active"), ("active", "suspended"), ("suspended", "active")]
    blocks = [h["block_number"] for h in history]
    assert blocks == sorted(blocks) and len(set(blocks)) == 3
    for change in history:
        block = world.deployer.w3.eth.get_block(change["block_number"])
        assert change["transaction_hash"] in {"0x" + bytes(t).hex() for t in block["transactions"]}
        # Executed by the governor whose approval reached the threshold.
        assert change["actor"] in {account(1).address, account(2).address}
    assert body["admin_history"][0]["admin"] == account(6).address


def test_issuer_operators_over_time(api: TestClient, world: RegistryWorld) -> None:
    body = api.get(f"/v1/issuers/0x{LAB.hex()}").json()  # the bytes32 id works too
    assert body["code"] == "DAkkS-D-K-15070"
    assert body["operators"] == [account(7).address]
    periods = {p["operator"]: p for p in body["operator_history"]}
    assert periods[account(7).address]["removed"] is None
    spare = periods[world.spare.address]
    assert spare["removed"] is not None
    assert spare["added"]["block_number"] < spare["removed"]["block_number"]
    assert spare["removed"]["time"] >= spare["added"]["time"]


def test_unknown_issuer_is_404_and_malformed_code_400(api: TestClient) -> None:
    unknown = api.get("/v1/issuers/NOBODY")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not-found"
    malformed = api.get("/v1/issuers/" + "X" * 33)
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "request-invalid"
