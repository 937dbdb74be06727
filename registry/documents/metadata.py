"""Search metadata read from a DCC (FAIR "findable"): who, what, when, units, references.

Works on DCC 2.x and 3.x trees. The structures differ in places, handled here:
- hashType (previousReport, measuringEquipment/certificate) names its fields
  `reference`/`referenceID` in 2.x and `referral`/`referralID` in 3.x;
- identifications label themselves with `description` in 2.x and `name` in 3.x;
- performanceLocation exists from 3.0, issueDate from 3.3.

Dates are read as the `YYYY-MM-DD` part of the xs:date (a timezone suffix, which
the schema allows but no search needs, is dropped).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from lxml import etree

from anchor.digest import canonical_json_text
from registry.documents.model import (
    DocumentType,
    from_json_value,
    to_json_value,
    to_sorted_json_value,
)

DCC_NS = "https://ptb.de/dcc"
SI_NS = "https://ptb.de/si"
_NS = {"dcc": DCC_NS, "si": SI_NS}

METADATA_FORMAT = "certreg.dcc-metadata/1"

# Elements of dcc:quantityType / dcc:primitiveQuantityType that hold one quantity.
_QUANTITY_TAGS = frozenset(f"{{{DCC_NS}}}{name}" for name in (
    "quantity", "itemQuantity", "measuringEquipmentQuantity", "usedMethodQuantity"))
_UNIT_TAGS = frozenset(f"{{{SI_NS}}}{name}" for name in (
    "unit", "unitXMLList", "unitPhase", "unitPhaseXMLList"))


@dataclass(frozen=True)
class LocalizedText:
    lang: str | None
    text: str


@dataclass(frozen=True)
class Identification:
    """An identifier of the certificate or an item: who assigned it, its value, its label."""

    issuer: str
    value: str
    label: tuple[LocalizedText, ...]


@dataclass(frozen=True)
class Party:
    """A calibration laboratory or customer."""

    name: tuple[LocalizedText, ...]
    email: str | None
    city: str | None
    country_code: str | None
    laboratory_code: str | None = None


@dataclass(frozen=True)
class CertificateReference:
    """A certificate cited through the schema's hashType (3.x referral*, 2.x reference*)."""

    referral: tuple[LocalizedText, ...]
    referral_id: str
    procedure: str
    value: str
    linked_report: CertificateReference | None = None


def _is_serial_label(identification: Identification) -> bool:
    return any("serial" in label.text.lower() or "serien" in label.text.lower()
               for label in identification.label)


@dataclass(frozen=True)
class CalibratedItem:
    name: tuple[LocalizedText, ...]
    manufacturer: tuple[LocalizedText, ...]
    model: str | None
    identifications: tuple[Identification, ...]

    @property
    def serial_numbers(self) -> tuple[str, ...]:
        """Identifications whose label says serial number (English "serial", German "Serien").

        A label convention, not a schema field: DCCs have no dedicated serial-number element.
        """
        return tuple(ident.value for ident in self.identifications if _is_serial_label(ident))


@dataclass(frozen=True)
class MeasuringEquipment:
    """A reference standard or instrument used for the calibration."""

    name: tuple[LocalizedText, ...]
    manufacturer: tuple[LocalizedText, ...]
    model: str | None
    identifications: tuple[Identification, ...]
    certificate: CertificateReference | None


@dataclass(frozen=True)
class QuantityUnits:
    """A quantity in the certificate and its D-SI units exactly as written."""

    name: tuple[LocalizedText, ...]
    ref_type: str | None
    si_kind: str | None  # local name of the D-SI element: real, realListXMLList, hybrid, ...
    units: tuple[str, ...]


