"""Certificate lookup over HTTP (by hash, CID, issuer + number), the document itself, its
receipt and history — on SQLite and PostgreSQL, against a real chain and store."""

from __future__ import annotations

import hashlib

from anchor.encryption import DocumentKey
from anchor.receipt import Receipt, Verdict, verify_receipt
from tests.registry.read_fixtures import (  # noqa: F401 (fixtures)
    PDF_BYTES,
    ReadWorld,
    database_url_fixture,
    hex0x,
    read_world_fixture,
)


def test_lookup_by_hash_gives_metadata_issuer_batch_and_anchoring(read_world: ReadWorld) -> None:
    first = read_world.public[0]
    body = read_world.client.get(f"/v1/certificates/{hex0x(first.sha256)}").json()
    assert body["sha256"] == hex0x(first.sha256) and body["cid"] == first.cid
    assert body["unique_identifier"] == "READ-00000"
    assert body["metadata"]["unique_identifier"] == "READ-00000"
    assert body["issuer"]["code"] == "PTB" and body["issuer"]["country"] == "DE"
    assert body["issuer"]["status"] == "active"
    receipt = first.receipt
    assert receipt is not None
    anchoring = body["anchoring"]
    assert anchoring["batch_id"] == receipt.batch_id
    assert anchoring["transaction_hash"] == receipt.transaction_hash
    assert anchoring["block_number"] == receipt.block_number
    assert anchoring["merkle_root"] == receipt.merkle_root
    assert body["revoked"] is False and body["revocation"] is None


def test_lookup_by_cid_and_by_issuer_and_number(read_world: ReadWorld) -> None:
    third = read_world.public[3]
    by_cid = read_world.client.get(f"/v1/certificates/by-cid/{third.cid}")
    assert by_cid.status_code == 200 and by_cid.json()["sha256"] == hex0x(third.sha256)
    # Numbers match whatever the case; the issuer may be given by code.
    by_number = read_world.client.get("/v1/certificates",
                                      params={"issuer": "PTB", "number": "read-00003"})
    assert [c["sha256"] for c in by_number.json()["items"]] == [hex0x(third.sha256)]
    pdf = read_world.client.get("/v1/certificates",
                                params={"issuer": "PTB", "number": "VC-2024-17"}).json()
    assert [c["document_type"] for c in pdf["items"]] == ["verification-certificate"]
    other_issuer = read_world.client.get(
        "/v1/certificates", params={"issuer": "DAkkS-D-K-15070", "number": "READ-00003"})
    assert other_issuer.status_code == 404
    assert other_issuer.json()["error"]["code"] == "not-found"


def test_lookup_shows_revocation_and_replacement_links_both_ways(read_world: ReadWorld) -> None:
    old, new = read_world.public[1], read_world.corrected
    old_body = read_world.client.get(f"/v1/certificates/{hex0x(old.sha256)}").json()
    assert old_body["revoked"] is True
    assert old_body["revocation"]["reason"] == "superseded"
    assert old_body["revocation"]["replacement"] == hex0x(new.sha256)
    assert old_body["superseded_by"] == [hex0x(new.sha256)]
    new_body = read_world.client.get(f"/v1/certificates/{hex0x(new.sha256)}").json()
    assert new_body["supersedes"] == [hex0x(old.sha256)] and new_body["revoked"] is False

    history = read_world.client.get(f"/v1/certificates/{hex0x(old.sha256)}/history").json()
    assert [e["event"] for e in history["events"]] == ["anchored", "revoked"]
    assert history["events"][1]["related_sha256"] == hex0x(new.sha256)
    assert history["events"][0]["block_number"] < history["events"][1]["block_number"]
    new_history = read_world.client.get(f"/v1/certificates/{hex0x(new.sha256)}/history").json()
    assert [e["event"] for e in new_history["events"]] == ["anchored", "supersedes"]
    assert new_history["supersedes"] == [hex0x(old.sha256)]

    withdrawn = read_world.client.get(
        f"/v1/certificates/{hex0x(read_world.public[2].sha256)}").json()
    assert withdrawn["revocation"]["reason"] == "withdrawn"
    assert withdrawn["superseded_by"] == []


