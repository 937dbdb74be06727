"""Content identifiers (CIDs) computed in pure Python, identical to Kubo's `ipfs add`.

A document is imported the way Kubo v0.43.1 imports a file: UnixFS, fixed-size chunks
(`size-262144`), balanced DAG layout with at most 174 links per node, dag-pb internal
nodes, SHA-256 multihashes. Two parameter sets matter:

* `KUBO_DEFAULT_IMPORT` — plain `ipfs add`: CIDv0 (`Qm...`, base58btc), leaves wrapped
  in dag-pb/UnixFS nodes.
* `REGISTRY_IMPORT` — `ipfs add --cid-version=1` (which implies `--raw-leaves`): CIDv1
  in base32 (`bafy...`/`bafk...`), leaves stored as raw blocks. The registry uses this
  one. A document of at most one chunk (256 KiB, which covers nearly every DCC) is then a
  single raw block whose CID is `bafkrei` + base32(SHA-256(document)): the CID embeds the
  same digest that is anchored on chain, so either can be checked against the other
  without IPFS tooling. CIDv1 is also case-insensitive (safe in URLs and file names) and
  is the version every current IPFS implementation defaults to or recommends.

Only the SHA-256 multihash is supported; it is the one both options use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from anchor.errors import CidError

# Multicodec / multihash table entries we use (https://github.com/multiformats/multicodec).
CODEC_DAG_PB = 0x70
CODEC_RAW = 0x55
HASH_SHA2_256 = 0x12
SHA2_256_LENGTH = 32

_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(_BASE58_ALPHABET)}
_BASE32_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_BASE32_INDEX = {char: index for index, char in enumerate(_BASE32_ALPHABET)}

# UnixFS `Data.DataType.File`; Kubo's balanced importer gives every node this type.
_UNIXFS_TYPE_FILE = 2


# --- multibase -------------------------------------------------------------------------


def base58btc_encode(data: bytes) -> str:
    """Bitcoin's base58 alphabet; leading zero bytes become leading '1's."""
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(_BASE58_ALPHABET[remainder])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def base58btc_decode(text: str) -> bytes:
    number = 0
    for char in text:
        try:
            number = number * 58 + _BASE58_INDEX[char]
        except KeyError:
            raise CidError(f"invalid base58btc character {char!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def base32_encode(data: bytes) -> str:
    """RFC 4648 base32, lower case, no padding: multibase 'b' as used by CIDv1."""
    bits = int.from_bytes(data, "big") if data else 0
    total_bits = len(data) * 8
    pad_bits = (-total_bits) % 5
    bits <<= pad_bits
    count = (total_bits + pad_bits) // 5
    return "".join(_BASE32_ALPHABET[(bits >> (5 * (count - 1 - i))) & 31] for i in range(count))


def base32_decode(text: str) -> bytes:
    text = text.lower()
    bits = 0
    for char in text:
        try:
            bits = (bits << 5) | _BASE32_INDEX[char]
        except KeyError:
            raise CidError(f"invalid base32 character {char!r}") from None
    total_bits = len(text) * 5
    pad_bits = total_bits % 8
    if pad_bits >= 5 or bits & ((1 << pad_bits) - 1):
        raise CidError("non-canonical base32 length or padding bits")
    return (bits >> pad_bits).to_bytes(total_bits // 8, "big")


# --- varints and protobuf ----------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, offset: int = 0) -> tuple[int, int]:
    """Returns (value, offset after the varint)."""
    value = shift = 0
    while True:
        if offset >= len(data):
            raise CidError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
        if shift > 63:
            raise CidError("varint too long")


def _pb_varint_field(field: int, value: int) -> bytes:
    return encode_varint(field << 3) + encode_varint(value)


def _pb_bytes_field(field: int, value: bytes) -> bytes:
    return encode_varint((field << 3) | 2) + encode_varint(len(value)) + value


# --- the CID value -----------------------------------------------------------------------


@dataclass(frozen=True)
class Cid:
    """A content identifier. `str(cid)` is the canonical text form (v0 base58btc, v1 base32)."""

    version: int
    codec: int
    digest: bytes
    hash_code: int = HASH_SHA2_256

    def __post_init__(self) -> None:
        if self.version not in (0, 1):
            raise CidError(f"unsupported CID version {self.version}")
        if self.version == 0 and (self.codec != CODEC_DAG_PB or self.hash_code != HASH_SHA2_256):
            raise CidError("CIDv0 is always dag-pb with SHA-256")
        if self.hash_code == HASH_SHA2_256 and len(self.digest) != SHA2_256_LENGTH:
            raise CidError(f"SHA-256 digest must be 32 bytes, got {len(self.digest)}")

    @property
    def multihash(self) -> bytes:
        return encode_varint(self.hash_code) + encode_varint(len(self.digest)) + self.digest

    def to_bytes(self) -> bytes:
        """Binary form, as it appears inside dag-pb links."""
        if self.version == 0:
            return self.multihash
        return encode_varint(1) + encode_varint(self.codec) + self.multihash

    def __str__(self) -> str:
        if self.version == 0:
            return base58btc_encode(self.multihash)
        return "b" + base32_encode(self.to_bytes())

    def __repr__(self) -> str:
        return f"Cid({str(self)!r})"

    @classmethod
    def from_bytes(cls, data: bytes) -> Cid:
        if len(data) == 34 and data[:2] == b"\x12\x20":
            return cls(0, CODEC_DAG_PB, data[2:])
        version, offset = decode_varint(data)
        if version != 1:
            raise CidError(f"unsupported CID version {version}")
        codec, offset = decode_varint(data, offset)
        hash_code, offset = decode_varint(data, offset)
        length, offset = decode_varint(data, offset)
        digest = data[offset:]
        if len(digest) != length:
            raise CidError("multihash length does not match its digest")
        if hash_code != HASH_SHA2_256:
            raise CidError(f"unsupported multihash 0x{hash_code:x}: only SHA-256 is accepted")
        return cls(1, codec, digest, hash_code)

    @classmethod
    def parse(cls, text: str) -> Cid:
        """Parse `Qm...` (v0), `b...` (v1 base32) or `z...` (v1 base58btc)."""
        text = text.strip()
        if not text:
            raise CidError("empty CID")
        if len(text) == 46 and text.startswith("Qm"):
            return cls.from_bytes(base58btc_decode(text))
        prefix, body = text[0], text[1:]
        if prefix in "bB":
            return cls.from_bytes(base32_decode(body))
        if prefix == "z":
            return cls.from_bytes(base58btc_decode(body))
        raise CidError(f"unrecognised CID {text[:64]!r}")


def raw_cid(block: bytes) -> Cid:
    """The CIDv1 of `block` stored as a raw (codec 0x55) block."""
    return Cid(1, CODEC_RAW, hashlib.sha256(block).digest())


# --- UnixFS import -----------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOptions:
    """The `ipfs add` parameters that determine a CID. Both stores must use the same."""

    cid_version: int = 1
    raw_leaves: bool = True
    chunk_size: int = 262_144
    max_links: int = 174

    def __post_init__(self) -> None:
        if self.cid_version not in (0, 1):
            raise CidError(f"unsupported CID version {self.cid_version}")
        if self.chunk_size < 1 or self.max_links < 2:
            raise CidError("chunk_size must be >= 1 and max_links >= 2")

    @property
    def kubo_add_options(self) -> dict[str, object]:
        """The matching options of Kubo's /api/v0/add."""
        return {"cid-version": self.cid_version, "raw-leaves": self.raw_leaves,
                "chunker": f"size-{self.chunk_size}", "max-file-links": self.max_links}


KUBO_DEFAULT_IMPORT = ImportOptions(cid_version=0, raw_leaves=False)
REGISTRY_IMPORT = ImportOptions(cid_version=1, raw_leaves=True)


@dataclass(frozen=True)
class _DagNode:
    cid: Cid
    tree_size: int  # serialized bytes of the node and everything below it (dag-pb Tsize)
    file_size: int  # file bytes below it (UnixFS filesize / blocksizes)


def _unixfs_file(file_size: int, data: bytes = b"", block_sizes: tuple[int, ...] = ()) -> bytes:
    # Field order Type, Data, filesize, blocksizes is what Kubo's protobuf marshaller writes;
    # Data is omitted when empty, filesize is always written.
    out = _pb_varint_field(1, _UNIXFS_TYPE_FILE)
    if data:
        out += _pb_bytes_field(2, data)
    out += _pb_varint_field(3, file_size)
    for size in block_sizes:
        out += _pb_varint_field(4, size)
    return out


def _dag_pb_node(links: list[_DagNode], unixfs_data: bytes) -> bytes:
    # dag-pb canonical form: all Links (field 2) before Data (field 1). Kubo writes the
    # empty Name of file links explicitly, so it is part of the hashed bytes.
    out = b""
    for link in links:
        encoded = (_pb_bytes_field(1, link.cid.to_bytes()) + _pb_bytes_field(2, b"")
                   + _pb_varint_field(3, link.tree_size))
        out += _pb_bytes_field(2, encoded)
    return out + _pb_bytes_field(1, unixfs_data)


def _dag_pb_cid(block: bytes, version: int) -> Cid:
    return Cid(version, CODEC_DAG_PB, hashlib.sha256(block).digest())


def iter_chunks(data: bytes, chunk_size: int) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), chunk_size):
        yield bytes(view[start:start + chunk_size])


