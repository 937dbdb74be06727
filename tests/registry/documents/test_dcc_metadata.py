"""Search metadata read from real DCCs of several versions, and its JSON round trip."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from registry.documents.metadata import DccMetadata, LocalizedText
from registry.documents.model import DocumentType
from registry.documents.validate import load_document

ReadCorpus = Callable[[str], bytes]


def _metadata(data: bytes) -> DccMetadata:
    metadata = load_document(data, DocumentType.DCC).metadata
    assert isinstance(metadata, DccMetadata)
    return metadata


def test_dcc_metadata_of_ptb_silicon_sphere_2_3(read_corpus: ReadCorpus) -> None:
    metadata = _metadata(read_corpus("examples/ptb_siliziumkugel_v2.3.0.xml"))
    assert metadata.schema_version == "2.3.0"
    assert metadata.unique_identifier == "PTB - 11129 18"
    assert metadata.begin_performance_date == metadata.end_performance_date == date(2018, 10, 12)
    assert metadata.country_code == "DE"
    assert metadata.used_languages == ("de", "en")
    assert metadata.mandatory_languages == ("de",)
    assert metadata.performance_location is None  # no such element before 3.0
    assert [(i.issuer, i.value) for i in metadata.identifications] == [
        ("calibrationLaboratory", "1.81-18.039")]
    # 2.x labels identifications with dcc:description
    assert LocalizedText("en", "Reference No.") in metadata.identifications[0].label
    lab = metadata.calibration_laboratory
    assert lab is not None
    assert lab.name == (LocalizedText(None, "Physikalisch-Technische Bundesanstalt (PTB)"),)
    assert (lab.city, lab.country_code, lab.email) == ("Braunschweig", "DE", "info@ptb.de")
    [item] = metadata.items
    assert item.serial_numbers == ("Si28kg_03_a",)
    assert LocalizedText("en", "Silicon sphere") in item.name


def test_dcc_metadata_of_ptb_vacuum_gauge_3_1(read_corpus: ReadCorpus) -> None:
    metadata = _metadata(read_corpus("examples/ptb_vacuumlab_CDG_v3.1.0.xml"))
    assert metadata.unique_identifier == "75999PTB20"
    assert metadata.begin_performance_date == date(2020, 8, 7)
    assert metadata.performance_location == "laboratory"
    [item] = metadata.items
    assert item.serial_numbers == ("99999-999",)
    assert item.manufacturer == (LocalizedText("en", "The Manufacturer"),)


def test_dcc_metadata_of_gemimeg_temperature_3_1_and_3_3(read_corpus: ReadCorpus) -> None:
    v3_1 = _metadata(read_corpus("examples/dcc_gp_temperature_typical_v12.xml"))
    v3_3 = _metadata(read_corpus("examples/derived_gp_temperature_typical_v3.3.0.xml"))
    assert v3_1.unique_identifier == "GP_DCC_temperature_typical_1.2"
    assert v3_1.customer is not None and v3_1.customer.name == (
        LocalizedText(None, "Kunde GmbH"),)
    [equipment] = v3_1.measuring_equipment
    assert LocalizedText("en", "Pt 100 thermometer") in equipment.name
    assert [i.value for i in equipment.identifications] == [
        "string-manufacturer-measuringEquipment-1"]
    assert equipment.certificate is None
    assert {i.value for i in v3_1.items[0].identifications} == {
        "string-manufacturer-item", "string-customer-item", "string-calibrationLaboratory-item"}
    assert v3_1.items[0].serial_numbers == ("string-manufacturer-item",)
    assert r"\kelvin" in v3_1.units and r"\degreecelsius" in v3_1.units
    list_quantities = [q for q in v3_1.quantities if q.si_kind == "realListXMLList"]
    assert list_quantities and all(q.units for q in list_quantities)
    # Only schemaVersion differs between the two files.
    assert v3_3.schema_version == "3.3.0"
    assert v3_3.to_json() == v3_1.to_json().replace('"3.1.1"', '"3.3.0"')


PREVIOUS_REPORT_3_3 = b"""<dcc:issueDate>1957-08-20</dcc:issueDate>
<dcc:previousReport>
  <dcc:referral><dcc:content lang="en">Calibration certificate 2019</dcc:content></dcc:referral>
  <dcc:referralID>GP_DCC_temperature_typical_1.1</dcc:referralID>
  <dcc:procedure>SHA256</dcc:procedure>
  <dcc:value>9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08</dcc:value>
  <dcc:linkedReport>
    <dcc:referral><dcc:content>First certificate</dcc:content></dcc:referral>
    <dcc:referralID>GP_DCC_temperature_typical_1.0</dcc:referralID>
    <dcc:procedure>SHA256</dcc:procedure>
    <dcc:value>60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752</dcc:value>
  </dcc:linkedReport>
