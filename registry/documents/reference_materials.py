"""Reference-material certificates: `certreg.reference-material/1`, and DRMD recognition.

The Digital Reference Material Document (DRMD, BAM, github.com/QI-Data-Lab/drmd) is the
public XML schema for RM certificates. It is not bundled (see
`schemas/drmd/README.md`): a DRMD submission is recognised by its root element and
refused with `drmd-schema-unavailable`, naming the typed JSON model below as the way to
register the certificate meanwhile, rather than being stored unvalidated.

`certreg.reference-material/1` carries what ISO 33401 asks of a certificate and DRMD
models: producer, material, validity, property values with expanded uncertainty
(coverage factor k) and unit (D-SI and/or UCUM), traceability statement, intended use,
storage, responsible persons. Reference standards it cites carry traceability.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from lxml import etree

from registry.documents.citations import CitationRole
from registry.documents.kinds import (
    IDENTIFICATION,
    NUMBER,
    KindMetadata,
    pairs,
    parse_date,
    reference_citation,
    require_order,
)
from registry.documents.model import DocumentType
from registry.documents.ucum import unit_notations_problem
from registry.errors import DocumentContentInvalidError, DrmdSchemaUnavailableError

REFERENCE_MATERIAL_KIND = "certreg.reference-material/1"
DRMD_ROOT = "digitalReferenceMaterialDocument"


def _check_unit(unit: Mapping[str, str], where: str) -> None:
    found = unit_notations_problem(unit)
    if found:
        field, problem = found
        raise DocumentContentInvalidError(
            f"{REFERENCE_MATERIAL_KIND}: {where}/{field}: {problem}",
            kind=REFERENCE_MATERIAL_KIND, field=f"{where}/{field}", unit=unit.get(field))


def _check_properties(properties: Sequence[Mapping[str, Any]]) -> None:
    for index, prop in enumerate(properties):
        where = f"/properties/{index}"
        _check_unit(prop["unit"], f"{where}/unit")
        uncertainty = prop.get("uncertainty")
        if uncertainty is None:
            continue
        for name in ("expanded", "coverage_factor"):
            if Decimal(uncertainty[name]) <= 0:
                raise DocumentContentInvalidError(
                    f"{REFERENCE_MATERIAL_KIND}: {where}/uncertainty/{name} must be positive, "
                    f"not {uncertainty[name]}", kind=REFERENCE_MATERIAL_KIND,
                    field=f"{where}/uncertainty/{name}")
        probability = uncertainty.get("coverage_probability")
        if probability is not None and not Decimal(0) < Decimal(probability) < Decimal(1):
            raise DocumentContentInvalidError(
                f"{REFERENCE_MATERIAL_KIND}: {where}/uncertainty/coverage_probability must "
                f"lie between 0 and 1, not {probability}", kind=REFERENCE_MATERIAL_KIND,
                field=f"{where}/uncertainty/coverage_probability")


def extract_reference_material(document: Mapping[str, Any]) -> KindMetadata:
    kind = REFERENCE_MATERIAL_KIND
    material, validity = document["material"], document["validity"]
    issued = parse_date(document["issue_date"])
    until = parse_date(validity.get("until"))
    require_order(("issue_date", issued), ("validity/until", until), kind)
    require_order(("issue_date", issued),
                  ("validity/dispatch_date", parse_date(validity.get("dispatch_date"))), kind)
    for name in ("minimum_sample_size", "unit_size"):
        if name in material:
            _check_unit(material[name]["unit"], f"/material/{name}/unit")
    properties = document["properties"]
    _check_properties(properties)
    citations = [reference_citation(CitationRole.REFERENCE_STANDARD.value,
                                    standard["certificate"], standard["name"])
                 for standard in document.get("reference_standards", [])]
    return KindMetadata(
        kind=kind, document_type=DocumentType.REFERENCE_MATERIAL_CERTIFICATE,
        identifier=document["number"], issuer=document["producer"]["name"],
        country_code=document["producer"]["country"], issue_date=issued, performed_on=None,
        valid_from=issued, valid_until=until,
        title=f"{material['code']}: {material['name']}", language=document["language"],
        identifiers=pairs((NUMBER, document["number"]), (NUMBER, material["code"]),
                          (IDENTIFICATION, material["code"]),
                          (IDENTIFICATION, material.get("batch")),
                          *((IDENTIFICATION, f"{c['scheme']} {c['value']}")
                            for c in material.get("classes", []))),
        facts=pairs(("document_kind", document["document_kind"]),
                    ("certified_values", sum(1 for p in properties if p["certified"])),
                    ("informative_values", sum(1 for p in properties if not p["certified"])),
                    ("validity_months_after_dispatch", validity.get("months_after_dispatch")),
                    ("valid_until_revoked", validity.get("until_revoked")),
                    *(("property", p["name"]) for p in properties[:50])),
        citations=tuple(citations))


def refuse_drmd(tree: etree._ElementTree) -> None:
    """Raise DrmdSchemaUnavailableError if the tree is a DRMD (any version); else return."""
    root = tree.getroot()
    if etree.QName(root).localname != DRMD_ROOT:
        return
    version = root.get("schemaVersion")
    raise DrmdSchemaUnavailableError(
        f"this is a Digital Reference Material Document (DRMD {version or 'without version'}); "
        "the DRMD schema is not bundled with this registry, so it cannot be validated. "
        f"Register the certificate as {REFERENCE_MATERIAL_KIND} JSON "
        "(docs/data-models.md)", schema_version=version,
        namespace=etree.QName(root).namespace, kind=REFERENCE_MATERIAL_KIND)


__all__ = ["DRMD_ROOT", "REFERENCE_MATERIAL_KIND", "extract_reference_material",
           "refuse_drmd"]
