"""Store and fetch confidential documents: encrypt, then put the envelope."""

from __future__ import annotations

from dataclasses import dataclass, field

from anchor.cid import Cid
from anchor.encryption import DocumentKey, decrypt_document, encrypt_document
from anchor.store.base import ContentStore


@dataclass(frozen=True)
class ConfidentialReceipt:
    """What the caller must keep: the CID of the envelope and the key (repr hides it)."""

    cid: Cid
    key: DocumentKey = field(repr=False)


def put_confidential(store: ContentStore, plaintext: bytes,
                     key: DocumentKey | None = None) -> ConfidentialReceipt:
    envelope, key = encrypt_document(plaintext, key)
    return ConfidentialReceipt(store.put(envelope), key)


def get_confidential(store: ContentStore, cid: Cid, key: DocumentKey) -> bytes:
    """The plaintext; the envelope is integrity-checked by the store, then authenticated."""
    return decrypt_document(store.get(cid), key)