</dcc:previousReport>
"""

EQUIPMENT_CERTIFICATE_3_3 = b"""<dcc:certificate>
  <dcc:referral><dcc:content>DAkkS certificate of the Pt 100</dcc:content></dcc:referral>
  <dcc:referralID>D-K-15070-01-00 2023-11</dcc:referralID>
  <dcc:procedure>SHA256</dcc:procedure>
  <dcc:value>ab12</dcc:value>
</dcc:certificate>
"""


def test_dcc_certificate_references_are_extracted_3_3(read_corpus: ReadCorpus) -> None:
    # No corpus example cites another certificate; add references the 3.3.0 schema allows.
    data = read_corpus("examples/derived_gp_temperature_typical_v3.3.0.xml")
    data = data.replace(b"<dcc:performanceLocation>laboratory</dcc:performanceLocation>",
                        b"<dcc:performanceLocation>laboratory</dcc:performanceLocation>"
                        + PREVIOUS_REPORT_3_3, 1)
    equipment_name_end = data.index(b"</dcc:name>", data.index(b"<dcc:measuringEquipment "))
    insert_at = equipment_name_end + len(b"</dcc:name>")
    data = data[:insert_at] + EQUIPMENT_CERTIFICATE_3_3 + data[insert_at:]

    metadata = _metadata(data)  # still schema-valid, or load_document raises
    assert metadata.issue_date == date(1957, 8, 20)
    previous = metadata.previous_report
    assert previous is not None
    assert previous.referral_id == "GP_DCC_temperature_typical_1.1"
    assert previous.procedure == "SHA256"
    assert previous.linked_report is not None
    assert previous.linked_report.referral_id == "GP_DCC_temperature_typical_1.0"
    certificate = metadata.measuring_equipment[0].certificate
    assert certificate is not None and certificate.referral_id == "D-K-15070-01-00 2023-11"
    assert [r.referral_id for r in metadata.certificate_references] == [
        "GP_DCC_temperature_typical_1.1", "GP_DCC_temperature_typical_1.0",
        "D-K-15070-01-00 2023-11"]
    assert DccMetadata.from_json(metadata.to_json()) == metadata


def test_dcc_previous_report_in_2_x_spelling(read_corpus: ReadCorpus) -> None:
    data = read_corpus("examples/ptb_siliziumkugel_v2.3.0.xml")
    data = data.replace(b"<dcc:endPerformanceDate>2018-10-12</dcc:endPerformanceDate>",
                        b"<dcc:endPerformanceDate>2018-10-12</dcc:endPerformanceDate>"
                        b"<dcc:previousReport><dcc:reference><dcc:content>PTB 2016"
                        b"</dcc:content></dcc:reference><dcc:referenceID>PTB - 10001 16"
                        b"</dcc:referenceID><dcc:procedure>SHA512</dcc:procedure>"
                        b"<dcc:value>00ff</dcc:value></dcc:previousReport>", 1)
    previous = _metadata(data).previous_report
    assert previous is not None
    assert (previous.referral_id, previous.procedure, previous.value) == (
        "PTB - 10001 16", "SHA512", "00ff")
    assert previous.referral == (LocalizedText(None, "PTB 2016"),)


def test_dcc_metadata_json_round_trips(
        dcc_example: dict[str, Any], read_corpus: ReadCorpus) -> None:
    metadata = _metadata(read_corpus(dcc_example["file"]))
    text = metadata.to_json()
    assert DccMetadata.from_json(text) == metadata
    assert DccMetadata.from_json(text).to_json() == text
    stored = json.loads(text)
    assert stored["format"] == "certreg.dcc-metadata/1"
    assert stored["document_type"] == "dcc"
    assert stored["schema_version"] == dcc_example["schema_version"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", stored["begin_performance_date"])


def test_dcc_metadata_from_json_rejects_foreign_or_mistyped_input(
        read_corpus: ReadCorpus) -> None:
    metadata = _metadata(read_corpus("examples/ptb_vacuumlab_SRG_v3.1.1.xml"))
    stored = json.loads(metadata.to_json())
    with pytest.raises(ValueError):
        DccMetadata.from_json(json.dumps({**stored, "format": "something-else"}))
    with pytest.raises(TypeError):
        DccMetadata.from_json(json.dumps({**stored, "used_languages": "de"}))
    with pytest.raises(TypeError):
        DccMetadata.from_json(json.dumps({**stored, "surprise": 1}))


def _to_json_value_reference(value: Any) -> Any:
    """The straightforward conversion that `to_json_value`'s cached fast path replaces."""
    import dataclasses
    from enum import Enum

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _to_json_value_reference(getattr(value, field.name))
                for field in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_to_json_value_reference(item) for item in value]
    return value