Blocks = list[tuple[Cid, bytes]]


def _leaf(chunk: bytes, options: ImportOptions, blocks: Blocks | None) -> _DagNode:
    if options.raw_leaves:
        node = _DagNode(raw_cid(chunk), len(chunk), len(chunk))
        block = chunk
    else:
        block = _dag_pb_node([], _unixfs_file(len(chunk), chunk))
        node = _DagNode(_dag_pb_cid(block, options.cid_version), len(block), len(chunk))
    if blocks is not None:
        blocks.append((node.cid, block))
    return node


def _parent(children: list[_DagNode], options: ImportOptions,
            blocks: Blocks | None) -> _DagNode:
    file_size = sum(child.file_size for child in children)
    unixfs = _unixfs_file(file_size, block_sizes=tuple(child.file_size for child in children))
    block = _dag_pb_node(children, unixfs)
    tree_size = len(block) + sum(child.tree_size for child in children)
    node = _DagNode(_dag_pb_cid(block, options.cid_version), tree_size, file_size)
    if blocks is not None:
        blocks.append((node.cid, block))
    return node


def _import(data: bytes, options: ImportOptions, blocks: Blocks | None) -> Cid:
    level = [_leaf(chunk, options, blocks) for chunk in iter_chunks(data, options.chunk_size)]
    if not level:
        # Kubo imports an empty file as a single empty leaf.
        return _leaf(b"", options, blocks).cid
    # Kubo's balanced builder fills each node with max_links children before growing a new
    # root above it; that is the same tree as grouping each level left to right, except
    # that a single leaf is its own root rather than being wrapped.
    while len(level) > 1:
        level = [_parent(level[start:start + options.max_links], options, blocks)
                 for start in range(0, len(level), options.max_links)]
    return level[0].cid


def compute_cid(data: bytes, options: ImportOptions = REGISTRY_IMPORT) -> Cid:
    """The root CID `ipfs add` with `options` gives for a file holding `data`."""
    return _import(data, options, None)


def dag_blocks(data: bytes, options: ImportOptions = REGISTRY_IMPORT) -> tuple[Cid, Blocks]:
    """The root CID and every block (leaves first, root last) of the UnixFS DAG `ipfs add`
    with `options` builds for `data`: what a CAR file of the document holds."""
    blocks: Blocks = []
    return _import(data, options, blocks), blocks


def verify_content(cid: Cid, data: bytes, options: ImportOptions = REGISTRY_IMPORT) -> bool:
    """True iff `data` imported with `options` yields exactly `cid`."""
    return compute_cid(data, options) == cid
