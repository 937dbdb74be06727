"""Instrument identity: which measuring instrument a document is about, derived from what
the document itself states, so that the projection alone (rebuilt by `certreg reindex`)
knows every instrument. The rules are documented in docs/instrument-identity.md.

A document *mentions* an instrument when it states the instrument's serial number and
either its manufacturer (and, when known, model) or its type-approval number:

* DCC (`certreg.dcc-metadata/1`): each `items/item` is one instrument; its serial is an
  `identification` whose `issuer` is `manufacturer` (the number the maker marked on it;
  customer and laboratory inventory numbers are local to their owner and are not
  identities). Manufacturer from `item/manufacturer` (first name that is not a
  placeholder such as "no manufacturer known"), model from `item/model`.
* verification certificate (`certreg.kind-metadata/1`): the `serial`, first `model`,
  `manufacturer`, `approval-number` and `classifier-code` identifiers.
* type approval: no serial; it states the approval number the instruments of that type
  carry (`TYPE_OF` mentions), which is how withdrawals reach instruments.
* issuer metadata of other documents: the `serial_number`/`serial`, `manufacturer` and
  `model` attributes.

Keys are normalised (`identity_key`): Unicode NFKC, case folded, every character that
is not a letter or digit dropped ("SN 12-345/A" and "sn12345a" are one serial);
manufacturer keys also drop trailing legal forms ("Acme Scales GmbH" is "acmescales").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from registry.documents.kinds import (
    APPROVAL_NUMBER,
    CLASSIFIER_CODE,
    KIND_METADATA_FORMAT,
    MANUFACTURER,
    MODEL,
    SERIAL,
)
from registry.documents.metadata import METADATA_FORMAT as DCC_METADATA_FORMAT
from registry.documents.model import DocumentType

ISSUER_METADATA_FORMAT = "certreg.issuer-metadata/1"
KEY_MAX_LENGTH = 255

# What a mention says about the instrument.
INSTRUMENT = "instrument"  # the document is about this very instrument (serial known)
TYPE_OF = "type"  # the document is about the type (approval number) instruments carry

# Cyrillic letters that look like Latin ones (after case folding), compared as the Latin
# letter: a serial marked "A123" is typed in either script. Escapes keep the source ASCII.
_HOMOGLYPHS = str.maketrans({
    "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u0451": "e", "\u043a": "k",
    "\u043c": "m", "\u043d": "h", "\u043e": "o", "\u0440": "p", "\u0441": "c",
    "\u0442": "t", "\u0443": "y", "\u0445": "x", "\u0456": "i", "\u0458": "j"})
# Legal-form words dropped from either end of a manufacturer's name, as identity keys
# (so the Cyrillic OOO, OAO, AO, TOV are "ooo", "oao", "ao", "tob").
_LEGAL_FORMS = frozenset({
    "ab", "ag", "ao", "as", "bv", "co", "corp", "corporation", "gmbh", "inc", "jsc", "kg",
    "llc", "ltd", "limited", "nv", "oao", "ooo", "oy", "pjsc", "plc", "sa", "sarl", "spa",
    "srl", "tob", "zao", "\u0437ao", "\u043fao"})
# Names that say the manufacturer is not known, or a template's placeholder (as keys).
_UNKNOWN_MANUFACTURERS = frozenset({
    "", "unknown", "nomanufacturerknown", "keinherstellerbekannt", "na", "none",
    "notknown", "unbekannt", "string"})
_WORD = re.compile(r"\w+")


_ASCII_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def identity_key(value: object) -> str:
    """A serial, model or approval number as compared: NFKC, case folded, Cyrillic
    look-alikes as Latin letters, letters and digits only (whitespace, punctuation and
    symbols dropped)."""
    text = str(value)
    if text.isascii():
        # The same key, faster (indexing computes a dozen per document): NFKC leaves
        # ASCII as it is, its case folding is lower(), and its letters and digits are
        # exactly [0-9a-z] once lowered.
        return _ASCII_NOT_ALNUM.sub("", text.lower())[:KEY_MAX_LENGTH]
    return unicode_identity_key(text)


def unicode_identity_key(text: str) -> str:
    """`identity_key` of any text, step by step as it is defined."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_HOMOGLYPHS)
    return "".join(ch for ch in text if ch.isalnum())[:KEY_MAX_LENGTH]


@lru_cache(maxsize=4_096)  # an institute's documents name the same few manufacturers
def manufacturer_key(value: str) -> str:
    """A manufacturer's name as compared: the identity key of its words once legal forms
    ("GmbH", "Ltd.", "OOO" ...) are dropped from either end; "" for a placeholder."""
    words = [identity_key(word) for word in _WORD.findall(str(value).replace("_", " "))]
    words = [word for word in words if word]
    while len(words) > 1 and words[-1] in _LEGAL_FORMS:
        words.pop()
    while len(words) > 1 and words[0] in _LEGAL_FORMS:
        words.pop(0)
    key = "".join(words)[:KEY_MAX_LENGTH]
    return "" if key in _UNKNOWN_MANUFACTURERS else key


