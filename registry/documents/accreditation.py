"""The scope check of a DCC's measurement results against an issuer's accreditation.

The accreditation document (format `certreg.accreditation/1`: body, number, validity,
scope entries and what their ranges and best measurement capabilities mean) is
`registry.documents.accreditation_document`; its names are importable from here too.

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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from registry.documents.accreditation_document import (
    ACCREDITATION_FORMAT,
    AccreditationDocument,
    AccreditationDocumentError,
    AccreditationFormatError,
    AccreditationRangeError,
    AccreditationUnitError,
    AccreditationValidityError,
    ScopeEntry,
    _as_date,
    _is_relative,
)
from registry.documents.quantities import (
    SiConversion,
    UnitNotRelatableError,
    approximately_equal,
    format_number,
    si_conversion,
)
from registry.documents.results import ABSENT, UNSUPPORTED, MeasurementResult
from registry.documents.ucum import unit_si_conversion

RELATIVE_TOLERANCE = Fraction(1, 10**12)


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
