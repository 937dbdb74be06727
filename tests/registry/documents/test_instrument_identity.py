"""Instrument identity from what documents state, on the real DCCs of the shared corpus
and the typed examples (docs/instrument-identity.md)."""

from __future__ import annotations

import hashlib
import json
import random
import string
from pathlib import Path

import pytest
from lxml import etree

from registry.documents.instruments import (
    INSTRUMENT,
    TYPE_OF,
    InstrumentId,
    identity_key,
    instrument_mentions,
    manufacturer_key,
    unicode_identity_key,
)
from registry.documents.metadata import extract_dcc_metadata
from registry.documents.model import DocumentType
from registry.documents.typed_documents import load_typed_json

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"


def _dcc(shared_dcc: Path, name: str) -> dict:
    metadata = extract_dcc_metadata(etree.parse(str(shared_dcc / "examples" / name)))
    return json.loads(metadata.to_json())


def _typed(path: Path) -> dict:
    data = path.read_bytes()
    document = load_typed_json(data, hashlib.sha256(data).hexdigest(), DocumentType.DCC,
                               max_bytes=1 << 20)
    assert document is not None
    return document.metadata.to_json()


def test_a_dcc_item_is_identified_by_its_manufacturer_serial_not_local_numbers(
        shared_dcc: Path) -> None:
    # PTB's example: two items, each with manufacturer, PTB and customer numbers, all
    # labelled "Kennnummer / Serial No."; only the manufacturer's number is an identity.
    mentions = instrument_mentions(_dcc(shared_dcc, "ptb_example_v3.0.0.xml"), False)
    assert [(m.role, m.serial, m.manufacturer) for m in mentions] == [
        (INSTRUMENT, "1040917", "Hersteller")]
    # The second item's manufacturer is "kein Hersteller bekannt / no manufacturer known":
    # its serial alone identifies nothing across issuers.
    assert mentions[0].instrument_id == "mi:hersteller::1040917"


@pytest.mark.parametrize(("name", "expected"), [
    ("ptb_siliziumkugel_v2.3.0.xml",
     "mi:physikalischtechnischebundesanstaltptb::si28kg03a"),
    ("ptb_siliziumkugel_v3.0.0.xml",
     "mi:physikalischtechnischebundesanstaltptb::si28kg03a"),
    ("siliziumkugel_2_4_0.xml", "mi:physikalischtechnischebundesanstaltptb::si28kg03a"),
    ("ptb_vacuumlab_CDG_v3.1.0.xml", "mi:themanufacturer::99999999"),
    ("ptb_vacuumlab_SRG_v3.0.0.xml", "mi:themanufacturer::99999998"),
    ("ptb_singleweight_v3.0.0.xml", "mi:manufacturername::th477d"),
])
def test_real_dccs_across_schema_versions_name_the_same_instrument(
        shared_dcc: Path, name: str, expected: str) -> None:
    # The silicon sphere Si28kg_03_a in DCC 2.3.0, 2.4.0 and 3.0.0 is one instrument.
    ids = [m.instrument_id for m in instrument_mentions(_dcc(shared_dcc, name), False)]
    assert ids == [expected]


def test_template_placeholders_identify_nothing(shared_dcc: Path) -> None:
    # GEMIMEG's templates write "String" for the manufacturer: not an identity.
    metadata = _dcc(shared_dcc, "dcc_gp_temperature_typical_v12.xml")
    assert instrument_mentions(metadata, False) == []


def test_encrypted_and_unreadable_metadata_identify_nothing(shared_dcc: Path) -> None:
    metadata = _dcc(shared_dcc, "ptb_siliziumkugel_v3.0.0.xml")
    assert instrument_mentions(metadata, True) == []
    assert instrument_mentions(None, False) == []
    assert instrument_mentions({"format": "certreg.dcc-metadata/1", "items": "x"},
                               False) == []
    assert instrument_mentions({"format": "certreg.dcc-metadata/1", "items": [
        {"identifications": [{"issuer": "manufacturer", "value": ["not", "text"]}],
         "manufacturer": [{"text": "Acme"}]}]}, False) == []


def test_verification_names_instrument_by_manufacturer_model_serial_and_approval() -> None:
    (mention,) = instrument_mentions(
        _typed(EXAMPLES / "verification" / "fuel-dispenser-periodic.json"), False)
    assert mention.role == INSTRUMENT
    assert mention.instrument_id == "mi:tokheimdispensers:quantium510h4p:qt5102019088213"
    assert mention.approval_number == "DE-21-MI005-PTB014"
    assert mention.classifier_code == "17.02.01"


def test_type_approval_names_the_type_its_instruments_carry() -> None:
    (mention,) = instrument_mentions(
        _typed(EXAMPLES / "type-approval" / "fuel-dispenser-mid-mi005.json"), False)
    assert (mention.role, mention.approval_key, mention.instrument_id) == (
        TYPE_OF, "de21mi005ptb014", None)


@pytest.mark.parametrize(("written", "key"), [
    ("SN 12-345/A", "sn12345a"), ("sn12345a", "sn12345a"), ("  Si28kg_03_a ", "si28kg03a"),
    ("\uff21\uff22\uff23\uff11\uff12\uff13", "abc123"),  # full-width forms (NFKC)
    ("\u0410123", "a123"),  # Cyrillic capital A typed for the Latin one
    ("Nr. 0815", "nr0815"),
])
def test_identity_keys_ignore_case_whitespace_punctuation_and_lookalikes(
        written: str, key: str) -> None:
    assert identity_key(written) == key


@pytest.mark.parametrize(("written", "key"), [
    ("Acme Scales GmbH", "acmescales"), ("ACME SCALES", "acmescales"),
    ("Tokheim Dispensers Ltd.", "tokheimdispensers"),
    # OOO <<Mera>> in Cyrillic: the legal form goes, the look-alike letters compare as Latin
    ("\u041e\u041e\u041e \u00ab\u041c\u0435\u0440\u0430\u00bb", "mepa"),
    ("kein Hersteller bekannt", ""), ("no manufacturer known", ""), ("GmbH", "gmbh"),
])
def test_manufacturer_keys_drop_legal_forms_and_placeholders(written: str, key: str) -> None:
    assert manufacturer_key(written) == key


def test_instrument_ids_round_trip_and_refuse_unnormalised_forms() -> None:
    for text in ("mi:acme:ws3000:sn1", "mi:acme::sn1", "ta:pl22001:663241"):
        parsed = InstrumentId.parse(text)
        assert parsed is not None and str(parsed) == text
    for text in ("mi:Acme:ws3000:sn1", "mi::ws:sn1", "mi:acme:ws", "ta:pl-22:1", "x:a:b:c", ""):
        assert InstrumentId.parse(text) is None


def test_the_ascii_identity_key_is_the_defined_one() -> None:
    """ASCII text takes a shortcut; it gives the key the definition gives (NFKC, case
    folding, look-alikes, letters and digits), on every character and on mixed text."""
    rng = random.Random(7)
    samples = [chr(code) for code in range(128)] + [
        "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 300)))
        for _ in range(2_000)] + ["SN 12-34/AB", "Fluke\tCorp.", "x" * 400]
    for text in samples:
        assert identity_key(text) == unicode_identity_key(text), repr(text)
    assert identity_key(1234) == "1234"
    # Outside ASCII the definition itself runs: Cyrillic look-alikes, full-width digits.
    assert identity_key("\u0410\u0412-\uff11\uff12") == "ab12"
