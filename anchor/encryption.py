"""Confidential documents: AES-256-GCM over the document before it is stored.

Envelope (all a blob needs to be recognised and opened, given the key):

    magic  b"\\x89CRE"   4 bytes; the high first byte keeps it from looking like text/XML
    version 0x01        1 byte
    nonce               12 bytes, random per encryption
    ciphertext || tag   len(plaintext) + 16 bytes

magic and version are authenticated as associated data, so they cannot be altered. The key
is returned to the caller and is never stored next to the ciphertext, logged, or put into
an exception message or repr. The hash anchored on chain stays the SHA-256 of the
*plaintext* — that is the caller's business: the CID identifies the envelope, the anchor
identifies the document, and only a key holder can link the two.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anchor.errors import DecryptionError

ENVELOPE_MAGIC = b"\x89CRE"
ENVELOPE_VERSION = 1
NONCE_LENGTH = 12
TAG_LENGTH = 16
KEY_LENGTH = 32
_HEADER = ENVELOPE_MAGIC + bytes([ENVELOPE_VERSION])
ENVELOPE_OVERHEAD = len(_HEADER) + NONCE_LENGTH + TAG_LENGTH


@dataclass(frozen=True)
class DocumentKey:
    """A 256-bit AES key. Its repr and str never show the key; `to_text()` does, on purpose."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_LENGTH:
            raise DecryptionError(f"a document key is {KEY_LENGTH} bytes")

    @classmethod
    def generate(cls) -> DocumentKey:
        return cls(AESGCM.generate_key(bit_length=256))

    def to_text(self) -> str:
        """URL-safe base64 without padding, for handing the key to its owner."""
        return base64.urlsafe_b64encode(self.secret).rstrip(b"=").decode()

    @classmethod
    def from_text(cls, text: str) -> DocumentKey:
        try:
            secret = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
        except (binascii.Error, ValueError):
            raise DecryptionError("the document key is not valid base64url") from None
        return cls(secret)

    def __repr__(self) -> str:
        return "DocumentKey(<redacted>)"

    __str__ = __repr__


def is_encrypted(blob: bytes) -> bool:
    """True if `blob` starts like an envelope of a version we know."""
    return blob[:len(_HEADER)] == _HEADER and len(blob) >= ENVELOPE_OVERHEAD


def encrypt_document(plaintext: bytes, key: DocumentKey | None = None
                     ) -> tuple[bytes, DocumentKey]:
    """Returns (envelope, key). Without `key`, a fresh random key is generated."""
    key = key or DocumentKey.generate()
    nonce = os.urandom(NONCE_LENGTH)
    ciphertext = AESGCM(key.secret).encrypt(nonce, plaintext, _HEADER)
    return _HEADER + nonce + ciphertext, key


def decrypt_document(envelope: bytes, key: DocumentKey) -> bytes:
    if envelope[:len(ENVELOPE_MAGIC)] != ENVELOPE_MAGIC:
        raise DecryptionError("not an encrypted certreg document")
    if envelope[len(ENVELOPE_MAGIC)] != ENVELOPE_VERSION:
        raise DecryptionError(f"unsupported envelope version {envelope[len(ENVELOPE_MAGIC)]}")
    if len(envelope) < ENVELOPE_OVERHEAD:
        raise DecryptionError("encrypted document is truncated")
    nonce = envelope[len(_HEADER):len(_HEADER) + NONCE_LENGTH]
    try:
        return AESGCM(key.secret).decrypt(nonce, envelope[len(_HEADER) + NONCE_LENGTH:],
                                          _HEADER)
    except InvalidTag:
        # `from None`: nothing of the key or ciphertext rides along in the traceback.
        raise DecryptionError("wrong key, or the encrypted document was altered") from None
