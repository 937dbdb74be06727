"""Accreditation documents and the scope check of a DCC's measurement results.

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

Scope check (`check_scope`), per result of `registry.documents.results`:
1. The accreditation must be valid on the calibration date, else the whole assessment
   is outside-scope ("accreditation not valid at <date>") and no result is assessed.
2. Applicable entries: same dimension as the result's unit (see
   `registry.documents.quantities`) and, if the entry lists ref_types, sharing one with
   the result. Entries naming the result's refType take precedence over entries
   without ref_types (so "measurement error" rows can have their own entry instead of
   falling under the temperature range).
3. `within-scope` if some applicable entry contains the value (bounds inclusive) and
   the expanded uncertainty is not below its CMC. A result that states no uncertainty
   at all is within scope on its range alone (`uncertainty_checked` is false): it
   claims no uncertainty that could undercut the laboratory's capability.
   `outside-scope` if every applicable entry excludes it, naming the bound: the value
   below/above the range of the nearest entry, or the uncertainty below the CMC.
   `unchecked` if no entry applies, the unit cannot be related to the SI (malformed
   D-SI such as `\\degreeCelsius`, non-D-SI `|unit`, logarithmic units), the value is
   unreadable or complex, or the value is in range but its uncertainty is stated in a
   form that cannot be compared with an expanded uncertainty (standard uncertainty,
   coverage interval). Unchecked is never within.
4. Overall: outside-scope if any result is outside, else unchecked if any is unchecked,
   else within-scope; a DCC without results is unchecked. An unchecked member of an
   si:hybrid whose sibling (same value, another unit) got a verdict is marked
   `covered_by_hybrid` and does not make the overall verdict unchecked.

Comparisons are exact (fractions; 0 °C is 273.15 K, a value 1e-15 above the maximum is
above it). Only when a unit involved has an irrational factor (\\degree, \\planckbar,
fractional powers) is a relative tolerance of 1e-12 allowed, to absorb that rounding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from registry.documents.json_documents import reject_constant, unique_keys
from registry.documents.quantities import (
    SiConversion,
    UnitNotRelatableError,
    approximately_equal,
    format_number,
    si_conversion,
)
from registry.documents.results import (
    ABSENT,
    MAX_DECIMAL_DIGITS,
    MAX_DECIMAL_EXPONENT,
    UNSUPPORTED,
    MeasurementResult,
    is_tractable,
)
from registry.documents.ucum import unit_si_conversion
from registry.errors import DocumentError

ACCREDITATION_FORMAT = "certreg.accreditation/1"
RELATIVE_TOLERANCE = Fraction(1, 10**12)

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
        return json.dumps(self.to_json_value(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)

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


# --- the scope check -----------------------------------------------------------------


class ScopeVerdict(StrEnum):
    WITHIN = "within-scope"
    OUTSIDE = "outside-scope"
    UNCHECKED = "unchecked"


@dataclass(frozen=True)
class ResultAssessment:
    """The verdict on one measurement result.

    `entry` is the index in the accreditation's scope of the entry the result is within,
    or whose `bound` ("minimum", "maximum", "best_capability") it exceeds.
    `uncertainty_checked` says whether an expanded uncertainty was compared with a CMC.
    `covered_by_hybrid`: unchecked, but the same value in another unit of its si:hybrid
    received a verdict.
    """

    result: MeasurementResult
    verdict: ScopeVerdict
    reason: str
    entry: int | None = None
    bound: str | None = None
    uncertainty_checked: bool = False
    covered_by_hybrid: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result.to_dict(), "verdict": self.verdict.value,
                "reason": self.reason, "entry": self.entry, "bound": self.bound,
                "uncertainty_checked": self.uncertainty_checked,
                "covered_by_hybrid": self.covered_by_hybrid}


@dataclass(frozen=True)
class ScopeAssessment:
    """The verdict on a whole certificate, with every result's verdict."""

    verdict: ScopeVerdict
    reason: str
    calibration_date: date
    issuer: str
    body: str
    accreditation_number: str
    results: tuple[ResultAssessment, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        counts = {verdict.value: 0 for verdict in ScopeVerdict}
        for assessment in self.results:
            counts[assessment.verdict.value] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "reason": self.reason,
                "calibration_date": self.calibration_date.isoformat(),
                "issuer": self.issuer, "body": self.body,
                "accreditation_number": self.accreditation_number, "counts": self.counts,
                "results": [assessment.to_dict() for assessment in self.results]}


