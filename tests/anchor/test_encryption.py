"""Confidential mode: AES-256-GCM envelopes, keys that never leak."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anchor.cid import compute_cid
from anchor.encryption import (
    ENVELOPE_MAGIC,
    ENVELOPE_OVERHEAD,
    DocumentKey,
    decrypt_document,
    encrypt_document,
    is_encrypted,
)
from anchor.errors import DecryptionError
from anchor.store import EmbeddedStore, get_confidential, put_confidential

DOC = b"<dcc>calibration of a 10 V reference, customer: ACME GmbH</dcc>"


@settings(max_examples=40)
@given(st.binary(max_size=4096))
def test_encrypt_then_decrypt_returns_the_document(plaintext: bytes) -> None:
    envelope, key = encrypt_document(plaintext)
    assert decrypt_document(envelope, key) == plaintext
    assert len(envelope) == len(plaintext) + ENVELOPE_OVERHEAD


def test_envelopes_are_recognisable_and_plaintexts_are_not() -> None:
    envelope, _ = encrypt_document(DOC)
    assert envelope.startswith(ENVELOPE_MAGIC)
    assert is_encrypted(envelope)
    assert not is_encrypted(DOC)
    assert not is_encrypted(b"")


def test_the_same_document_encrypts_differently_each_time() -> None:
    key = DocumentKey.generate()
    first, _ = encrypt_document(DOC, key)
    second, _ = encrypt_document(DOC, key)
    assert first != second  # fresh nonce: equal plaintexts are not linkable by CID
    assert compute_cid(first) != compute_cid(second)


def test_a_wrong_key_fails_clearly() -> None:
    envelope, _ = encrypt_document(DOC)
    with pytest.raises(DecryptionError) as caught:
        decrypt_document(envelope, DocumentKey.generate())
    assert caught.value.code == "decryption-failed"


@pytest.mark.parametrize("position", [0, 4, 5, 20, -1])
def test_any_tampered_byte_fails_decryption(position: int) -> None:
    envelope, key = encrypt_document(DOC)
    tampered = bytearray(envelope)
    tampered[position] ^= 0x01
    with pytest.raises(DecryptionError):
        decrypt_document(bytes(tampered), key)


def test_truncated_and_foreign_blobs_fail_decryption() -> None:
    envelope, key = encrypt_document(DOC)
    for blob in (envelope[:ENVELOPE_OVERHEAD - 1], DOC, b""):
        with pytest.raises(DecryptionError):
            decrypt_document(blob, key)


def test_keys_round_trip_through_text() -> None:
    envelope, key = encrypt_document(DOC)
    assert decrypt_document(envelope, DocumentKey.from_text(key.to_text())) == DOC
    with pytest.raises(DecryptionError):
        DocumentKey.from_text("not a key!")
    with pytest.raises(DecryptionError):
        DocumentKey.from_text("c2hvcnQ")  # valid base64url, wrong length


def test_the_key_never_appears_in_reprs_errors_or_logs(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    envelope, key = encrypt_document(DOC)
    secret_forms = (key.to_text(), key.secret.hex(), repr(key.secret))
    try:
        decrypt_document(envelope[:-1] + b"\0", key)
    except DecryptionError:
        error_text = traceback.format_exc()
    shown = [repr(key), str(key), f"{key}", error_text, caplog.text]
    for text in shown:
        for secret in secret_forms:
            assert secret not in text


def test_confidential_store_keeps_only_ciphertext_and_never_the_key(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    receipt = put_confidential(store, DOC)
    assert key_text_absent(receipt.key.to_text(), receipt.key.secret, tmp_path)
    assert DOC not in store.get(receipt.cid)
    assert is_encrypted(store.get(receipt.cid))
    assert get_confidential(store, receipt.cid, receipt.key) == DOC
    assert receipt.key.to_text() not in repr(receipt)
    with pytest.raises(DecryptionError):
        get_confidential(store, receipt.cid, DocumentKey.generate())


def key_text_absent(key_text: str, secret: bytes, root: Path) -> bool:
    for path in root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            if key_text.encode() in content or secret in content:
                return False
    return True