def test_document_bytes_come_from_the_store_and_hash_to_the_anchored_digest(
        read_world: ReadWorld) -> None:
    first = read_world.public[0]
    response = read_world.client.get(f"/v1/certificates/{hex0x(first.sha256)}/document")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert hashlib.sha256(response.content).hexdigest() == first.sha256
    pdf = read_world.client.get(f"/v1/certificates/{hex0x(read_world.pdf.sha256)}/document")
    assert pdf.content == PDF_BYTES and pdf.headers["content-type"] == "application/pdf"


def test_encrypted_document_needs_its_key(read_world: ReadWorld) -> None:
    url = f"/v1/certificates/{hex0x(read_world.encrypted.sha256)}/document"
    missing = read_world.client.get(url)
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "document-key-required"
    wrong = read_world.client.get(url, headers={"X-Document-Key": DocumentKey.generate().to_text()})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "decryption-failed"
    garbage = read_world.client.get(url, headers={"X-Document-Key": "not a key"})
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] == "decryption-failed"
    right = read_world.client.get(url, headers={"X-Document-Key": read_world.key.to_text()})
    assert right.status_code == 200
    assert hashlib.sha256(right.content).hexdigest() == read_world.encrypted.sha256
    # The public record says it is encrypted and gives away no metadata.
    record = read_world.client.get(f"/v1/certificates/{hex0x(read_world.encrypted.sha256)}")
    assert record.json()["encrypted"] is True and record.json()["metadata"] is None
    assert record.json()["unique_identifier"] is None


def test_receipt_from_the_api_verifies_against_the_chain(read_world: ReadWorld) -> None:
    fourth = read_world.public[4]
    response = read_world.client.get(f"/v1/certificates/{hex0x(fourth.sha256)}/receipt")
    receipt = Receipt.from_dict(response.json())
    assert receipt == fourth.receipt
    assert verify_receipt(receipt, read_world.issuer.client).verdict is Verdict.VALID
    revoked = read_world.client.get(
        f"/v1/certificates/{hex0x(read_world.public[2].sha256)}/receipt").json()
    assert verify_receipt(Receipt.from_dict(revoked),
                          read_world.issuer.client).verdict is Verdict.REVOKED


def test_unknown_and_malformed_ids_are_4xx_with_stable_codes(read_world: ReadWorld) -> None:
    unknown = "0x" + "ab" * 32
    for path in (f"/v1/certificates/{unknown}", f"/v1/certificates/{unknown}/document",
                 f"/v1/certificates/{unknown}/receipt", f"/v1/certificates/{unknown}/history",
                 "/v1/certificates/by-cid/bafkreinothere"):
        response = read_world.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not-found"
    malformed = read_world.client.get("/v1/certificates/not-a-hash")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["code"] == "request-invalid"
    too_long = read_world.client.get("/v1/certificates",
                                     params={"issuer": "X" * 40, "number": "1"})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "request-invalid"


def test_lookup_shows_each_unit_in_d_si_and_ucum(read_world: ReadWorld) -> None:
    # READ-00000 is PTB's single weight: its units as written, with their UCUM codes.
    body = read_world.client.get(f"/v1/certificates/{hex0x(read_world.public[0].sha256)}").json()
    units = {u["dsi"]: (u["ucum"], u["no_ucum_reason"]) for u in body["units"]}
    assert units["\\hecto\\pascal"] == ("hPa", None)
    assert units["\\centi\\metre\\tothe{3}"] == ("cm3", None)
    assert units["\\one"] == ("1", None)
    for malformed in ("\\degreeCelsius", "/kilogram"):  # PTB's own typos: reported, not guessed
        ucum, reason = units[malformed]
        assert ucum is None and "not a valid D-SI unit" in reason
    encrypted = read_world.client.get(f"/v1/certificates/{hex0x(read_world.encrypted.sha256)}")
    assert encrypted.json()["units"] == []
