"""Accreditation documents: who accredited an issuer, when, and for what.

An `AccreditationDocument` states, for one issuer, who accredited it (body, number),
when (valid_from..valid_until, both inclusive) and for what: scope entries, each a
measured quantity with a unit (D-SI, or UCUM: `Cel`, `kg/(m.s2)`, related to the SI
through its D-SI equivalent), a range and a best measurement capability (CMC).
It is stored as canonical JSON (format `certreg.accreditation/1`) whose hash goes on
chain; history and effective dates of changes are kept there, not here.

JSON (keys sorted, no whitespace, UTF-8; every field always present in `to_json`)::

    {"body":"DAkkS","format":"certreg.accreditation/1","issuer":"LAB",
     "number":"D-K-15070-01-00","scope":[{"best_capability":"0.03",
     "capability_unit":"\\\\kelvin","description":"","maximum":"320",
     "minimum":"-40","quantity":"temperature","ref_types":[],
     "unit":"\\\\degreecelsius"}],"valid_from":"2021-01-01","valid_until":"2025-12-31"}

- Numbers (`minimum`, `maximum`, `best_capability`) are JSON *strings* holding a
  decimal ("0.03", "1E+3"): the hashed document keeps exactly what the accreditation
  body wrote; binary floats would not. JSON numbers are refused.
- `minimum`/`maximum` are absolute values in `unit` (°C ranges mean temperatures).
- `best_capability` is an expanded uncertainty (coverage ≈ 95 %, k = 2), in
  `capability_unit` (optional in input, defaults to `unit`):
  * if `capability_unit` has the dimension of `unit`, the CMC is absolute
    (e.g. 30 mK for a °C range: a temperature *difference*, no offset);
  * if `capability_unit` is dimensionless (\\one, \\percent, \\ppm) and `unit` is not,
    the CMC is *relative* to the measured value: CMC = best_capability * |x| with x in
    `unit` ("0.015" \\percent of the reading). An entry in \\degreecelsius cannot have a
    relative CMC (relative to a Celsius value means nothing). For a dimensionless
    quantity the CMC is always absolute.
  Real CMCs that grow with the value are written as several entries over sub-ranges.
- `ref_types` (optional): the DCC refType values the entry applies to; empty = any.
- `description` (optional): free text.

The scope check of a DCC's results against such a document is
`registry.documents.accreditation.check_scope`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from anchor.digest import canonical_json_text
from registry.documents.json_documents import reject_constant, unique_keys
from registry.documents.quantities import SiConversion, UnitNotRelatableError
from registry.documents.results import MAX_DECIMAL_DIGITS, MAX_DECIMAL_EXPONENT, is_tractable
from registry.documents.ucum import unit_si_conversion
from registry.errors import DocumentError

ACCREDITATION_FORMAT = "certreg.accreditation/1"

_DECIMAL = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DOCUMENT_FIELDS = ("issuer", "body", "number", "valid_from", "valid_until", "scope")
_ENTRY_REQUIRED = ("quantity", "unit", "minimum", "maximum", "best_capability")
_ENTRY_OPTIONAL = ("capability_unit", "ref_types", "description")


class AccreditationDocumentError(DocumentError):
    """An accreditation document that is malformed: `details["field"]` says where."""

    code = "accreditation-invalid"


class AccreditationFormatError(AccreditationDocumentError):
    """The document names no format, or one this registry does not read."""

    code = "accreditation-format-unsupported"


class AccreditationUnitError(AccreditationDocumentError):
    """A scope unit that is not D-SI, cannot be related to the SI, or does not fit."""

    code = "accreditation-unit-invalid"


class AccreditationRangeError(AccreditationDocumentError):
    """minimum above maximum, or a best capability that is not positive."""

    code = "accreditation-range-invalid"


class AccreditationValidityError(AccreditationDocumentError):
    """valid_from after valid_until."""

    code = "accreditation-validity-invalid"


def _decimal_field(value: object, where: str) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    elif ((isinstance(value, int) and not isinstance(value, bool))
          or (isinstance(value, str) and _DECIMAL.fullmatch(value))):
        number = Decimal(value)
    else:
        raise AccreditationDocumentError(
            f"{where} must be a decimal number written as a string (e.g. \"0.02\"), "
            f"not {value!r}", field=where)
    if not is_tractable(number):
        raise AccreditationRangeError(
            f"{where} must be finite, with an exponent within ±{MAX_DECIMAL_EXPONENT} and "
            f"at most {MAX_DECIMAL_DIGITS} digits", field=where)
    return number


def _text_field(value: object, where: str, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not empty_ok and not value.strip()):
        raise AccreditationDocumentError(
            f"{where} must be a{'' if empty_ok else ' non-empty'} string", field=where)
    return value


def _conversion(unit: str, where: str) -> SiConversion:
    try:
        return unit_si_conversion(unit)
    except UnitNotRelatableError as exc:
        raise AccreditationUnitError(f"{where}: {exc.message}", field=where,
                                     unit=unit) from exc


@dataclass(frozen=True)
class ScopeEntry:
    """One line of an accreditation scope. See the module docstring for the semantics.

    `capability_unit` None (the default) means `unit`; after construction it is always
    set. Numbers may be given as Decimal, int or decimal string; they are kept as Decimal.
    """

    quantity: str
    unit: str
    minimum: Decimal
    maximum: Decimal
    best_capability: Decimal
    capability_unit: str | None = None
    ref_types: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        for name, value in _checked_entry_fields(vars(self), "scope entry").items():
            object.__setattr__(self, name, value)

    @property
    def capability_is_relative(self) -> bool:
        """True if best_capability is a fraction of the measured value (see module doc)."""
        return _is_relative(unit_si_conversion(self.unit),
                            unit_si_conversion(self.capability_unit or self.unit))

    def to_json_value(self) -> dict[str, Any]:
        return {"quantity": self.quantity, "unit": self.unit,
                "minimum": str(self.minimum), "maximum": str(self.maximum),
                "best_capability": str(self.best_capability),
                "capability_unit": self.capability_unit, "ref_types": list(self.ref_types),
                "description": self.description}

    @classmethod
    def from_json_value(cls, value: object, where: str = "scope entry") -> ScopeEntry:
        """A scope entry from its JSON object; errors name the field as `where.<name>`."""
        if not isinstance(value, dict):
            raise AccreditationDocumentError(f"{where} must be an object", field=where)
        missing = [name for name in _ENTRY_REQUIRED if name not in value]
        if missing:
            raise AccreditationDocumentError(f"{where} lacks {', '.join(missing)}",
                                             field=f"{where}.{missing[0]}")
        unknown = sorted(set(value) - set(_ENTRY_REQUIRED) - set(_ENTRY_OPTIONAL))
        if unknown:
            raise AccreditationDocumentError(f"{where} has unknown fields {unknown}",
                                             field=f"{where}.{unknown[0]}")
        for name in ("minimum", "maximum", "best_capability"):
            if not isinstance(value[name], str):  # a JSON number is a binary float
                raise AccreditationDocumentError(
                    f"{where}.{name} must be a decimal number written as a string "
                    f"(e.g. \"0.02\"), not {value[name]!r}", field=f"{where}.{name}")
        if not isinstance(value.get("ref_types", []), list):
            raise AccreditationDocumentError(f"{where}.ref_types must be a list",
                                             field=f"{where}.ref_types")
        fields = {"capability_unit": None, "ref_types": (), "description": ""} | value
        fields["ref_types"] = tuple(fields["ref_types"])
        return cls(**_checked_entry_fields(fields, where))


def _is_relative(unit: SiConversion, capability_unit: SiConversion) -> bool:
    return capability_unit.dimension.is_dimensionless and not unit.dimension.is_dimensionless


def _checked_entry_fields(values: dict[str, Any], where: str) -> dict[str, Any]:
    """The fields of a scope entry, normalised (Decimals, tuple, capability_unit set),
    or raise the AccreditationDocumentError subclass naming `where.<field>`."""
    checked = dict(values)
    for name in ("quantity", "unit"):
        _text_field(values[name], f"{where}.{name}")
    for name in ("minimum", "maximum", "best_capability"):
        checked[name] = _decimal_field(values[name], f"{where}.{name}")
    if values["capability_unit"] is None:
        checked["capability_unit"] = values["unit"]
    _text_field(checked["capability_unit"], f"{where}.capability_unit")
    ref_types = values["ref_types"]
    if isinstance(ref_types, list):
        ref_types = checked["ref_types"] = tuple(ref_types)
    if not isinstance(ref_types, tuple) or not all(
            isinstance(ref_type, str) and ref_type and not any(c.isspace() for c in ref_type)
            for ref_type in ref_types):
        raise AccreditationDocumentError(
            f"{where}.ref_types must be a list of refType names (no spaces)",
            field=f"{where}.ref_types")
    _text_field(values["description"], f"{where}.description", empty_ok=True)
    if checked["minimum"] > checked["maximum"]:
        raise AccreditationRangeError(
            f"{where}: minimum {checked['minimum']} is above maximum {checked['maximum']}",
            field=f"{where}.minimum")
    if checked["best_capability"] <= 0:
        raise AccreditationRangeError(
            f"{where}: best_capability must be positive, not {checked['best_capability']}",
            field=f"{where}.best_capability")
    unit = _conversion(values["unit"], f"{where}.unit")
    capability = _conversion(checked["capability_unit"], f"{where}.capability_unit")
    relative = _is_relative(unit, capability)
    if capability.dimension != unit.dimension and not relative:
        raise AccreditationUnitError(
            f"{where}: capability_unit {checked['capability_unit']} ({capability.dimension}) "
            f"neither has the dimension of {values['unit']} ({unit.dimension}) nor is a "
            "relative unit", field=f"{where}.capability_unit")
    if relative and unit.offset:
        raise AccreditationUnitError(
            f"{where}: a relative best capability cannot apply to {values['unit']} "
            "(a value relative to a Celsius temperature has no meaning)",
            field=f"{where}.capability_unit")
    return checked


@dataclass(frozen=True)
class AccreditationDocument:
    """An issuer's accreditation: body, number, validity (inclusive) and scope."""

    issuer: str
    body: str
    number: str
    valid_from: date
    valid_until: date
    scope: tuple[ScopeEntry, ...]

    def __post_init__(self) -> None:
        for name in ("issuer", "body", "number"):
            _text_field(getattr(self, name), name)
        for name in ("valid_from", "valid_until"):
            value = getattr(self, name)
            if isinstance(value, datetime) or not isinstance(value, date):
                raise AccreditationDocumentError(f"{name} must be a date", field=name)
        if self.valid_from > self.valid_until:
            raise AccreditationValidityError(
                f"valid_from {self.valid_from} is after valid_until {self.valid_until}",
                field="valid_from")
        if isinstance(self.scope, list):
            object.__setattr__(self, "scope", tuple(self.scope))
        if not isinstance(self.scope, tuple) or not all(
                isinstance(entry, ScopeEntry) for entry in self.scope):
            raise AccreditationDocumentError("scope must be a list of scope entries",
                                             field="scope")
        if not self.scope:
            raise AccreditationDocumentError("scope lists no entries", field="scope")

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= _as_date(day) <= self.valid_until

    def to_json_value(self) -> dict[str, Any]:
        """The document as a JSON object (every field present, numbers as strings)."""
        return {"format": ACCREDITATION_FORMAT, "issuer": self.issuer, "body": self.body,
                "number": self.number, "valid_from": self.valid_from.isoformat(),
                "valid_until": self.valid_until.isoformat(),
                "scope": [entry.to_json_value() for entry in self.scope]}

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace, every field present, UTF-8 text."""
        return canonical_json_text(self.to_json_value())

    def to_bytes(self) -> bytes:
        """The canonical JSON as stored (UTF-8); its hash is what goes on chain."""
        return self.to_json().encode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> AccreditationDocument:
        """Parse and validate; raises an AccreditationDocumentError subclass. Duplicate
        keys and NaN/Infinity are refused."""
        return cls.from_json_value(_load_json(text))

    @classmethod
    def from_json_value(cls, value: object) -> AccreditationDocument:
        """Validate an already decoded JSON object (e.g. from a database JSON column)."""
        if not isinstance(value, dict):
            raise AccreditationDocumentError("an accreditation document is a JSON object",
                                             field="")
        if "format" not in value:
            raise AccreditationFormatError("the document names no format", field="format")
        if value["format"] != ACCREDITATION_FORMAT:
            raise AccreditationFormatError(
                f"format {value['format']!r} is not {ACCREDITATION_FORMAT}", field="format",
                format=value["format"])
        missing = [name for name in _DOCUMENT_FIELDS if name not in value]
        if missing:
            raise AccreditationDocumentError(f"the document lacks {', '.join(missing)}",
                                             field=missing[0])
        unknown = sorted(set(value) - {"format", *_DOCUMENT_FIELDS})
        if unknown:
            raise AccreditationDocumentError(f"unknown fields {unknown}", field=unknown[0])
        dates = {}
        for name in ("valid_from", "valid_until"):
            text_value = value[name]
            try:
                if not isinstance(text_value, str) or not _ISO_DATE.fullmatch(text_value):
                    raise ValueError
                dates[name] = date.fromisoformat(text_value)
            except ValueError:
                raise AccreditationDocumentError(
                    f"{name} must be an ISO date (YYYY-MM-DD), not {text_value!r}",
                    field=name) from None
        if not isinstance(value["scope"], list):
            raise AccreditationDocumentError("scope must be a list", field="scope")
        scope = tuple(ScopeEntry.from_json_value(entry, f"scope[{index}]")
                      for index, entry in enumerate(value["scope"]))
        return cls(issuer=value["issuer"], body=value["body"], number=value["number"],
                   valid_from=dates["valid_from"], valid_until=dates["valid_until"],
                   scope=scope)


def _load_json(text: str | bytes) -> Any:
    try:
        if isinstance(text, bytes | bytearray):
            text = bytes(text).decode("utf-8")
        return json.loads(text, object_pairs_hook=unique_keys,
                          parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise AccreditationDocumentError(f"not a JSON document: {exc}", field="") from None


def _as_date(day: date) -> date:
    return day.date() if isinstance(day, datetime) else day
