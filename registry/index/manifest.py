"""Batch manifests: the public list of a batch's documents, stored on IPFS next to the root.

The anchoring transaction names the manifest's CID, so chain + IPFS alone describe every
batch: which documents (SHA-256, CID, type, public metadata) make up the root. Encrypted
documents are listed with `metadata: null` — their metadata is as confidential as they are.

The bytes are canonical (sorted keys, no whitespace, no timestamps), so sealing the same
members again after a crash yields the same manifest and the same CID.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from anchor.digest import canonical_json_text
from anchor.merkle import MerkleBatch
from anchor.receipt import LEAF_ENCODING
from registry.documents.model import CanonicalJson
from registry.errors import ManifestInvalidError

MANIFEST_FORMAT = "certreg-batch-manifest/1"
_HEX64 = re.compile(r"^0x[0-9a-f]{64}$")


def _hex_in(value: object, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise ManifestInvalidError(f"{what} must be 0x-prefixed lowercase hex of 32 bytes")
    return value[2:]


def load_manifest_json(data: bytes, manifest_format: str) -> dict[str, Any]:
    """A manifest's JSON object, of `manifest_format` (batch or renewal manifest)."""
    try:
        value = json.loads(data)
    except ValueError:
        raise ManifestInvalidError("manifest is not JSON") from None
    if not isinstance(value, dict) or value.get("format") != manifest_format:
        raise ManifestInvalidError(f"not a {manifest_format} manifest")
    return value


@dataclass(frozen=True)
class ManifestMember:
    sha256: str  # hex, no 0x (as in the database)
    cid: str
    document_type: str
    encrypted: bool
    unique_identifier: str | None
    metadata: dict[str, Any] | None
    # `metadata` as issuance encoded it (None: encode it here); never a different value.
    metadata_json: CanonicalJson | None = field(default=None, repr=False, compare=False)

    @classmethod
    def published(cls, sha256: str, cid: str, document_type: str, encrypted: bool,
                  unique_identifier: str | None,
                  metadata: CanonicalJson | dict[str, Any] | None) -> ManifestMember:
        """A member whose metadata comes as the outbox holds it: encoded or decoded."""
        if isinstance(metadata, CanonicalJson):
            return cls(sha256, cid, document_type, encrypted, unique_identifier,
                       metadata.decoded(), metadata)
        return cls(sha256, cid, document_type, encrypted, unique_identifier, metadata)

    def to_json(self) -> dict[str, Any]:
        return {"sha256": "0x" + self.sha256, "cid": self.cid,
                "document_type": self.document_type, "encrypted": self.encrypted,
                "unique_identifier": self.unique_identifier, "metadata": self.metadata}

    def canonical_text(self) -> str:
        """`canonical_json_text(self.to_json())`, with the metadata's text as encoded already."""
        metadata = (self.metadata_json if self.metadata_json is not None
                    else canonical_json_text(self.metadata))
        # The keys in sorted order, as canonical_json_text writes them.
        return (f'{{"cid":{canonical_json_text(self.cid)},'
                f'"document_type":{canonical_json_text(self.document_type)},'
                f'"encrypted":{canonical_json_text(self.encrypted)},"metadata":{metadata},'
                f'"sha256":{canonical_json_text("0x" + self.sha256)},'
                f'"unique_identifier":{canonical_json_text(self.unique_identifier)}}}')


@dataclass(frozen=True)
class BatchManifest:
    issuer_id: str  # hex, no 0x
    root: str  # hex, no 0x
    documents: tuple[ManifestMember, ...]

    def to_bytes(self) -> bytes:
        """`canonical_json_text` of the manifest, in UTF-8. Written piece by piece so that each
        member's metadata is not encoded again (see CanonicalJson); the differential test
        of tests/registry/test_index_manifest.py holds it to the json.dumps it replaced."""
        documents = ",".join(member.canonical_text() for member in self.documents)
        return (f'{{"count":{len(self.documents)},"documents":[{documents}],'
                f'"format":{canonical_json_text(MANIFEST_FORMAT)},'
                f'"issuer_id":{canonical_json_text("0x" + self.issuer_id)},'
                f'"leaf_encoding":{canonical_json_text(LEAF_ENCODING)},'
                f'"merkle_root":{canonical_json_text("0x" + self.root)}}}').encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> BatchManifest:
        value = load_manifest_json(data, MANIFEST_FORMAT)
        if value.get("leaf_encoding") != LEAF_ENCODING:
            raise ManifestInvalidError("unsupported leaf encoding")
        documents = value.get("documents")
        if not isinstance(documents, list) or value.get("count") != len(documents):
            raise ManifestInvalidError("manifest documents and count disagree")
        members = []
        for entry in documents:
            if not isinstance(entry, dict):
                raise ManifestInvalidError("a manifest entry is an object")
            metadata = entry.get("metadata")
            unique_identifier = entry.get("unique_identifier")
            if not isinstance(entry.get("cid"), str) or not isinstance(
                    entry.get("document_type"), str) or not isinstance(
                    entry.get("encrypted"), bool) or not (
                    metadata is None or isinstance(metadata, dict)) or not (
                    unique_identifier is None or isinstance(unique_identifier, str)):
                raise ManifestInvalidError("malformed manifest entry")
            members.append(ManifestMember(
                sha256=_hex_in(entry.get("sha256"), "sha256"), cid=entry["cid"],
                document_type=entry["document_type"], encrypted=entry["encrypted"],
                unique_identifier=unique_identifier, metadata=metadata))
        return cls(issuer_id=_hex_in(value.get("issuer_id"), "issuer_id"),
                   root=_hex_in(value.get("merkle_root"), "merkle_root"),
                   documents=tuple(members))


class ManifestCache:
    """The batch manifests this process has just sealed, by CID, with the Merkle tree of
    their members, so that indexing the anchoring it made a moment ago neither reads back
    and parses the bytes it wrote nor builds the same tree again.

    A CID names its bytes, and `BatchManifest.from_bytes(manifest.to_bytes())` is the
    manifest itself, so an entry is exactly what the store would give for that CID (and
    the tree is `MerkleBatch.of` its members): the indexer still checks it against the
    anchored batch as it checks a parsed one. Entries are taken once (a batch is indexed
    once; a reorg's re-indexing reads the store), and only the newest `capacity` are held:
    a manifest holds its batch's metadata, and the pipelined issuer has one batch between
    sealing and indexing.
    """

    def __init__(self, capacity: int = 1) -> None:
        self.capacity = capacity
        self._entries: dict[str, tuple[BatchManifest, MerkleBatch]] = {}

    def remember(self, cid: str, manifest: BatchManifest, tree: MerkleBatch) -> None:
        self._entries.pop(cid, None)
        self._entries[cid] = (manifest, tree)
        while len(self._entries) > self.capacity:
            del self._entries[next(iter(self._entries))]

    def take(self, cid: str) -> tuple[BatchManifest, MerkleBatch] | None:
        return self._entries.pop(cid, None)