@dataclass(frozen=True)
class _Entry:
    """A scope entry with its numbers in coherent SI units."""

    index: int
    entry: ScopeEntry
    unit: SiConversion
    minimum: Fraction
    maximum: Fraction
    capability: Fraction  # absolute in SI, or a pure fraction if relative
    relative: bool
    capability_unit: SiConversion

    @classmethod
    def of(cls, index: int, entry: ScopeEntry) -> _Entry:
        unit = unit_si_conversion(entry.unit)
        capability_unit = unit_si_conversion(entry.capability_unit or entry.unit)
        return cls(index, entry, unit, unit.to_si(entry.minimum), unit.to_si(entry.maximum),
                   capability_unit.to_si(entry.best_capability, absolute=False),
                   _is_relative(unit, capability_unit), capability_unit)

    def cmc(self, value_si: Fraction) -> Fraction:
        """The best capability at this value, in SI units."""
        return self.capability * abs(value_si) if self.relative else self.capability

    def in_unit(self, value_si: Fraction, *, absolute: bool = True) -> str:
        """An SI value as text in the entry's unit."""
        return _quantity_text(value_si, self.unit, absolute=absolute)

    def uncertainty_text(self, uncertainty_si: Fraction) -> str:
        """An SI uncertainty in the capability's unit (the entry's unit if relative)."""
        return _quantity_text(uncertainty_si,
                              self.unit if self.relative else self.capability_unit,
                              absolute=False)

    @property
    def label(self) -> str:
        return f"scope entry {self.index} ({self.entry.quantity})"


def _quantity_text(value_si: Fraction, unit: SiConversion, *, absolute: bool) -> str:
    return f"{format_number(unit.from_si(value_si, absolute=absolute))} {unit.symbol}".rstrip()


def _below(a: Fraction, b: Fraction, *, exact: bool) -> bool:
    """a < b; beyond RELATIVE_TOLERANCE unless every factor involved was exact."""
    return a < b and (exact or not approximately_equal(a, b, RELATIVE_TOLERANCE))


def _stated(result: MeasurementResult, conversion: SiConversion) -> str:
    return f"{format_number(result.value or Decimal(0))} {conversion.symbol}".rstrip()


def _assess(result: MeasurementResult, entries: list[_Entry]) -> ResultAssessment:
    def unchecked(reason: str) -> ResultAssessment:
        return ResultAssessment(result, ScopeVerdict.UNCHECKED, f"{name}: {reason}")

    name = result.quantity or "result"
    if result.problem is not None:
        return unchecked(result.problem)
    try:
        conversion = si_conversion(result.unit)  # si:unit is D-SI, never UCUM
    except UnitNotRelatableError as exc:
        return unchecked(exc.message)
    if result.value is None:  # pragma: no cover - extract_results sets a problem then
        return unchecked("no value")
    same_dimension = [entry for entry in entries
                      if entry.unit.dimension == conversion.dimension]
    if not same_dimension:
        return unchecked(f"no scope entry for the dimension {conversion.dimension} "
                         f"(unit {result.unit})")
    ref_types = set(result.ref_types)
    specific = [entry for entry in same_dimension if set(entry.entry.ref_types) & ref_types]
    applicable = specific or [entry for entry in same_dimension if not entry.entry.ref_types]
    if not applicable:
        return unchecked(f"the scope entries for {conversion.dimension} apply to other "
                         f"refTypes than {sorted(ref_types) or 'none'}")

    value_si = conversion.to_si(result.value)
    uncertainty_si = (conversion.to_si(result.uncertainty, absolute=False)
                      if result.uncertainty is not None else None)
    stated = _stated(result, conversion)
    in_range = [entry for entry in applicable
                if not _below(value_si, entry.minimum, exact=conversion.exact and entry.unit.exact)
                and not _below(entry.maximum, value_si,
                               exact=conversion.exact and entry.unit.exact)]

    if in_range:
        if uncertainty_si is None and result.uncertainty_form == ABSENT:
            entry = in_range[0]
            return ResultAssessment(
                result, ScopeVerdict.WITHIN,
                f"{name} {entry.in_unit(value_si)} within {entry.label}, "
                f"{entry.in_unit(entry.minimum)} to {entry.in_unit(entry.maximum)}; no "
                "uncertainty stated, best measurement capability not compared",
                entry=entry.index)
        if uncertainty_si is None or result.uncertainty_form == UNSUPPORTED:
            return unchecked(f"{stated} is in range of {in_range[0].label}, but its "
                             "uncertainty is not stated as an expanded uncertainty")
        for entry in in_range:
            exact = conversion.exact and entry.unit.exact and entry.capability_unit.exact
            if not _below(uncertainty_si, entry.cmc(value_si), exact=exact):
                return ResultAssessment(
                    result, ScopeVerdict.WITHIN,
                    f"{name} {entry.in_unit(value_si)} within {entry.label}, "
                    f"{entry.in_unit(entry.minimum)} to {entry.in_unit(entry.maximum)}; "
                    f"expanded uncertainty {entry.uncertainty_text(uncertainty_si)} "
                    f"not below best measurement capability "
                    f"{entry.uncertainty_text(entry.cmc(value_si))}",
                    entry=entry.index, uncertainty_checked=True)
        entry = in_range[0]
        converted = entry.in_unit(value_si)
        stated_note = "" if converted == stated else f" (stated as {stated})"
        relative = (f" ({entry.entry.best_capability} {entry.capability_unit.symbol} of "
                    f"{converted})" if entry.relative else "")
        return ResultAssessment(
            result, ScopeVerdict.OUTSIDE,
            f"{name} {converted}{stated_note}: expanded uncertainty "
            f"{entry.uncertainty_text(uncertainty_si)} below best measurement capability "
            f"{entry.uncertainty_text(entry.cmc(value_si))}{relative} of {entry.label}",
            entry=entry.index, bound="best_capability", uncertainty_checked=True)

    def distance(entry: _Entry) -> Fraction:
        return entry.minimum - value_si if value_si < entry.minimum else value_si - entry.maximum

    nearest = min(applicable, key=distance)
    below = value_si < nearest.minimum
    bound = "minimum" if below else "maximum"
    limit = nearest.minimum if below else nearest.maximum
    converted = nearest.in_unit(value_si)
    stated_note = "" if converted == stated else f" (stated as {stated})"
    return ResultAssessment(
        result, ScopeVerdict.OUTSIDE,
        f"{name} {converted}{stated_note} {'below' if below else 'above'} scope {bound} "
        f"{nearest.in_unit(limit)} of {nearest.label}",
        entry=nearest.index, bound=bound)


