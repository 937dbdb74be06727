"""Document digests: the SHA-256 of the exact bytes is what gets anchored."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

_HEX64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def canonical_json_text(value: Any) -> str:
    """The one JSON encoding of what gets hashed or published (evidence records,
    metadata, manifests, the registry's JSON columns): keys sorted, no whitespace,
    characters as they are, so equal values give equal text, and equal text equal
    digests and CIDs."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class DocumentDigest:
    """SHA-256 of a document's exact bytes; 32 raw bytes."""

    value: bytes

    def __post_init__(self) -> None:
        if len(self.value) != 32:
            raise ValueError("a document digest is exactly 32 bytes")

    @classmethod
    def of(cls, data: bytes) -> DocumentDigest:
        return cls(hashlib.sha256(data).digest())

    @classmethod
    def from_hex(cls, text: str) -> DocumentDigest:
        if not _HEX64.match(text):
            raise ValueError("expected 64 hex digits, optionally prefixed with 0x")
        return cls(bytes.fromhex(text.removeprefix("0x")))

    @property
    def hex(self) -> str:
        """0x-prefixed lowercase hex, the form used on chain and in receipts."""
        return "0x" + self.value.hex()

    def __str__(self) -> str:
        return self.hex
