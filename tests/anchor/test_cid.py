"""CID computation, pure Python: encodings, the Cid value, and structural properties.

Equality with the real Kubo is proven in test_kubo_store.py; these tests pin down what
can be checked without a daemon.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.cid import (
    CODEC_DAG_PB,
    CODEC_RAW,
    KUBO_DEFAULT_IMPORT,
    REGISTRY_IMPORT,
    Cid,
    ImportOptions,
    base32_decode,
    base32_encode,
    base58btc_decode,
    base58btc_encode,
    compute_cid,
    decode_varint,
    encode_varint,
    verify_content,
)
from anchor.errors import CidError

digests = st.binary(min_size=32, max_size=32)
cids = st.builds(lambda version, codec, digest: Cid(version, codec if version else CODEC_DAG_PB,
                                                    digest),
                 st.sampled_from([0, 1]), st.sampled_from([CODEC_RAW, CODEC_DAG_PB]), digests)


@given(st.binary(max_size=80))
def test_base32_matches_rfc4648_lowercase_unpadded(data: bytes) -> None:
    expected = base64.b32encode(data).decode().rstrip("=").lower()
    assert base32_encode(data) == expected
    assert base32_decode(expected) == data
    assert base32_decode(expected.upper()) == data


@given(st.binary(max_size=80))
def test_base58btc_round_trips_and_keeps_leading_zero_bytes(data: bytes) -> None:
    text = base58btc_encode(data)
    assert base58btc_decode(text) == data
    leading_zero_bytes = len(data) - len(data.lstrip(b"\0"))
    assert text[:leading_zero_bytes] == "1" * leading_zero_bytes


@pytest.mark.parametrize(("data", "text"), [
    # Published vectors of the Bitcoin base58 alphabet (draft-msporny-base58).
    (b"Hello World!", "2NEpo7TZRRrLZSi2U"),
    (b"The quick brown fox jumps over the lazy dog.",
     "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"),
    (bytes.fromhex("0000287fb4cd"), "11233QC4"),
])
def test_base58btc_published_vectors(data: bytes, text: str) -> None:
    assert base58btc_encode(data) == text
    assert base58btc_decode(text) == data


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_varint_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert decode_varint(encoded) == (value, len(encoded))


@given(cids)
def test_cid_text_and_binary_forms_round_trip(cid: Cid) -> None:
    assert Cid.parse(str(cid)) == cid
    assert Cid.from_bytes(cid.to_bytes()) == cid
    assert str(cid).startswith("Qm" if cid.version == 0 else "b")


@given(digests)
def test_cidv1_parses_from_base58_multibase_too(digest: bytes) -> None:
    cid = Cid(1, CODEC_RAW, digest)
    assert Cid.parse("z" + base58btc_encode(cid.to_bytes())) == cid
    assert Cid.parse(str(cid).upper()) == cid  # CIDv1 base32 is case-insensitive


@pytest.mark.parametrize("text", [
    "", "Qm", "hello", "bafy", "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX0",
    "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4y1q",  # '1' not in base32
    "zzzz",
])
def test_malformed_cids_are_rejected_with_a_cid_error(text: str) -> None:
    with pytest.raises(CidError) as caught:
        Cid.parse(text)
    assert caught.value.code == "cid-invalid"


def test_cid_value_rejects_impossible_combinations() -> None:
    with pytest.raises(CidError):
        Cid(0, CODEC_RAW, bytes(32))  # CIDv0 is always dag-pb
    with pytest.raises(CidError):
        Cid(1, CODEC_RAW, bytes(31))
    with pytest.raises(CidError):
        Cid(2, CODEC_RAW, bytes(32))


def test_cid_is_a_hashable_immutable_value() -> None:
    cid = compute_cid(b"x")
    assert {cid, Cid.parse(str(cid))} == {cid}
    with pytest.raises(AttributeError):
        cid.version = 0  # type: ignore[misc]


@settings(max_examples=50)
@given(st.binary(max_size=2048))
def test_single_chunk_registry_cid_is_the_sha256_of_the_document(data: bytes) -> None:
    # Why the registry chose CIDv1 + raw leaves: a one-chunk document's CID embeds the
    # same SHA-256 that is anchored on chain.
    cid = compute_cid(data, REGISTRY_IMPORT)
    assert (cid.version, cid.codec) == (1, CODEC_RAW)
    assert cid.digest == hashlib.sha256(data).digest()
    assert str(cid).startswith("bafkrei")


def test_multi_chunk_documents_get_a_dag_pb_root() -> None:
    data = bytes(range(256)) * 1025  # just over one 256 KiB chunk
    cid = compute_cid(data, REGISTRY_IMPORT)
    assert (cid.version, cid.codec) == (1, CODEC_DAG_PB)
    assert str(cid).startswith("bafybei")
    assert compute_cid(data, KUBO_DEFAULT_IMPORT).version == 0


@settings(max_examples=30)
@given(st.binary(min_size=1, max_size=600), st.integers(min_value=0, max_value=599))
def test_any_changed_byte_changes_the_cid(data: bytes, position: int) -> None:
    options = ImportOptions(chunk_size=64, max_links=3)  # deep trees from small inputs
    position %= len(data)
    altered = bytearray(data)
    altered[position] ^= 0x01
    assert compute_cid(bytes(altered), options) != compute_cid(data, options)
    assert verify_content(compute_cid(data, options), data, options)
    assert not verify_content(compute_cid(data, options), bytes(altered), options)


def test_appending_data_changes_the_cid_even_across_chunk_boundaries() -> None:
    options = ImportOptions(chunk_size=16, max_links=2)
    seen = {compute_cid(b"a" * size, options) for size in range(0, 200)}
    assert len(seen) == 200


def test_import_options_are_validated() -> None:
    with pytest.raises(CidError):
        ImportOptions(cid_version=2)
    with pytest.raises(CidError):
        ImportOptions(max_links=1)
