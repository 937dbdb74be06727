"""The revocations feed regulators poll: chain order, cursors, filters."""

from __future__ import annotations

import pytest

from anchor.chain import RevocationReason
from tests.registry.read_fixtures import ReadWorld, hex0x, read_world_fixture  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def database_url() -> None:
    """SQLite only here: the feed's SQL is the same on PostgreSQL (see the lookup tests)."""
    return None


def test_feed_lists_revocations_in_chain_order(read_world: ReadWorld) -> None:
    body = read_world.client.get("/v1/revocations").json()
    items = body["items"]
    assert [(i["document_sha256"], i["reason"]) for i in items] == [
        (hex0x(read_world.public[1].sha256), "superseded"),
        (hex0x(read_world.public[2].sha256), "withdrawn")]
    assert items[0]["replacement"] == hex0x(read_world.corrected.sha256)
    assert items[0]["issuer"]["code"] == "PTB"
    positions = [(i["block_number"], i["log_index"]) for i in items]
    assert positions == sorted(positions)
    assert body["has_more"] is False and body["next"] == items[-1]["cursor"]


def test_feed_filters_by_block_time_and_issuer(read_world: ReadWorld) -> None:
    items = read_world.client.get("/v1/revocations").json()["items"]
    second = items[1]
    since_block = read_world.client.get("/v1/revocations",
                                        params={"since_block": second["block_number"]}).json()
    assert [i["document_sha256"] for i in since_block["items"]] == [second["document_sha256"]]
    since_time = read_world.client.get("/v1/revocations",
                                       params={"since_time": second["revoked_at"]}).json()
    assert second["document_sha256"] in [i["document_sha256"] for i in since_time["items"]]
    assert read_world.client.get("/v1/revocations", params={
        "since_time": "2999-01-01T00:00:00"}).json()["items"] == []
    assert read_world.client.get("/v1/revocations", params={
        "issuer": "DAkkS-D-K-15070"}).json()["items"] == []
    assert len(read_world.client.get("/v1/revocations",
                                     params={"issuer": "PTB"}).json()["items"]) == 2


def test_feed_rejects_malformed_parameters(read_world: ReadWorld) -> None:
    for params in ({"cursor": "12"}, {"cursor": "a:b"}, {"limit": 0}, {"limit": 1001},
                   {"since_block": -1}, {"since_time": "soon"}):
        response = read_world.client.get("/v1/revocations", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "request-invalid"


def test_polling_with_the_cursor_sees_each_revocation_once(read_world: ReadWorld) -> None:
    first = read_world.client.get("/v1/revocations", params={"limit": 1}).json()
    assert len(first["items"]) == 1 and first["has_more"] is True
    second = read_world.client.get("/v1/revocations",
                                   params={"limit": 1, "cursor": first["next"]}).json()
    assert second["items"][0]["reason"] == "withdrawn" and second["has_more"] is False
    idle = read_world.client.get("/v1/revocations", params={"cursor": second["next"]}).json()
    assert idle["items"] == []
    # A revocation made after the last poll is the only news on the next one.
    read_world.issuer.revoke(read_world.public[3].sha256, RevocationReason.OUT_OF_TOLERANCE)
    news = read_world.client.get("/v1/revocations", params={"cursor": idle["next"]}).json()
    assert [(i["document_sha256"], i["reason"]) for i in news["items"]] == [
        (hex0x(read_world.public[3].sha256), "out-of-tolerance")]
    assert read_world.client.get("/v1/revocations",
                                 params={"cursor": news["next"]}).json()["items"] == []
