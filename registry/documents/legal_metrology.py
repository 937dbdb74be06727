"""Legal-metrology documents: verification certificates, type approvals, type descriptions.

Each `extract_*` takes a document already checked against its JSON Schema
(`schemas/certreg/<kind>.schema.json`) and returns its `KindMetadata`, after the checks
a schema cannot express: dates in order, ranges with minimum <= maximum, D-SI units that
parse. The field-by-field description is in docs/data-models.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from registry.documents.citations import CitationRole
from registry.documents.kinds import (
    APPROVAL_NUMBER,
    CLASSIFIER_CODE,
    MANUFACTURER,
    MODEL,
    NUMBER,
    SERIAL,
    DocumentCitation,
    KindMetadata,
    code_use,
    pairs,
    parse_date,
    reference_citation,
    require_order,
)
from registry.documents.model import DocumentType
from registry.documents.ucum import unit_notations_problem
from registry.errors import DocumentContentInvalidError

VERIFICATION_KIND = "certreg.verification/1"
TYPE_APPROVAL_KIND = "certreg.type-approval/1"
TYPE_DESCRIPTION_KIND = "certreg.type-description/1"


def check_characteristics(characteristics: Sequence[Mapping[str, Any]], where: str,
                          kind: str) -> None:
    """minimum <= maximum, and a unit whose D-SI and UCUM (when given) are valid and
    name the same unit."""
    for index, characteristic in enumerate(characteristics):
        place = f"{where}/{index}"
        minimum, maximum = characteristic.get("minimum"), characteristic.get("maximum")
        if minimum is not None and maximum is not None and Decimal(minimum) > Decimal(maximum):
            raise DocumentContentInvalidError(
                f"{kind}: {place}: minimum {minimum} is above maximum {maximum}",
                kind=kind, field=f"{place}/minimum")
        unit = characteristic["unit"]
        found = unit_notations_problem(unit)
        if found:
            field, problem = found
            raise DocumentContentInvalidError(f"{kind}: {place}/unit/{field}: {problem}",
                                              kind=kind, field=f"{place}/unit/{field}",
                                              unit=unit.get(field))


def _accuracy_classes(characteristics: Sequence[Mapping[str, Any]]) -> list[tuple[str, object]]:
    return [("accuracy_class", c.get("accuracy_class")) for c in characteristics]


def extract_verification(document: Mapping[str, Any]) -> KindMetadata:
    kind = VERIFICATION_KIND
    instrument, verification = document["instrument"], document["verification"]
    result = document["result"]
    performed = parse_date(verification["date"])
    valid_until = parse_date(verification.get("valid_until"))
    issued = parse_date(document["issue_date"])
    require_order(("verification/date", performed), ("verification/valid_until", valid_until),
                  kind)
    require_order(("verification/date", performed), ("issue_date", issued), kind)
    check_characteristics(instrument.get("characteristics", []), "/instrument/characteristics",
                          kind)
    citations = [reference_citation(CitationRole.REFERENCE_STANDARD.value,
                                    standard["certificate"], standard["name"])
                 for standard in document["reference_standards"]]
    citations.append(reference_citation(CitationRole.PROCEDURE.value, document["procedure"]))
    approval = instrument.get("type_approval")
    if approval is not None:
        citations.append(reference_citation(CitationRole.TYPE_APPROVAL.value, approval))
    mark = document.get("verification_mark") or {}
    return KindMetadata(
        kind=kind, document_type=DocumentType.VERIFICATION_CERTIFICATE,
        identifier=document["number"], issuer=document["issuer"]["name"],
        country_code=document["issuer"]["country"], issue_date=issued,
        performed_on=performed, valid_from=performed if valid_until else None,
        valid_until=valid_until,
        title=f"{verification['kind']} verification of {instrument['kind']}",
        language=document["language"],
        identifiers=pairs((NUMBER, document["number"]), (SERIAL, instrument["serial_number"]),
                          (MANUFACTURER, instrument["manufacturer"]),
                          (MODEL, instrument["model"]),
                          (MODEL, instrument.get("type_designation")),
                          (APPROVAL_NUMBER, (approval or {}).get("number")),
                          *_code_identifiers(instrument.get("classifier_code"))),
        facts=pairs(("verification_kind", verification["kind"]),
                    ("conformity", result["conformity"]), ("reason", result.get("reason")),
                    ("verification_mark", mark.get("number")),
                    ("verifier", document["verifier"]["name"]),
                    *_accuracy_classes(instrument.get("characteristics", []))),
        citations=tuple(citations),
        codes=code_use(instrument.get("classifier_code"), "/instrument/classifier_code"),
    )


def _code_identifiers(value: Mapping[str, Any] | None) -> list[tuple[str, object]]:
    return [] if value is None else [(CLASSIFIER_CODE, value["code"])]


def _instrument_type_identifiers(instrument_type: Mapping[str, Any]) -> list[tuple[str, object]]:
    return [(MANUFACTURER, instrument_type["manufacturer"]["name"]),
            (MODEL, instrument_type["designation"]),
            *((MODEL, model) for model in instrument_type.get("models", [])),
            *_code_identifiers(instrument_type.get("classifier_code"))]


def extract_type_approval(document: Mapping[str, Any]) -> KindMetadata:
    kind = TYPE_APPROVAL_KIND
    instrument_type = document["instrument_type"]
    issued, valid_from = parse_date(document["issue_date"]), parse_date(document["valid_from"])
    valid_until = parse_date(document["valid_until"])
    require_order(("valid_from", valid_from), ("valid_until", valid_until), kind)
    require_order(("issue_date", issued), ("valid_until", valid_until), kind)
    characteristics = document["characteristics"]
    check_characteristics(characteristics, "/characteristics", kind)
    verification = document["verification"]
    citations: list[DocumentCitation] = [
        reference_citation(CitationRole.TYPE_DESCRIPTION.value, document["type_description"])]
    if "procedure" in verification:
        citations.append(reference_citation(CitationRole.PROCEDURE.value,
                                            verification["procedure"]))
    return KindMetadata(
        kind=kind, document_type=DocumentType.TYPE_APPROVAL, identifier=document["number"],
        issuer=document["approving_body"]["name"],
        country_code=document["approving_body"]["country"], issue_date=issued,
        performed_on=None, valid_from=valid_from, valid_until=valid_until,
        title=f"type approval of {instrument_type['kind']} {instrument_type['designation']}",
        language=document["language"],
        identifiers=pairs((NUMBER, document["number"]), (APPROVAL_NUMBER, document["number"]),
                          *_instrument_type_identifiers(instrument_type)),
        facts=pairs(("verification_interval_months", verification.get("interval_months")),
                    *(("legal_basis", basis) for basis in document.get("legal_basis", [])),
                    *_accuracy_classes(characteristics)),
        citations=tuple(citations),
        codes=code_use(instrument_type.get("classifier_code"), "/instrument_type/classifier_code"),
    )


def extract_type_description(document: Mapping[str, Any]) -> KindMetadata:
    kind = TYPE_DESCRIPTION_KIND
    instrument_type = document["instrument_type"]
    issued = parse_date(document["issue_date"])
    characteristics = document["characteristics"]
    check_characteristics(characteristics, "/characteristics", kind)
    approval = document["type_approval"]
    return KindMetadata(
        kind=kind, document_type=DocumentType.TYPE_DESCRIPTION, identifier=document["number"],
        issuer=document["issuer"]["name"], country_code=document["issuer"]["country"],
        issue_date=issued, performed_on=None, valid_from=None, valid_until=None,
        title=f"type description of {instrument_type['kind']} {instrument_type['designation']}",
        language=document["language"],
        identifiers=pairs((NUMBER, document["number"]), (APPROVAL_NUMBER, approval["number"]),
                          *_instrument_type_identifiers(instrument_type)),
        facts=pairs(("software_version", (document.get("software") or {}).get("version")),
                    *_accuracy_classes(characteristics)),
        citations=(reference_citation(CitationRole.TYPE_APPROVAL.value, approval),),
        codes=code_use(instrument_type.get("classifier_code"), "/instrument_type/classifier_code"),
    )