@dataclass(frozen=True)
class DccMetadata:
    schema_version: str
    unique_identifier: str
    country_code: str | None
    used_languages: tuple[str, ...]
    mandatory_languages: tuple[str, ...]
    identifications: tuple[Identification, ...]
    receipt_date: date | None
    begin_performance_date: date | None
    end_performance_date: date | None
    issue_date: date | None
    performance_location: str | None
    calibration_laboratory: Party | None
    customer: Party | None
    items: tuple[CalibratedItem, ...]
    measuring_equipment: tuple[MeasuringEquipment, ...]
    quantities: tuple[QuantityUnits, ...]
    previous_report: CertificateReference | None
    influence_condition_certificates: tuple[CertificateReference, ...] = ()
    document_type: DocumentType = DocumentType.DCC

    @property
    def certificate_references(self) -> tuple[CertificateReference, ...]:
        """Every certificate this one cites, linked reports included: traceability input."""
        direct = [self.previous_report,
                  *(equipment.certificate for equipment in self.measuring_equipment),
                  *self.influence_condition_certificates]
        found: list[CertificateReference] = []
        for reference in direct:
            while reference is not None:
                found.append(reference)
                reference = reference.linked_report
        return tuple(found)

    @property
    def units(self) -> tuple[str, ...]:
        """Distinct units used by the quantities, in document order."""
        return tuple(dict.fromkeys(unit for quantity in self.quantities
                                   for unit in quantity.units))

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no whitespace) so equal metadata hash equally."""
        return canonical_json_text({"format": METADATA_FORMAT, **to_json_value(self)})

    def to_json_dict(self) -> dict[str, Any]:
        """`json.loads(self.to_json())` without the round trip through text."""
        return dict(sorted({"format": METADATA_FORMAT, **to_sorted_json_value(self)}.items()))

    @classmethod
    def from_json(cls, text: str | bytes) -> DccMetadata:
        value: dict[str, Any] = json.loads(text)
        if value.pop("format", None) != METADATA_FORMAT:
            raise ValueError(f"not {METADATA_FORMAT} metadata")
        return from_json_value(cls, value)


# Metadata paths are chains of dcc: children ("dcc:manufacturer/dcc:name"). Walked with
# libxml2's tag filter they cost a third of ElementPath's find/findall with a namespace
# map, which was half of reading a DCC's metadata; the results are the same, in the same
# (document) order.
_PATH_TAGS: dict[str, tuple[str, ...]] = {}


def _tags(path: str) -> tuple[str, ...]:
    tags = _PATH_TAGS.get(path)
    if tags is None:
        steps = [step.split(":", 1) for step in path.split("/")]
        tags = _PATH_TAGS.setdefault(path, tuple(f"{{{_NS[prefix]}}}{name}"
                                                 for prefix, name in steps))
    return tags


def _find(parent: etree._Element, path: str) -> etree._Element | None:
    """`parent.find(path, _NS)`: the first element at `path` in document order."""
    tags = _tags(path)
    if len(tags) == 1:
        return next(parent.iterchildren(tags[0]), None)
    return next(_walk(parent, tags), None)


def _findall(parent: etree._Element, path: str) -> list[etree._Element]:
    """`parent.findall(path, _NS)`: every element at `path`, in document order."""
    tags = _tags(path)
    if len(tags) == 1:
        return list(parent.iterchildren(tags[0]))
    return list(_walk(parent, tags))


def _walk(parent: etree._Element, tags: tuple[str, ...]) -> Iterator[etree._Element]:
    first, rest = tags[0], tags[1:]
    for child in parent.iterchildren(first):
        if rest:
            yield from _walk(child, rest)
        else:
            yield child


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    collapsed = " ".join(element.text.split())
    return collapsed or None


def _child_text(parent: etree._Element | None, path: str) -> str | None:
    return None if parent is None else _text(_find(parent, path))


def _localized(text_element: etree._Element | None) -> tuple[LocalizedText, ...]:
    """A dcc:textType (sequence of dcc:content with optional lang) as plain texts."""
    if text_element is None:
        return ()
    texts = []
    for content in _findall(text_element, "dcc:content"):
        text = _text(content)
        if text is not None:
            texts.append(LocalizedText(lang=content.get("lang"), text=text))
    return tuple(texts)


def _date(parent: etree._Element | None, path: str) -> date | None:
    text = _child_text(parent, path)
    return None if text is None else date.fromisoformat(text[:10])


def _identifications(parent: etree._Element | None) -> tuple[Identification, ...]:
    if parent is None:
        return ()
    found = []
    for ident in _findall(parent, "dcc:identifications/dcc:identification"):
        label = _localized(_find(ident, "dcc:name")) or _localized(
            _find(ident, "dcc:description"))
        found.append(Identification(issuer=_child_text(ident, "dcc:issuer") or "",
                                    value=_child_text(ident, "dcc:value") or "",
                                    label=label))
    return tuple(found)


def _party(contact: etree._Element | None, laboratory_code: str | None = None) -> Party | None:
    if contact is None:
        return None
    return Party(name=_localized(_find(contact, "dcc:name")),
                 email=_child_text(contact, "dcc:eMail"),
                 city=_child_text(contact, "dcc:location/dcc:city"),
                 country_code=_child_text(contact, "dcc:location/dcc:countryCode"),
                 laboratory_code=laboratory_code)


def _certificate_reference(hash_element: etree._Element | None) -> CertificateReference | None:
    if hash_element is None:
        return None
    referral = _find(hash_element, "dcc:referral")
    if referral is None:
        referral = _find(hash_element, "dcc:reference")  # DCC 2.x spelling
    return CertificateReference(
        referral=_localized(referral),
        referral_id=(_child_text(hash_element, "dcc:referralID")
                     or _child_text(hash_element, "dcc:referenceID") or ""),
        procedure=_child_text(hash_element, "dcc:procedure") or "",
        value=_child_text(hash_element, "dcc:value") or "",
        linked_report=_certificate_reference(_find(hash_element, "dcc:linkedReport")),
    )


def _quantities(root: etree._Element) -> tuple[QuantityUnits, ...]:
    found = []
    for element in root.iter(*_QUANTITY_TAGS):
        si_child = next(element.iterchildren(f"{{{SI_NS}}}*"), None)
        units: list[str] = []
        for unit_element in element.iter(*_UNIT_TAGS):
            units.extend((unit_element.text or "").split())
        found.append(QuantityUnits(
            name=_localized(_find(element, "dcc:name")),
            ref_type=element.get("refType"),
            si_kind=None if si_child is None else etree.QName(si_child).localname,
            units=tuple(dict.fromkeys(units)),
        ))
    return tuple(found)


def extract_dcc_metadata(tree: etree._ElementTree) -> DccMetadata:
    """Search metadata of a schema-valid DCC tree (validate first: this trusts the structure)."""
    root = tree.getroot()
    admin = _find(root, "dcc:administrativeData")
    core = _find(admin, "dcc:coreData") if admin is not None else None
    laboratory = _find(admin, "dcc:calibrationLaboratory") if admin is not None else None
    items = [] if admin is None else _findall(admin, "dcc:items/dcc:item")
    # Equipment and influence-condition lists sit at several levels (measurement
    # results, results, used methods; 3.3 adds more), so collect them wherever they are.
    equipment = list(root.iter(f"{{{DCC_NS}}}measuringEquipment"))
    influence_certificates = [_find(condition, "dcc:certificate")
                              for condition in root.iter(f"{{{DCC_NS}}}influenceCondition")]
    return DccMetadata(
        schema_version=root.get("schemaVersion", ""),
        unique_identifier=_child_text(core, "dcc:uniqueIdentifier") or "",
        country_code=_child_text(core, "dcc:countryCodeISO3166_1"),
        used_languages=tuple(_text(e) or "" for e in
                             (_findall(core, "dcc:usedLangCodeISO639_1") if core is not None
                              else [])),
        mandatory_languages=tuple(_text(e) or "" for e in
                                  (_findall(core, "dcc:mandatoryLangCodeISO639_1")
                                   if core is not None else [])),
        identifications=_identifications(core),
        receipt_date=_date(core, "dcc:receiptDate"),
        begin_performance_date=_date(core, "dcc:beginPerformanceDate"),
        end_performance_date=_date(core, "dcc:endPerformanceDate"),
        issue_date=_date(core, "dcc:issueDate"),
        performance_location=_child_text(core, "dcc:performanceLocation"),
        calibration_laboratory=None if laboratory is None else _party(
            _find(laboratory, "dcc:contact"),
            _child_text(laboratory, "dcc:calibrationLaboratoryCode")),
        customer=None if admin is None else _party(_find(admin, "dcc:customer")),
        items=tuple(CalibratedItem(
            name=_localized(_find(item, "dcc:name")),
            manufacturer=_localized(_find(item, "dcc:manufacturer/dcc:name")),
            model=_child_text(item, "dcc:model"),
            identifications=_identifications(item),
        ) for item in items),
        measuring_equipment=tuple(MeasuringEquipment(
            name=_localized(_find(device, "dcc:name")),
            manufacturer=_localized(_find(device, "dcc:manufacturer/dcc:name")),
            model=_child_text(device, "dcc:model"),
            identifications=_identifications(device),
            certificate=_certificate_reference(_find(device, "dcc:certificate")),
        ) for device in equipment),
        quantities=_quantities(root),
        previous_report=_certificate_reference(
            _find(core, "dcc:previousReport") if core is not None else None),
        influence_condition_certificates=tuple(
            reference for reference in map(_certificate_reference, influence_certificates)
            if reference is not None),
    )
