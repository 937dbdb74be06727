"""The audit trail over HTTP: every state change, filtered, as JSON pages or streamed
CSV / NDJSON exports that agree with each other."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tests.registry.read_fixtures import ReadWorld, read_world_fixture  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def database_url() -> None:
    return None


def _all_pages(world: ReadWorld, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = world.client.get("/v1/audit", params={**params, "limit": 7,
                                                         **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if not body["has_more"]:
            return items
        cursor = body["next"]


def test_audit_json_pages_cover_every_event_in_chain_order(read_world: ReadWorld) -> None:
    events = _all_pages(read_world)
    chain = read_world.issuer.client.events(read_world.issuer.client.deployment_block,
                                            "latest")
    assert [(e["transaction_hash"], e["log_index"]) for e in events] == [
        (e.transaction_hash, e.log_index) for e in chain]
    names = {e["event"] for e in events}
    assert {"ProposalCreated", "IssuerRegistered", "OperatorAdded", "BatchAnchored",
            "DocumentRevoked"} <= names
    anchored = next(e for e in events if e["event"] == "BatchAnchored")
    assert anchored["actor"] == read_world.issuer.client.account.address
    assert anchored["issuer"]["code"] == "PTB"


def test_audit_filters_by_type_issuer_and_range(read_world: ReadWorld) -> None:
    revoked = _all_pages(read_world, type="DocumentRevoked")
    assert [e["args"]["reason"] for e in revoked] == [1, 2]  # superseded, withdrawn
    several = _all_pages(read_world, type=["DocumentRevoked", "BatchAnchored"])
    assert {e["event"] for e in several} == {"DocumentRevoked", "BatchAnchored"}
    lab = _all_pages(read_world, issuer="DAkkS-D-K-15070")
    assert {e["event"] for e in lab} == {"IssuerRegistered", "OperatorAdded"}
    block = revoked[0]["block_number"]
    in_block = _all_pages(read_world, from_block=block, to_block=block)
    assert in_block and {e["block_number"] for e in in_block} == {block}
    # Block times have whole seconds: several events may share one.
    since = _all_pages(read_world, from_time=revoked[1]["time"], type="DocumentRevoked")
    assert revoked[1] in since and all(e["time"] >= revoked[1]["time"] for e in since)
    assert _all_pages(read_world, to_time="2000-01-01T00:00:00Z") == []
    assert _all_pages(read_world, from_time="2999-01-01T00:00:00") == []


def test_audit_csv_and_ndjson_exports_match_the_json(read_world: ReadWorld) -> None:
    expected = _all_pages(read_world, issuer="PTB")
    ndjson = read_world.client.get("/v1/audit", params={"issuer": "PTB", "format": "ndjson"})
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert lines == expected
    exported = read_world.client.get("/v1/audit", params={"issuer": "PTB", "format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["transaction_hash"], int(r["log_index"]), r["event"], r["actor"])
            for r in rows] == [(e["transaction_hash"], e["log_index"], e["event"], e["actor"])
                               for e in expected]
    assert [json.loads(r["args"]) for r in rows] == [e["args"] for e in expected]


def test_audit_rejects_unknown_event_types_and_bad_ranges(read_world: ReadWorld) -> None:
    for params, status in (({"type": "NoSuchEvent"}, 422), ({"format": "xml"}, 422),
                           ({"from_block": 10, "to_block": 2}, 400),
                           ({"cursor": "x"}, 422), ({"limit": 0}, 422)):
        response = read_world.client.get("/v1/audit", params=params)
        assert response.status_code == status, params
        assert response.json()["error"]["code"] == "request-invalid"
