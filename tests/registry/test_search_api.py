"""Search over public metadata (FAIR findability), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.registry.read_fixtures import (  # noqa: F401 (fixtures)
    ReadWorld,
    database_url_fixture,
    hex0x,
    read_world_fixture,
)


def _search(world: ReadWorld, **params: Any) -> dict[str, Any]:
    response = world.client.get("/v1/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _numbers(body: dict[str, Any]) -> set[str]:
    return {item["unique_identifier"] for item in body["items"]}


def test_search_by_serial_number_finds_public_certificates_only(read_world: ReadWorld) -> None:
    # READ-00000/2/4 and the encrypted SECRET-00000 calibrate the same item (TH477D).
    found = _search(read_world, serial="th477d")
    assert _numbers(found) == {"READ-00000", "READ-00002", "READ-00004"}
    assert found["total"] == 3
    assert hex0x(read_world.encrypted.sha256) not in {i["sha256"] for i in found["items"]}
    assert _search(read_world, number="SECRET-00000")["total"] == 0
    # Revocation shows, it does not hide.
    by_hash = {i["sha256"]: i for i in found["items"]}
    assert by_hash[hex0x(read_world.public[2].sha256)]["revoked"] is True
    assert by_hash[hex0x(read_world.public[0].sha256)]["revoked"] is False


def test_search_by_manufacturer_model_identification_and_combined(read_world: ReadWorld) -> None:
    the_manufacturer = _search(read_world, manufacturer="  the   MANUFACTURER ")
    assert _numbers(the_manufacturer) == {"READ-00001", "READ-00003", "READ-00005",
                                          "READ-00001-R1"}
    assert _numbers(_search(read_world, identification="7.5-9.9-99-99-98", serial="99999-998",
                            number="READ-00003")) == {"READ-00003"}
    assert _numbers(_search(read_world, model="as-300")) == {"VC-2024-17"}
    assert _numbers(_search(read_world, serial="SN-4711", type="verification-certificate")) \
        == {"VC-2024-17"}
    assert _search(read_world, serial="SN-4711", type="dcc")["total"] == 0
    assert _search(read_world, serial="99999-998", issuer="DAkkS-D-K-15070")["total"] == 0
    assert _search(read_world, serial="99999-998", issuer="PTB")["total"] == 4


def test_search_by_issue_and_calibration_dates(read_world: ReadWorld) -> None:
    assert _numbers(_search(read_world, issued_from="2024-03-01", issued_to="2024-03-01")) \
        == {"VC-2024-17"}
    assert _search(read_world, issued_from="2024-03-02")["total"] == 0
    # ptb_singleweight was calibrated 2017-04-25, ptb_vacuumlab_SRG 2020-06-17.
    in_2017 = _search(read_world, calibrated_from="2017-01-01", calibrated_to="2017-12-31")
    assert _numbers(in_2017) == {"READ-00000", "READ-00002", "READ-00004"}
    assert _numbers(_search(read_world, calibrated_from="2020-06-17", type="dcc")) == {
        "READ-00001", "READ-00003", "READ-00005", "READ-00001-R1"}
    assert _numbers(_search(read_world, calibrated_to="2017-04-25")) == _numbers(in_2017)


def test_search_pages_are_stable_and_counted(read_world: ReadWorld) -> None:
    everything = _search(read_world, page_size=100)
    # 6 DCCs, the corrected one and the PDF; the encrypted one is never listed.
    assert everything["total"] == len(everything["items"]) == 8
    pages = [_search(read_world, page=n, page_size=3) for n in (1, 2, 3)]
    assert [p["total"] for p in pages] == [8, 8, 8]
    assert [len(p["items"]) for p in pages] == [3, 3, 2]
    paged = [item["sha256"] for p in pages for item in p["items"]]
    assert paged == [item["sha256"] for item in everything["items"]]
    blocks = [item["block_number"] for item in everything["items"]]
    assert blocks == sorted(blocks, reverse=True)  # newest anchoring first
    assert _search(read_world, page=4, page_size=3)["items"] == []


def test_search_rejects_malformed_parameters_with_codes(read_world: ReadWorld) -> None:
    for params, status in (({"page_size": 101}, 422), ({"page": 0}, 422),
                           ({"issued_from": "yesterday"}, 422),
                           ({"issued_from": "2024-02-01", "issued_to": "2024-01-01"}, 400),
                           ({"issuer": "I" * 33}, 400)):
        response = read_world.client.get("/v1/search", params=params)
        assert response.status_code == status, params
        assert response.json()["error"]["code"] == "request-invalid"


def test_search_by_unit_accepts_d_si_and_ucum_alike(read_world: ReadWorld) -> None:
    # READ-00000/2/4 (single weight) use \hecto\pascal and \centi\metre\tothe{3};
    # READ-00001/3/5 and -R1 (SRG) use \kilogram\tothe{-1}\metre\second\tothe{2}.
    weights = {"READ-00000", "READ-00002", "READ-00004"}
    srg = {"READ-00001", "READ-00003", "READ-00005", "READ-00001-R1"}
    assert _numbers(_search(read_world, unit="\\hecto\\pascal")) == weights
    assert _numbers(_search(read_world, unit="hPa")) == weights
    assert _numbers(_search(read_world, unit="cm3", type="dcc")) == weights
    assert _numbers(_search(read_world, unit="m.s2/kg")) == srg
    assert _numbers(_search(read_world, unit="\\metre\\second\\tothe{2}\\per\\kilogram")) == srg
    assert _search(read_world, unit="Pa")["total"] == 0  # hPa is not Pa
    refused = read_world.client.get("/v1/search", params={"unit": "HPA"})  # UCUM is cased
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "request-invalid"
    assert "neither a valid D-SI nor a valid UCUM unit" in refused.json()["error"]["message"]