def _mark_hybrid_alternatives(
        assessments: list[ResultAssessment]) -> list[ResultAssessment]:
    decided = {(a.result.hybrid, a.result.index) for a in assessments
               if a.result.hybrid is not None and a.verdict is not ScopeVerdict.UNCHECKED}
    marked = []
    for assessment in assessments:
        key = (assessment.result.hybrid, assessment.result.index)
        if assessment.verdict is ScopeVerdict.UNCHECKED and key in decided:
            assessment = ResultAssessment(
                assessment.result, assessment.verdict,
                assessment.reason + "; the same value is checked in another unit of its "
                "si:hybrid", covered_by_hybrid=True)
        marked.append(assessment)
    return marked


def check_scope(results: Iterable[MeasurementResult], accreditation: AccreditationDocument,
                calibration_date: date) -> ScopeAssessment:
    """Assess each result against the scope valid at `calibration_date` (pure function).

    See the module docstring for the rules. `calibration_date` may be a datetime; its
    date counts.
    """
    day = _as_date(calibration_date)

    def assessment(verdict: ScopeVerdict, reason: str,
                   assessed: tuple[ResultAssessment, ...] = ()) -> ScopeAssessment:
        return ScopeAssessment(verdict, reason, day, accreditation.issuer, accreditation.body,
                               accreditation.number, assessed)

    if not accreditation.valid_on(day):
        return assessment(
            ScopeVerdict.OUTSIDE,
            f"accreditation not valid at {day.isoformat()} (accreditation "
            f"{accreditation.number} by {accreditation.body} is valid "
            f"{accreditation.valid_from.isoformat()} to {accreditation.valid_until.isoformat()})")
    entries = [_Entry.of(index, entry) for index, entry in enumerate(accreditation.scope)]
    assessed = tuple(_mark_hybrid_alternatives(
        [_assess(result, entries) for result in results]))
    if not assessed:
        return assessment(ScopeVerdict.UNCHECKED, "the certificate states no measurement "
                                                  "results to check")
    outside = [a for a in assessed if a.verdict is ScopeVerdict.OUTSIDE]
    unchecked = [a for a in assessed
                 if a.verdict is ScopeVerdict.UNCHECKED and not a.covered_by_hybrid]
    if outside:
        more = f" (and {len(outside) - 1} more outside)" if len(outside) > 1 else ""
        return assessment(ScopeVerdict.OUTSIDE, outside[0].reason + more, assessed)
    if unchecked:
        more = f" (and {len(unchecked) - 1} more unchecked)" if len(unchecked) > 1 else ""
        return assessment(ScopeVerdict.UNCHECKED, unchecked[0].reason + more, assessed)
    return assessment(ScopeVerdict.WITHIN,
                      f"all {len(assessed)} results within the scope of accreditation "
                      f"{accreditation.number}", assessed)


__all__ = [
    "ACCREDITATION_FORMAT", "AccreditationDocument", "AccreditationDocumentError",
    "AccreditationFormatError", "AccreditationRangeError", "AccreditationUnitError",
    "AccreditationValidityError", "ResultAssessment", "ScopeAssessment", "ScopeEntry",
    "ScopeVerdict", "check_scope",
]