@dataclass(frozen=True)
class InstrumentMention:
    """One instrument (or, for `TYPE_OF`, one type) a document states, as written and as
    keys. Keys are "" when the document does not state that part."""

    role: str  # INSTRUMENT or TYPE_OF
    serial: str
    manufacturer: str
    model: str
    approval_number: str
    classifier_code: str = ""

    @property
    def serial_key(self) -> str:
        return identity_key(self.serial)

    @property
    def manufacturer_key(self) -> str:
        return manufacturer_key(self.manufacturer)

    @property
    def model_key(self) -> str:
        return identity_key(self.model)

    @property
    def approval_key(self) -> str:
        return identity_key(self.approval_number)

    @property
    def instrument_id(self) -> str | None:
        """The instrument's id: `mi:<manufacturer>:<model>:<serial>` (model may be empty)
        or, when no manufacturer is known, `ta:<approval number>:<serial>`."""
        if self.role != INSTRUMENT or not self.serial_key:
            return None
        if self.manufacturer_key:
            return f"mi:{self.manufacturer_key}:{self.model_key}:{self.serial_key}"
        if self.approval_key:
            return f"ta:{self.approval_key}:{self.serial_key}"
        return None


@dataclass(frozen=True)
class InstrumentId:
    """A parsed instrument id (see InstrumentMention.instrument_id)."""

    manufacturer_key: str
    model_key: str
    approval_key: str
    serial_key: str

    @classmethod
    def parse(cls, value: str) -> InstrumentId | None:
        parts = value.split(":")
        if len(parts) == 4 and parts[0] == "mi" and parts[1] and parts[3]:
            manufacturer, model, serial = parts[1:]
            approval = ""
        elif len(parts) == 3 and parts[0] == "ta" and parts[1] and parts[2]:
            manufacturer, model, (approval, serial) = "", "", parts[1:]
        else:
            return None
        keys = (manufacturer, model, approval, serial)
        if any(identity_key(key) != key for key in keys):
            return None  # not a normalised id
        return cls(*keys)

    def __str__(self) -> str:
        if self.manufacturer_key:
            return f"mi:{self.manufacturer_key}:{self.model_key}:{self.serial_key}"
        return f"ta:{self.approval_key}:{self.serial_key}"


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _texts(localized: object) -> list[str]:
    return [str(t["text"]) for t in _dicts(localized) if isinstance(t.get("text"), str)]


def _known_manufacturer(names: Sequence[str]) -> str:
    return next((name for name in names if manufacturer_key(name)), "")


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else str(value) if isinstance(value, int) \
        else ""


def _dcc_mentions(metadata: Mapping[str, Any]) -> list[InstrumentMention]:
    found = []
    for item in _dicts(metadata.get("items")):
        manufacturer = _known_manufacturer(_texts(item.get("manufacturer")))
        model = _text(item.get("model"))
        serials = [_text(i.get("value")) for i in _dicts(item.get("identifications"))
                   if i.get("issuer") == "manufacturer"]
        found += [InstrumentMention(INSTRUMENT, serial, manufacturer, model, "")
                  for serial in serials if identity_key(serial)]
    return found


def _first(pairs: Sequence[tuple[str, str]], kind: str) -> str:
    return next((value for name, value in pairs if name == kind), "")


def _kind_mentions(metadata: Mapping[str, Any]) -> list[InstrumentMention]:
    pairs = [(str(p[0]), _text(p[1])) for p in metadata.get("identifiers") or []
             if isinstance(p, list) and len(p) == 2]
    approval, code = _first(pairs, APPROVAL_NUMBER), _first(pairs, CLASSIFIER_CODE)
    manufacturer, model = _first(pairs, MANUFACTURER), _first(pairs, MODEL)
    serial = _first(pairs, SERIAL)
    if metadata.get("document_type") == DocumentType.TYPE_APPROVAL.value:
        return [InstrumentMention(TYPE_OF, "", manufacturer, model, approval, code)] \
            if identity_key(approval) else []
    if not identity_key(serial):
        return []
    return [InstrumentMention(INSTRUMENT, serial, manufacturer, model, approval, code)]


def _issuer_mentions(metadata: Mapping[str, Any]) -> list[InstrumentMention]:
    attributes = {str(p[0]): _text(p[1]) for p in metadata.get("attributes") or []
                  if isinstance(p, list) and len(p) == 2}
    serial = attributes.get("serial_number") or attributes.get("serial") or ""
    if not identity_key(serial):
        return []
    return [InstrumentMention(INSTRUMENT, serial, attributes.get("manufacturer", ""),
                              attributes.get("model", ""), "")]


def instrument_mentions(metadata: Mapping[str, Any] | None,
                        encrypted: bool) -> list[InstrumentMention]:
    """The instruments (and types) a document's public metadata states, distinct, in
    document order. Never raises: metadata comes from manifests on IPFS; what cannot be
    read identifies nothing. Encrypted documents identify nothing (their metadata is
    confidential)."""
    if encrypted or not isinstance(metadata, Mapping):
        return []
    readers = {DCC_METADATA_FORMAT: _dcc_mentions, KIND_METADATA_FORMAT: _kind_mentions,
               ISSUER_METADATA_FORMAT: _issuer_mentions}
    reader = readers.get(str(metadata.get("format")))
    if reader is None:
        return []
    mentions = [m for m in reader(metadata)
                if m.instrument_id is not None or (m.role == TYPE_OF and m.approval_key)]
    return list(dict.fromkeys(mentions))