def test_metadata_json_equals_the_reference_conversion(dcc_example: dict[str, Any],
                                                       read_corpus: ReadCorpus) -> None:
    from registry.documents.model import to_json_value

    metadata = _metadata(read_corpus(dcc_example["file"]))
    converted = to_json_value(metadata)
    reference = _to_json_value_reference(metadata)
    assert converted == reference
    # Equal and of the same types throughout (an enum member would compare equal to its
    # string value but serialise differently elsewhere).
    assert json.dumps(converted, sort_keys=True) == json.dumps(reference, sort_keys=True)
    assert repr(converted) == repr(reference)


def test_published_metadata_is_the_json_round_trip_built_in_one_pass(
        dcc_example: dict[str, Any], read_corpus: ReadCorpus) -> None:
    # Issuance published json.loads(metadata.to_json()); to_json_dict replaces the text
    # round trip. repr compares key order at every level and every value's type.
    metadata = _metadata(read_corpus(dcc_example["file"]))
    assert repr(metadata.to_json_dict()) == repr(json.loads(metadata.to_json()))


@pytest.mark.parametrize("value", [
    {"b": 1, "a": {"d": [1, 2.5, True], "c": None}},
    {2: "two", 1: "one"},  # JSON makes the keys strings
    (date(2020, 1, 2), DocumentType.DCC, [LocalizedText("de", "Masse")]),
    float("inf"),
], ids=["nested-dicts", "int-keys", "date-enum-dataclass", "infinity"])
def test_sorted_json_value_is_the_sorted_json_round_trip(value: Any) -> None:
    from registry.documents.model import to_json_value, to_sorted_json_value

    assert repr(to_sorted_json_value(value)) == repr(
        json.loads(json.dumps(to_json_value(value), sort_keys=True)))


def test_sorted_json_value_refuses_what_json_refuses() -> None:
    from registry.documents.model import to_sorted_json_value

    with pytest.raises(TypeError):
        to_sorted_json_value({"value": object()})


def test_metadata_paths_find_what_elementpath_finds(dcc_example: dict[str, Any],
                                                    read_corpus: ReadCorpus) -> None:
    # The metadata is read with libxml2's tag filter (`_find`, `_findall`) instead of
    # ElementPath's find/findall with a namespace map: the same elements, in the same order,
    # for every path it reads, from every element of the document.
    from registry.documents import metadata as module
    from registry.documents.parse import parse_xml

    tree = parse_xml(read_corpus(dcc_example["file"]))
    module.extract_dcc_metadata(tree)  # registers every path it reads
    paths = sorted(module._PATH_TAGS)
    assert "dcc:manufacturer/dcc:name" in paths and "dcc:content" in paths
    for element in tree.getroot().iter("{*}*"):
        for path in paths:
            assert module._find(element, path) is element.find(path, module._NS)
            assert module._findall(element, path) == element.findall(path, module._NS)
    # And the quantity's kind is its first si: child, as the list of them gave it.
    for quantity in tree.getroot().iter(*module._QUANTITY_TAGS):
        si_children = [child for child in quantity if isinstance(child.tag, str)
                       and child.tag.startswith(f"{{{module.SI_NS}}}")]
        assert next(quantity.iterchildren(f"{{{module.SI_NS}}}*"), None) is (
            si_children[0] if si_children else None)
