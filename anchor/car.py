"""CAR v1 archives (https://ipld.io/specs/transport/car/carv1/): many documents' UnixFS
blocks in one stream, for Kubo's /api/v0/dag/import.

Layout: varint(header length), header, then per block varint(CID length + block length),
CID bytes, block bytes. The header is the DAG-CBOR map {"roots": [CID, ...], "version": 1};
its shape is fixed, so it is encoded here directly (CIDs are CBOR tag 42 over a byte
string holding 0x00 and the binary CID).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from anchor.cid import Cid, encode_varint

_CBOR_TAG_CID = b"\xd8\x2a"  # tag 42


def _cbor_head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for code, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * width):
            return bytes([major << 5 | code]) + value.to_bytes(width, "big")
    raise ValueError("CBOR length out of range")


def car_header(roots: Sequence[Cid]) -> bytes:
    """The DAG-CBOR header block (keys in DAG-CBOR order: shorter first)."""
    encoded_roots = b"".join(
        _CBOR_TAG_CID + _cbor_head(2, len(cid.to_bytes()) + 1) + b"\x00" + cid.to_bytes()
        for cid in roots)
    return (_cbor_head(5, 2)
            + _cbor_head(3, 5) + b"roots" + _cbor_head(4, len(roots)) + encoded_roots
            + _cbor_head(3, 7) + b"version" + _cbor_head(0, 1))


def write_car(roots: Sequence[Cid], blocks: Iterable[tuple[Cid, bytes]]) -> bytes:
    """A CAR v1 archive of `blocks` (each once) naming `roots`."""
    header = car_header(roots)
    parts = [encode_varint(len(header)), header]
    seen: set[bytes] = set()
    for cid, block in blocks:
        cid_bytes = cid.to_bytes()
        if cid_bytes in seen:
            continue
        seen.add(cid_bytes)
        parts += [encode_varint(len(cid_bytes) + len(block)), cid_bytes, block]
    return b"".join(parts)
