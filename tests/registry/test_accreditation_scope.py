"""Accreditation scope: the document, the results of a DCC, unit relations, the check.

The DCCs are PTB's and GEMIMEG's shared examples, read in place from the corpus,
parsed with the hardened parser and schema-validated before their results are read.
Variants that exercise D-SI structures the corpus lacks are made from those examples
by a textual edit and must still validate against their schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.documents.accreditation import (
    ACCREDITATION_FORMAT,
    AccreditationDocument,
    AccreditationDocumentError,
    ScopeAssessment,
    ScopeEntry,
    ScopeVerdict,
    check_scope,
)
from registry.documents.parse import parse_xml
from registry.documents.quantities import (
    DIMENSIONLESS,
    Dimension,
    UnitDimensionMismatchError,
    UnitNotRelatableError,
    convert,
    si_conversion,
)
from registry.documents.results import MeasurementResult, extract_results
from registry.documents.units import PREFIXES, UNIT_NAMES
from registry.documents.validate import validate_dcc

WITHIN, OUTSIDE, UNCHECKED = ScopeVerdict.WITHIN, ScopeVerdict.OUTSIDE, ScopeVerdict.UNCHECKED
CALIBRATED = date(2024, 5, 1)

TEMPERATURE_EXAMPLES = ("dcc_gp_temperature_typical_v12.xml",
                        "dcc_gp_temperature_simplified_v12.xml",
                        "derived_gp_temperature_typical_v3.3.0.xml")
SPHERE_EXAMPLES = ("ptb_siliziumkugel_v2.3.0.xml", "siliziumkugel_2_4_0.xml",
                   "ptb_siliziumkugel_v3.0.0.xml")
CDG = "ptb_vacuumlab_CDG_v3.1.0.xml"
SRG = "ptb_vacuumlab_SRG_v3.1.1.xml"
SINGLE_WEIGHT = "ptb_singleweight_v3.0.0.xml"

Results = tuple[MeasurementResult, ...]


def _validated_results(data: bytes) -> Results:
    tree = parse_xml(data)
    validate_dcc(tree)  # raises if the (edited) certificate breaks its schema
    return extract_results(tree)


@pytest.fixture(scope="module")
def example_bytes(shared_dcc: Path) -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        return (shared_dcc / "examples" / name).read_bytes()
    return read


@pytest.fixture(scope="module")
def example(example_bytes: Callable[[str], bytes]) -> Callable[[str], Results]:
    cache: dict[str, Results] = {}

    def results(name: str) -> Results:
        if name not in cache:
            cache[name] = _validated_results(example_bytes(name))
        return cache[name]
    return results


def entry(quantity: str, unit: str, minimum: str, maximum: str, capability: str,
          capability_unit: str | None = None, ref_types: tuple[str, ...] = ()) -> ScopeEntry:
    return ScopeEntry(quantity=quantity, unit=unit, minimum=Decimal(minimum),
                      maximum=Decimal(maximum), best_capability=Decimal(capability),
                      capability_unit=capability_unit, ref_types=ref_types)


def accreditation(*entries: ScopeEntry, valid_from: date = date(2021, 1, 1),
                  valid_until: date = date(2025, 12, 31)) -> AccreditationDocument:
    return AccreditationDocument(issuer="LAB", body="DAkkS", number="D-K-15070-01-00",
                                 valid_from=valid_from, valid_until=valid_until,
                                 scope=entries)


def verdicts(assessment: ScopeAssessment) -> list[ScopeVerdict]:
    return [result.verdict for result in assessment.results]


def result(value: str, unit: str, uncertainty: str | None = None, *, quantity: str = "q",
           ref_types: tuple[str, ...] = (), hybrid: str | None = None,
           index: int | None = None, form: str | None = None) -> MeasurementResult:
    return MeasurementResult(
        quantity=quantity, ref_types=ref_types, value=Decimal(value), unit=unit,
        uncertainty=None if uncertainty is None else Decimal(uncertainty),
        coverage_factor=None if uncertainty is None else Decimal(2),
        uncertainty_form=form or ("absent" if uncertainty is None else "expanded"),
        path="/synthetic", index=index, hybrid=hybrid)


# The temperature calibration's lab: -40 °C to 350 °C with a CMC of 30 mK, and the
# measurement-error rows (a temperature *difference*) under their own entry.
TEMPERATURE_RANGE = entry("temperature", r"\degreecelsius", "-40", "350", "30",
                          r"\milli\kelvin")
TEMPERATURE_ERROR = entry("temperature deviation", r"\kelvin", "-1", "1", "0.05",
                          ref_types=("basic_measurementError",))
# The vacuum lab: 10 Pa to 30 kPa with 0.015 % of reading, and the two dimensionless
# result columns of a gauge calibration.
PRESSURE_RANGE = entry("pressure", r"\kilo\pascal", "0.01", "30", "0.015", r"\percent")
RELATIVE_ERROR = entry("relative error of indication", r"\one", "-0.05", "0.05", "0.0001")
CORRECTION_FACTOR = entry("correction factor", r"\one", "0.9", "1.1", "0.0001")
# The mass lab: 1 g to 1.1 kg with 0.05 mg; volumes of 100 mL to 1 L with 0.000018 mL.
MASS_RANGE = entry("mass", r"\gram", "1", "1100", "0.05", r"\milli\gram")
VOLUME_RANGE = entry("volume", r"\milli\litre", "100", "1000", "0.000018")


# --- results of the shared examples ---------------------------------------------------

@pytest.mark.parametrize(("name", "count", "units", "with_uncertainty"), [
    ("dcc_gp_temperature_typical_v12.xml", 25, {r"\kelvin": 15, r"\degreecelsius": 10}, 5),
    ("dcc_gp_temperature_simplified_v12.xml", 25,
     {r"\kelvin": 15, r"\degreecelsius": 10}, 5),
    ("derived_gp_temperature_typical_v3.3.0.xml", 25,
     {r"\kelvin": 15, r"\degreecelsius": 10}, 5),
    (CDG, 56, {r"\kilogram\metre\tothe{-1}\second\tothe{-2}": 28, r"\one": 28}, 56),
    (SRG, 2, {r"\one": 1, r"\kilogram\tothe{-1}\metre\second\tothe{2}": 1}, 2),
    ("ptb_vacuumlab_SRG_v3.0.0.xml", 2,
     {r"\one": 1, r"\kilogram\tothe{-1}\metre\second\tothe{2}": 1}, 2),
    (SINGLE_WEIGHT, 1, {"/kilogram": 1}, 1),
    ("ptb_siliziumkugel_v2.3.0.xml", 2, {r"\kilogram": 1, r"\centi\metre\tothe{3}": 1}, 2),
    ("siliziumkugel_2_4_0.xml", 2, {r"\kilogram": 1, r"\centi\metre\tothe{3}": 1}, 2),
    ("ptb_siliziumkugel_v3.0.0.xml", 2, {r"\kilogram": 1, r"\centi\metre\tothe{3}": 1}, 2),
    ("ptb_example_v2.3.0.xml", 4,
     {r"\kilogram": 2, r"\kilogram\metre\tothe{-3}": 1, r"\metre\tothe{3}": 1}, 4),
])
def test_scope_results_of_shared_examples(example: Callable[[str], Results], name: str,
                                          count: int, units: dict[str, int],
                                          with_uncertainty: int) -> None:
    results = example(name)
    assert len(results) == count
    seen: dict[str, int] = {}
    for found in results:
        seen[found.unit] = seen.get(found.unit, 0) + 1
        assert found.problem is None
        assert found.path.startswith("/dcc:digitalCalibrationCertificate/dcc:measurementResults/")
        assert "/dcc:results/dcc:result" in found.path
    assert seen == units
    assert sum(found.uncertainty is not None for found in results) == with_uncertainty


def test_scope_results_read_values_uncertainties_and_names(
        example: Callable[[str], Results]) -> None:
    sphere_mass, sphere_volume = example("ptb_siliziumkugel_v3.0.0.xml")
    assert (sphere_mass.quantity, sphere_mass.value, sphere_mass.uncertainty,
            sphere_mass.coverage_factor) == ("mass", Decimal("1.00007841"),
                                             Decimal("0.00000005"), Decimal(2))
    assert sphere_volume.quantity == "volume at t = 20 °C"
    # A quantity without a name of its own takes its dcc:list's (the SRG, the CDG).
    srg = example(SRG)
    assert [found.quantity for found in srg] == ["effective accommodation coefficient",
                                                 "viscosity correction factor"]
    cdg = example(CDG)
    assert (cdg[0].quantity, cdg[0].value, cdg[0].uncertainty) == (
        "calibration pressure", Decimal("26.650"), Decimal("0.040"))
    errors = [found for found in example(TEMPERATURE_EXAMPLES[0])
              if found.ref_types == ("basic_measurementError",)]
    assert [found.value for found in errors] == [Decimal(v) for v in
                                                 ("0.072", "0.089", "0.107", "-0.009",
                                                  "-0.084")]
    # One uncertainty in the XMLList applies to every value.
    assert {(found.uncertainty, found.index) for found in errors} == {
        (Decimal("0.061"), index) for index in range(5)}
    assert sphere_mass.to_dict()["uncertainty"] == "0.00000005"


@pytest.mark.parametrize("name", [*TEMPERATURE_EXAMPLES, SRG, SINGLE_WEIGHT,
                                  *SPHERE_EXAMPLES])
def test_scope_results_leave_out_conditions_equipment_and_metadata(
        example: Callable[[str], Results], name: str) -> None:
    values = {found.value for found in example(name)}
    not_results = {
        # immersion depth, ambient temperatures and humidities, calibration set points,
        # acceptance limits (temperature examples); gas and room temperature (SRG);
        # ambient conditions and the nominal value (single weight, sphere)
        Decimal("0.1"), Decimal("293"), Decimal("299"), Decimal("0.20"), Decimal("306"),
        Decimal("32.85"), Decimal("-0.23"), Decimal("0.30"), Decimal("295.849"),
        Decimal("296.16"), Decimal("20.85"), Decimal("1008.04"), Decimal("1"),
        Decimal("429.35318"), Decimal("20.775"), Decimal("1007.38"), Decimal("0.468")}
    assert values, name
    assert not values & not_results


@pytest.mark.parametrize("name", TEMPERATURE_EXAMPLES)
def test_scope_results_hybrid_members_state_one_value(example: Callable[[str], Results],
                                                      name: str) -> None:
    """Both units of each si:hybrid are results, sharing the hybrid key and index; the
    °C member converts to exactly the K member."""
    members: dict[tuple[str, int | None], dict[str, Decimal]] = {}
    for found in example(name):
        if found.hybrid is not None:
            assert found.value is not None
            members.setdefault((found.hybrid, found.index), {})[found.unit] = found.value
    assert len(members) == 10
    for units in members.values():
        assert set(units) == {r"\kelvin", r"\degreecelsius"}
        assert convert(units[r"\degreecelsius"], r"\degreecelsius", r"\kelvin") == \
            Fraction(units[r"\kelvin"])


_ERROR_UNCERTAINTY = b"""<si:expandedUncXMLList>
										<si:uncertaintyXMLList>0.061</si:uncertaintyXMLList>
										<si:coverageFactorXMLList>2</si:coverageFactorXMLList>
										<si:coverageProbabilityXMLList>0.95</si:coverageProbabilityXMLList>
										<si:distributionXMLList>normal</si:distributionXMLList>
									</si:expandedUncXMLList>"""


def _edit(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


def test_scope_results_read_dsi_2_2_measurement_uncertainty(
        example_bytes: Callable[[str], bytes]) -> None:
    """D-SI 2.2 (DCC 3.3) states uncertainties as measurementUncertaintyUnivariate; one
    expanded uncertainty per value, in a schema-valid 3.3.0 certificate."""
    data = _edit(example_bytes("derived_gp_temperature_typical_v3.3.0.xml"),
                 _ERROR_UNCERTAINTY,
                 b"<si:measurementUncertaintyUnivariateXMLList><si:expandedMUXMLList>"
                 b"<si:valueExpandedMUXMLList>0.061 0.062 0.063 0.064 0.065"
                 b"</si:valueExpandedMUXMLList>"
                 b"<si:coverageFactorXMLList>2</si:coverageFactorXMLList>"
                 b"<si:coverageProbabilityXMLList>0.95</si:coverageProbabilityXMLList>"
                 b"</si:expandedMUXMLList></si:measurementUncertaintyUnivariateXMLList>")
    errors = [found for found in _validated_results(data)
              if found.ref_types == ("basic_measurementError",)]
    assert [found.uncertainty for found in errors] == [
        Decimal(v) for v in ("0.061", "0.062", "0.063", "0.064", "0.065")]
    assert {found.uncertainty_form for found in errors} == {"expanded"}
    # A CMC of 63 mK: the first two rows claim less, the rest do not.
    checked = check_scope(errors, accreditation(
        entry("deviation", r"\kelvin", "-1", "1", "63", r"\milli\kelvin")), CALIBRATED)
    assert verdicts(checked) == [OUTSIDE, OUTSIDE, WITHIN, WITHIN, WITHIN]


def test_scope_results_read_dsi_2_2_single_real_and_standard_uncertainty(
        example_bytes: Callable[[str], bytes]) -> None:
    """A si:real with expandedMU is read; one with only a standard uncertainty is kept as
    'unsupported' and is never within scope."""
    original = example_bytes("derived_gp_temperature_typical_v3.3.0.xml")
    reference_hybrid = original[original.index(b"<si:hybrid>", original.index(
        b"basic_referenceValue\">")):]
    reference_hybrid = reference_hybrid[:reference_hybrid.index(b"</si:hybrid>") + 12]

    def real(uncertainty: bytes) -> bytes:
        return (b"<si:real><si:value>306.248</si:value><si:unit>\\kelvin</si:unit>"
                b"<si:measurementUncertaintyUnivariate>" + uncertainty +
                b"</si:measurementUncertaintyUnivariate></si:real>")

    expanded = _edit(original, reference_hybrid, real(
        b"<si:expandedMU><si:valueExpandedMU>0.05</si:valueExpandedMU>"
        b"<si:coverageFactor>2</si:coverageFactor>"
        b"<si:coverageProbability>0.95</si:coverageProbability></si:expandedMU>"))
    standard = _edit(original, reference_hybrid, real(
        b"<si:standardMU><si:valueStandardMU>0.025</si:valueStandardMU></si:standardMU>"))
    scope = accreditation(TEMPERATURE_RANGE, TEMPERATURE_ERROR)
    (reference,) = [found for found in _validated_results(expanded)
                    if found.ref_types == ("basic_referenceValue",)]
    assert (reference.value, reference.uncertainty, reference.element) == (
        Decimal("306.248"), Decimal("0.05"), "si:real")
    assert verdicts(check_scope([reference], scope, CALIBRATED)) == [WITHIN]
    (reference,) = [found for found in _validated_results(standard)
                    if found.ref_types == ("basic_referenceValue",)]
    assert (reference.uncertainty, reference.uncertainty_form) == (None, "unsupported")
    checked = check_scope([reference], scope, CALIBRATED)
    assert checked.verdict is UNCHECKED
    assert "not stated as an expanded uncertainty" in checked.results[0].reason


def test_scope_results_read_dsi_1_3_list_with_list_unit(
        example_bytes: Callable[[str], bytes]) -> None:
    """D-SI 1.3 (DCC 2.3) si:list: items take the list's unit and uncertainty."""
    original = example_bytes("ptb_siliziumkugel_v2.3.0.xml")
    start = original.index(b"<si:real>", original.index(b"<dcc:results>"))
    end = original.index(b"</si:real>", start) + len(b"</si:real>")
    data = original[:start] + (
        b"<si:list><si:listUnit>\\gram</si:listUnit><si:listUnivariateUnc><si:expandedUnc>"
        b"<si:uncertainty>0.00005</si:uncertainty><si:coverageFactor>2</si:coverageFactor>"
        b"<si:coverageProbability>0.95</si:coverageProbability></si:expandedUnc>"
        b"</si:listUnivariateUnc>"
        b"<si:real><si:value>1000.07841</si:value></si:real>"
        b"<si:real><si:value>500.1</si:value><si:unit>\\kilogram</si:unit></si:real>"
        b"</si:list>") + original[end:]
    mass = [found for found in _validated_results(data) if found.quantity == "mass"]
    assert [(found.value, found.unit, found.uncertainty, found.index) for found in mass] == [
        (Decimal("1000.07841"), r"\gram", Decimal("0.00005"), 0),
        (Decimal("500.1"), r"\kilogram", Decimal("0.00005"), 1)]
    assert verdicts(check_scope(mass, accreditation(MASS_RANGE), CALIBRATED)) == [
        WITHIN, OUTSIDE]


def test_scope_results_report_broken_lists_as_problems(
        example_bytes: Callable[[str], bytes]) -> None:
    """Three uncertainties for five values, or a NaN: a result with a problem, unchecked."""
    original = example_bytes(TEMPERATURE_EXAMPLES[0])
    three = _edit(original, b"<si:uncertaintyXMLList>0.061</si:uncertaintyXMLList>",
                  b"<si:uncertaintyXMLList>0.061 0.061 0.061</si:uncertaintyXMLList>")
    errors = [found for found in _validated_results(three)
              if found.ref_types == ("basic_measurementError",)]
    assert {found.problem for found in errors} == {"3 uncertainties for 5 values"}
    checked = check_scope(errors, accreditation(TEMPERATURE_ERROR), CALIBRATED)
    assert checked.verdict is UNCHECKED and set(verdicts(checked)) == {UNCHECKED}
    # D-SI 2.2 (DCC 3.3) allows NaN as a value.
    not_a_number = _edit(example_bytes("derived_gp_temperature_typical_v3.3.0.xml"),
                         b"0.072 0.089 0.107 -0.009 -0.084",
                         b"NaN 0.089 0.107 -0.009 -0.084")
    errors = [found for found in _validated_results(not_a_number)
              if found.ref_types == ("basic_measurementError",)]
    assert errors[0].value is None and "not a finite number" in (errors[0].problem or "")
    assert verdicts(check_scope(errors, accreditation(TEMPERATURE_ERROR), CALIBRATED)) == [
        UNCHECKED, WITHIN, WITHIN, WITHIN, WITHIN]


@pytest.mark.timeout(20)
def test_scope_results_refuse_exponents_beyond_double(
        example_bytes: Callable[[str], bytes]) -> None:
    """1e999999999 is a schema-valid si:value; exact arithmetic on it would build a
    billion-digit integer. It is reported unchecked, at once."""
    data = _edit(example_bytes("derived_gp_temperature_typical_v3.3.0.xml"),
                 b"0.072 0.089 0.107 -0.009 -0.084",
                 b"1e999999999 0.089 1e-999999999 " + b"1" * 65 + b" 1e308")
    errors = [found for found in _validated_results(data)
              if found.ref_types == ("basic_measurementError",)]
    assert [found.value is None for found in errors] == [True, False, True, True, False]
    checked = check_scope(errors, accreditation(TEMPERATURE_ERROR), CALIBRATED)
    assert verdicts(checked) == [UNCHECKED, WITHIN, UNCHECKED, UNCHECKED, OUTSIDE]
    with pytest.raises(AccreditationDocumentError) as rejected:
        AccreditationDocument.from_json(_mutated(_set(("scope", 0, "maximum"), "1e999999999")))
    assert rejected.value.code == "accreditation-range-invalid"


# --- temperature -----------------------------------------------------------------------

@pytest.mark.parametrize("name", TEMPERATURE_EXAMPLES)
def test_scope_temperature_examples_within(example: Callable[[str], Results],
                                           name: str) -> None:
    checked = check_scope(example(name), accreditation(TEMPERATURE_RANGE, TEMPERATURE_ERROR),
                          CALIBRATED)
    assert checked.verdict is WITHIN
    assert checked.counts == {"within-scope": 25, "outside-scope": 0, "unchecked": 0}
    for assessed in checked.results:
        is_error = assessed.result.ref_types == ("basic_measurementError",)
        assert assessed.entry == (1 if is_error else 0)
        # Only the error rows state an uncertainty; the others are in scope on range.
        assert assessed.uncertainty_checked is is_error


def test_scope_temperature_narrowly_above_maximum(example: Callable[[str], Results]) -> None:
    """320 °C as maximum: the last reference value, 320.004 °C (593.154 K), is just above;
    the indicated 319.92 °C is not."""
    narrow = entry("temperature", r"\degreecelsius", "-40", "320", "30", r"\milli\kelvin")
    checked = check_scope(example(TEMPERATURE_EXAMPLES[0]),
                          accreditation(narrow, TEMPERATURE_ERROR), CALIBRATED)
    assert checked.verdict is OUTSIDE
    outside = [a for a in checked.results if a.verdict is OUTSIDE]
    assert [(a.result.unit, a.result.value, a.bound, a.entry) for a in outside] == [
        (r"\kelvin", Decimal("593.154"), "maximum", 0),
        (r"\degreecelsius", Decimal("320.004"), "maximum", 0)]
    assert outside[0].reason == ("Reference value 320.004 °C (stated as 593.154 K) above "
                                 "scope maximum 320 °C of scope entry 0 (temperature)")
    assert checked.reason.startswith(outside[0].reason)
    assert checked.counts == {"within-scope": 23, "outside-scope": 2, "unchecked": 0}


def test_scope_temperature_excluded_below_minimum(example: Callable[[str], Results]) -> None:
    hot = entry("temperature", r"\kelvin", "673.15", "1273.15", "0.1")
    checked = check_scope(example(TEMPERATURE_EXAMPLES[0]),
                          accreditation(hot, TEMPERATURE_ERROR), CALIBRATED)
    assert checked.verdict is OUTSIDE
    assert checked.counts == {"within-scope": 5, "outside-scope": 20, "unchecked": 0}
    first = checked.results[0]
    assert first.bound == "minimum"
    assert first.reason == ("Reference value 306.248 K below scope minimum 673.15 K of "
                            "scope entry 0 (temperature)")


@pytest.mark.parametrize(("capability", "unit", "expected"), [
    ("61", r"\milli\kelvin", WITHIN),        # equal to the stated 0.061 K
    ("0.061", r"\kelvin", WITHIN),
    ("0.061", r"\degreecelsius", WITHIN),   # a difference: 1 °C = 1 K, no offset
    ("61.001", r"\milli\kelvin", OUTSIDE),   # just above the stated uncertainty
    ("62", r"\milli\kelvin", OUTSIDE),
])
def test_scope_temperature_capability_bound(example: Callable[[str], Results], capability: str,
                                            unit: str, expected: ScopeVerdict) -> None:
    errors = entry("temperature deviation", r"\kelvin", "-1", "1", capability, unit,
                   ref_types=("basic_measurementError",))
    checked = check_scope(example(TEMPERATURE_EXAMPLES[0]),
                          accreditation(TEMPERATURE_RANGE, errors), CALIBRATED)
    assert checked.verdict is expected
    error_rows = [a for a in checked.results
                  if a.result.ref_types == ("basic_measurementError",)]
    assert {a.verdict for a in error_rows} == {expected}
    if expected is OUTSIDE:
        assert {a.bound for a in error_rows} == {"best_capability"}
        assert "expanded uncertainty" in checked.reason
        assert "below best measurement capability" in checked.reason
    if capability == "62":
        assert error_rows[0].reason == (
            "Measurement error 0.072 K: expanded uncertainty 61 mK below best measurement "
            "capability 62 mK of scope entry 1 (temperature deviation)")


@pytest.mark.parametrize(("scope", "expected"), [
    # K bounds exactly at the first and last reference value: °C values on the bound too
    (entry("temperature", r"\kelvin", "306.248", "593.154", "0.03"), WITHIN),
    (entry("temperature", r"\degreecelsius", "33.098", "320.004", "0.03"), WITHIN),
    (entry("temperature", r"\milli\kelvin", "306248", "593154", "30"), WITHIN),
    (entry("temperature", r"\kelvin", "306.249", "593.154", "0.03"), OUTSIDE),
    (entry("temperature", r"\degreecelsius", "33.098", "320.003", "0.03"), OUTSIDE),
])
def test_scope_temperature_bounds_in_other_units(example: Callable[[str], Results],
                                                 scope: ScopeEntry,
                                                 expected: ScopeVerdict) -> None:
    checked = check_scope(example(TEMPERATURE_EXAMPLES[0]),
                          accreditation(scope, TEMPERATURE_ERROR), CALIBRATED)
    assert checked.verdict is expected
    if expected is OUTSIDE:  # both units of the one reference value at the bound
        outside = [a for a in checked.results if a.verdict is OUTSIDE]
        assert len(outside) == 2
        assert len({(a.result.hybrid, a.result.index) for a in outside}) == 1


def test_scope_zero_celsius_is_273_15_kelvin() -> None:
    at_kelvin_minimum = accreditation(entry("t", r"\kelvin", "273.15", "300", "0.01"))
    assert verdicts(check_scope([result("0", r"\degreecelsius", "0.01")],
                                at_kelvin_minimum, CALIBRATED)) == [WITHIN]
    assert verdicts(check_scope([result("-0.001", r"\degreecelsius", "0.01")],
                                at_kelvin_minimum, CALIBRATED)) == [OUTSIDE]
    at_celsius_maximum = accreditation(entry("t", r"\degreecelsius", "-10", "0", "0.01"))
    assert verdicts(check_scope([result("273.15", r"\kelvin", "0.01")],
                                at_celsius_maximum, CALIBRATED)) == [WITHIN]
    assert verdicts(check_scope([result("273150.001", r"\milli\kelvin", "10")],
                                at_celsius_maximum, CALIBRATED)) == [OUTSIDE]


def test_scope_measurement_error_needs_its_own_entry(example: Callable[[str], Results]) -> None:
    """Without an entry for the error rows they fall under the temperature range (and
    0.072 K is far below -40 °C); an entry restricted to other refTypes leaves them
    unchecked."""
    results = example(TEMPERATURE_EXAMPLES[0])
    generic = check_scope(results, accreditation(TEMPERATURE_RANGE), CALIBRATED)
    assert generic.verdict is OUTSIDE
    assert {a.result.ref_types for a in generic.results if a.verdict is OUTSIDE} == {
        ("basic_measurementError",)}
    restricted = entry("temperature", r"\degreecelsius", "-40", "350", "30", r"\milli\kelvin",
                       ref_types=("basic_referenceValue", "basic_measuredValue"))
    checked = check_scope(results, accreditation(restricted), CALIBRATED)
    assert checked.verdict is UNCHECKED
    assert checked.counts == {"within-scope": 20, "outside-scope": 0, "unchecked": 5}
    assert "apply to other refTypes" in checked.reason


def test_scope_entries_naming_the_ref_type_take_precedence() -> None:
    """An entry for the result's refType replaces the generic entries: a deviation of
    5 K is outside the ±1 K deviation entry even though the generic 0 K to 10 K entry
    would hold it."""
    generic = entry("temperature", r"\kelvin", "0", "10", "0.01")
    deviation = entry("deviation", r"\kelvin", "-1", "1", "0.01", ref_types=("error", "x"))
    scope = accreditation(generic, deviation)
    checked = check_scope([result("5", r"\kelvin", "0.1", ref_types=("error",)),
                           result("5", r"\kelvin", "0.1", ref_types=("other",)),
                           result("5", r"\kelvin", "0.1")], scope, CALIBRATED)
    assert [(a.verdict, a.entry, a.bound) for a in checked.results] == [
        (OUTSIDE, 1, "maximum"), (WITHIN, 0, None), (WITHIN, 0, None)]


# --- pressure --------------------------------------------------------------------------

def test_scope_pressure_in_kilopascal_covers_pascal_results(
        example: Callable[[str], Results]) -> None:
    checked = check_scope(example(CDG),
                          accreditation(PRESSURE_RANGE, RELATIVE_ERROR, CORRECTION_FACTOR),
                          CALIBRATED)
    assert checked.verdict is WITHIN
    assert checked.counts == {"within-scope": 56, "outside-scope": 0, "unchecked": 0}
    assert all(a.uncertainty_checked for a in checked.results)
    assert {a.entry for a in checked.results} == {0, 1, 2}


def test_scope_pressure_narrow_misses(example: Callable[[str], Results]) -> None:
    # The highest indicated pressure is 26770.1 Pa: a maximum of 26.77 kPa misses it by 0.1 Pa.
    top = entry("pressure", r"\kilo\pascal", "0.01", "26.77", "0.015", r"\percent")
    checked = check_scope(example(CDG), accreditation(top, RELATIVE_ERROR, CORRECTION_FACTOR),
                          CALIBRATED)
    (outside,) = [a for a in checked.results if a.verdict is OUTSIDE]
    assert (outside.result.value, outside.bound) == (Decimal("26770.1"), "maximum")
    assert outside.reason == (
        "offset corrected indicated pressure 26.7701 kPa (stated as 26770.1 kg m^-1 s^-2) "
        "above scope maximum 26.77 kPa of scope entry 0 (pressure)")
    # 0.02 % of reading is just more than three of the stated uncertainties (4.8 Pa at
    # 24065.9 Pa is 0.01995 %).
    tighter = entry("pressure", r"\kilo\pascal", "0.01", "30", "0.02", r"\percent")
    checked = check_scope(example(CDG),
                          accreditation(tighter, RELATIVE_ERROR, CORRECTION_FACTOR), CALIBRATED)
    outside_values = {a.result.value for a in checked.results if a.verdict is OUTSIDE}
    assert outside_values == {Decimal("8030.2"), Decimal("16045.6"), Decimal("24065.9")}
    assert {a.bound for a in checked.results if a.verdict is OUTSIDE} == {"best_capability"}
    assert "(0.02 % of 24.0659 kPa)" in next(
        a.reason for a in checked.results if a.result.value == Decimal("24065.9"))
    # An absolute CMC of 0.041 Pa is just above the 0.040 Pa stated at 26.65 Pa.
    absolute = entry("low pressure", r"\pascal", "10", "100", "0.041")
    checked = check_scope(example(CDG)[:1], accreditation(absolute), CALIBRATED)
    assert checked.verdict is OUTSIDE
    assert checked.results[0].reason == (
        "calibration pressure 26.65 Pa (stated as 26.65 kg m^-1 s^-2): expanded uncertainty "
        "0.04 Pa below best measurement capability 0.041 Pa of scope entry 0 (low pressure)")


def test_scope_pressure_without_dimensionless_entries_is_unchecked(
        example: Callable[[str], Results]) -> None:
    checked = check_scope(example(CDG), accreditation(PRESSURE_RANGE), CALIBRATED)
    assert checked.verdict is UNCHECKED
    assert checked.counts == {"within-scope": 28, "outside-scope": 0, "unchecked": 28}
    assert "no scope entry for the dimension 1" in checked.reason


def test_scope_pressure_entry_does_not_cover_other_dimensions(
        example: Callable[[str], Results]) -> None:
    """The SRG's results are an accommodation coefficient (1) and a viscosity correction
    (1/Pa): a pressure scope covers neither, and says so instead of passing them."""
    checked = check_scope(example(SRG), accreditation(PRESSURE_RANGE), CALIBRATED)
    assert verdicts(checked) == [UNCHECKED, UNCHECKED]
    assert "m kg^-1 s^2" in checked.results[1].reason
    # A temperature scope for a pressure certificate: unchecked, never within.
    checked = check_scope(example(CDG), accreditation(TEMPERATURE_RANGE), CALIBRATED)
    assert set(verdicts(checked)) == {UNCHECKED}


# --- mass ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SPHERE_EXAMPLES)
def test_scope_mass_in_gram_covers_kilogram_results(example: Callable[[str], Results],
                                                    name: str) -> None:
    checked = check_scope(example(name), accreditation(MASS_RANGE, VOLUME_RANGE), CALIBRATED)
    assert checked.verdict is WITHIN
    assert [a.entry for a in checked.results] == [0, 1]
    # CMC 0.05 mg equals the stated 0.00000005 kg; 0.000018 mL the stated 0.000018 cm³.
    assert all(a.uncertainty_checked for a in checked.results)


@pytest.mark.parametrize(("scope", "bound", "reason"), [
    # The sphere is 1 kg + 78.41 mg: a 1 kg maximum misses it narrowly.
    (entry("mass", r"\gram", "1", "1000", "0.05", r"\milli\gram"), "maximum",
     "mass 1000.07841 g (stated as 1.00007841 kg) above scope maximum 1000 g of scope "
     "entry 0 (mass)"),
    (entry("mass", r"\kilogram", "1.0001", "50", "0.00000001"), "minimum",
     "mass 1.00007841 kg below scope minimum 1.0001 kg of scope entry 0 (mass)"),
    (entry("mass", r"\gram", "1", "1100", "0.051", r"\milli\gram"), "best_capability",
     "mass 1000.07841 g (stated as 1.00007841 kg): expanded uncertainty 0.05 mg below best "
     "measurement capability 0.051 mg of scope entry 0 (mass)"),
])
def test_scope_mass_excluded_or_narrowly_missed(example: Callable[[str], Results],
                                                scope: ScopeEntry, bound: str,
                                                reason: str) -> None:
    checked = check_scope(example("ptb_siliziumkugel_v3.0.0.xml"),
                          accreditation(scope, VOLUME_RANGE), CALIBRATED)
    assert checked.verdict is OUTSIDE
    assert [a.verdict for a in checked.results] == [OUTSIDE, WITHIN]
    assert (checked.results[0].bound, checked.results[0].reason) == (bound, reason)


def test_scope_unrelatable_unit_is_unchecked_not_within(
        example: Callable[[str], Results]) -> None:
    """PTB's single weight writes its unit as '/kilogram': the value would fit the mass
    scope, but a unit the checker cannot read is never within scope."""
    checked = check_scope(example(SINGLE_WEIGHT), accreditation(MASS_RANGE), CALIBRATED)
    assert checked.verdict is UNCHECKED
    assert verdicts(checked) == [UNCHECKED]
    assert "'/kilogram' is not a valid D-SI unit" in checked.reason


@pytest.mark.parametrize(("unit", "why"), [
    (r"\degreeCelsius", r"did you mean \degreecelsius"),
    ("|degF", "|degF is not a D-SI unit"),
    (r"\decibel", "logarithmic"),
    (r"\kelvin\kelvin\x", r"\x is not a D-SI unit"),
    ("", "unit is empty"),
])
def test_scope_unrelatable_units_are_unchecked(unit: str, why: str) -> None:
    checked = check_scope([result("20", unit, "0.1")], accreditation(TEMPERATURE_RANGE),
                          CALIBRATED)
    assert checked.verdict is UNCHECKED
    assert checked.results[0].verdict is UNCHECKED
    assert why in checked.results[0].reason


def test_scope_tolerance_only_absorbs_rounding_of_irrational_factors() -> None:
    """π/2 rad rounded up in the 20th digit is 90°, not above it; 1e-15 K above an
    exact maximum is above it."""
    right_angle = accreditation(entry("angle", r"\degree", "0", "90", "0.001"))
    assert verdicts(check_scope([result("1.5707963267948966193", r"\radian", "0.0001")],
                                right_angle, CALIBRATED)) == [WITHIN]
    assert verdicts(check_scope([result("1.5707963268", r"\radian", "0.0001")],
                                right_angle, CALIBRATED)) == [OUTSIDE]
    exact = accreditation(entry("t", r"\kelvin", "0", "300", "0.001"))
    assert verdicts(check_scope([result("300.000000000000001", r"\kelvin", "0.01")],
                                exact, CALIBRATED)) == [OUTSIDE]


def test_scope_hybrid_alternative_in_unrelatable_unit_does_not_block(
        example: Callable[[str], Results]) -> None:
    kelvin = result("300", r"\kelvin", "0.1", hybrid="/h", index=0)
    fahrenheit = result("80.33", "|degF", "0.18", hybrid="/h", index=0)
    checked = check_scope([kelvin, fahrenheit], accreditation(TEMPERATURE_RANGE), CALIBRATED)
    assert checked.verdict is WITHIN
    assert [(a.verdict, a.covered_by_hybrid) for a in checked.results] == [
        (WITHIN, False), (UNCHECKED, True)]
    # Alone, the unrelatable member leaves the certificate unchecked.
    alone = check_scope([fahrenheit], accreditation(TEMPERATURE_RANGE), CALIBRATED)
    assert alone.verdict is UNCHECKED


def test_scope_overall_precedence_outside_over_unchecked_over_within() -> None:
    scope = accreditation(entry("t", r"\kelvin", "0", "100", "0.01"))
    within = result("50", r"\kelvin", "0.1")
    outside = result("150", r"\kelvin", "0.1")
    unchecked = result("50", "/kelvin", "0.1")
    assert check_scope([within, unchecked, outside], scope, CALIBRATED).verdict is OUTSIDE
    assert check_scope([within, unchecked], scope, CALIBRATED).verdict is UNCHECKED
    assert check_scope([within], scope, CALIBRATED).verdict is WITHIN
    empty = check_scope([], scope, CALIBRATED)
    assert (empty.verdict, empty.counts) == (UNCHECKED, {"within-scope": 0,
                                                         "outside-scope": 0, "unchecked": 0})


def test_scope_relative_capability_and_several_entries() -> None:
    """CMCs that grow with the value as sub-range entries; a result is within if one
    entry holds it, and outside names the entry whose range contains the value."""
    scope = accreditation(entry("p", r"\pascal", "1", "100", "0.1"),
                          entry("p", r"\kilo\pascal", "0.1", "10", "0.1", r"\percent"))
    assert verdicts(check_scope([result("100", r"\pascal", "0.1")], scope, CALIBRATED)) == [
        WITHIN]  # on both ranges' bound; the first entry's 0.1 Pa holds
    assert verdicts(check_scope([result("5000", r"\pascal", "5")], scope, CALIBRATED)) == [
        WITHIN]  # 0.1 % of 5 kPa is 5 Pa
    checked = check_scope([result("5000", r"\pascal", "4.99")], scope, CALIBRATED)
    assert (checked.results[0].verdict, checked.results[0].entry,
            checked.results[0].bound) == (OUTSIDE, 1, "best_capability")
    checked = check_scope([result("20000", r"\pascal", "50")], scope, CALIBRATED)
    assert (checked.results[0].entry, checked.results[0].bound) == (1, "maximum")
    checked = check_scope([result("0.5", r"\pascal", "1")], scope, CALIBRATED)
    assert (checked.results[0].entry, checked.results[0].bound) == (0, "minimum")


# --- validity --------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "valid"), [
    (date(2020, 12, 31), False), (date(2021, 1, 1), True), (date(2025, 12, 31), True),
    (date(2026, 1, 1), False), (datetime(2026, 1, 1, 0, 0, 1), False),
])
def test_accreditation_validity_at_calibration_date(example: Callable[[str], Results],
                                                    day: date, valid: bool) -> None:
    checked = check_scope(example("ptb_siliziumkugel_v3.0.0.xml"),
                          accreditation(MASS_RANGE, VOLUME_RANGE), day)
    if valid:
        assert checked.verdict is WITHIN and len(checked.results) == 2
    else:
        assert checked.verdict is OUTSIDE and checked.results == ()
        shown = day.date() if isinstance(day, datetime) else day
        assert checked.reason.startswith(f"accreditation not valid at {shown.isoformat()}")
    assert checked.to_dict()["calibration_date"] == (
        day.date() if isinstance(day, datetime) else day).isoformat()


# --- the document ----------------------------------------------------------------------

EXAMPLE_DOCUMENT = (
    '{"body":"DAkkS","format":"certreg.accreditation/1","issuer":"LAB",'
    '"number":"D-K-15070-01-00","scope":[{"best_capability":"30",'
    '"capability_unit":"\\\\milli\\\\kelvin","description":"Pt100, liquid baths",'
    '"maximum":"350","minimum":"-40","quantity":"temperature","ref_types":[],'
    '"unit":"\\\\degreecelsius"},{"best_capability":"0.015","capability_unit":"\\\\percent",'
    '"description":"","maximum":"30","minimum":"0.01","quantity":"pressure",'
    '"ref_types":["basic_measuredValue"],"unit":"\\\\kilo\\\\pascal"}],'
    '"valid_from":"2021-01-01","valid_until":"2025-12-31"}')


def test_accreditation_json_round_trip() -> None:
    document = AccreditationDocument.from_json(EXAMPLE_DOCUMENT)
    assert document.scope[0] == ScopeEntry(
        quantity="temperature", unit=r"\degreecelsius", minimum=Decimal(-40),
        maximum=Decimal(350), best_capability=Decimal(30), capability_unit=r"\milli\kelvin",
        description="Pt100, liquid baths")
    assert document.scope[1].ref_types == ("basic_measuredValue",)
    assert document.scope[1].capability_is_relative
    assert not document.scope[0].capability_is_relative
    assert document.to_json() == EXAMPLE_DOCUMENT
    assert AccreditationDocument.from_json(document.to_bytes()) == document
    assert AccreditationDocument.from_json_value(json.loads(EXAMPLE_DOCUMENT)) == document
    assert document.to_json_value() == json.loads(EXAMPLE_DOCUMENT)
    value = json.loads(EXAMPLE_DOCUMENT)
    assert json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False) == EXAMPLE_DOCUMENT
    assert value["format"] == ACCREDITATION_FORMAT
    built = accreditation(TEMPERATURE_RANGE, PRESSURE_RANGE, MASS_RANGE)
    assert AccreditationDocument.from_json(built.to_json()) == built


def test_accreditation_optional_fields_default_and_canonicalise() -> None:
    value = json.loads(EXAMPLE_DOCUMENT)
    for name in ("capability_unit", "ref_types", "description"):
        del value["scope"][0][name]
    document = AccreditationDocument.from_json(json.dumps(value, indent=2))
    assert document.scope[0].capability_unit == r"\degreecelsius"
    assert document.scope[0].ref_types == () and document.scope[0].description == ""
    canonical = json.loads(document.to_json())["scope"][0]
    assert canonical["capability_unit"] == r"\degreecelsius"
    assert canonical["ref_types"] == [] and canonical["description"] == ""
    assert " " not in document.to_json().replace("Pt100, liquid", "")


def _mutated(change: Callable[[dict[str, Any]], object]) -> str:
    value = json.loads(EXAMPLE_DOCUMENT)
    change(value)
    return json.dumps(value)


def _set(path: tuple[str | int, ...], new: object) -> Callable[[dict[str, Any]], None]:
    def change(value: dict[str, Any]) -> None:
        target: Any = value
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = new
    return change


def _delete(path: tuple[str | int, ...]) -> Callable[[dict[str, Any]], None]:
    def change(value: dict[str, Any]) -> None:
        target: Any = value
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return change


@pytest.mark.parametrize(("text", "code", "field"), [
    (_mutated(_set(("format",), "certreg.accreditation/2")),
     "accreditation-format-unsupported", "format"),
    (_mutated(_delete(("format",))), "accreditation-format-unsupported", "format"),
    (_mutated(_delete(("number",))), "accreditation-invalid", "number"),
    (_mutated(_delete(("scope", 0, "best_capability"))), "accreditation-invalid",
     "scope[0].best_capability"),
    (_mutated(_set(("expires",), "2030-01-01")), "accreditation-invalid", "expires"),
    (_mutated(_set(("scope", 1, "cmc"), "1")), "accreditation-invalid", "scope[1].cmc"),
    (_mutated(_set(("scope", 0, "minimum"), "351")), "accreditation-range-invalid",
     "scope[0].minimum"),
    (_mutated(_set(("scope", 0, "best_capability"), "0")), "accreditation-range-invalid",
     "scope[0].best_capability"),
    (_mutated(_set(("scope", 0, "best_capability"), "-0.1")), "accreditation-range-invalid",
     "scope[0].best_capability"),
    (_mutated(_set(("scope", 0, "unit"), r"\degreeCelsius")), "accreditation-unit-invalid",
     "scope[0].unit"),
    (_mutated(_set(("scope", 0, "unit"), "|degF")), "accreditation-unit-invalid",
     "scope[0].unit"),
    (_mutated(_set(("scope", 0, "unit"), r"\decibel")), "accreditation-unit-invalid",
     "scope[0].unit"),
    (_mutated(_set(("scope", 0, "capability_unit"), r"\pascal")),
     "accreditation-unit-invalid", "scope[0].capability_unit"),
    (_mutated(_set(("scope", 0, "capability_unit"), r"\percent")),
     "accreditation-unit-invalid", "scope[0].capability_unit"),  # relative to °C
    (_mutated(_set(("scope", 0, "minimum"), -40)), "accreditation-invalid",
     "scope[0].minimum"),  # a JSON number, not a decimal string
    (_mutated(_set(("scope", 0, "maximum"), "3.5e")), "accreditation-invalid",
     "scope[0].maximum"),
    (_mutated(_set(("scope", 0, "maximum"), " 350")), "accreditation-invalid",
     "scope[0].maximum"),
    (_mutated(_set(("scope", 0, "maximum"), "Infinity")), "accreditation-invalid",
     "scope[0].maximum"),
    (_mutated(_set(("scope", 0, "ref_types"), "basic_measuredValue")),
     "accreditation-invalid", "scope[0].ref_types"),
    (_mutated(_set(("scope", 0, "ref_types"), ["two words"])), "accreditation-invalid",
     "scope[0].ref_types"),
    (_mutated(_set(("scope", 0, "quantity"), "")), "accreditation-invalid",
     "scope[0].quantity"),
    (_mutated(_set(("scope",), [])), "accreditation-invalid", "scope"),
    (_mutated(_set(("scope",), {"0": {}})), "accreditation-invalid", "scope"),
    (_mutated(_set(("scope", 0), "temperature")), "accreditation-invalid", "scope[0]"),
    (_mutated(_set(("issuer",), "")), "accreditation-invalid", "issuer"),
    (_mutated(_set(("body",), None)), "accreditation-invalid", "body"),
    (_mutated(_set(("valid_from",), "2021-13-01")), "accreditation-invalid", "valid_from"),
    (_mutated(_set(("valid_until",), "20251231")), "accreditation-invalid", "valid_until"),
    (_mutated(_set(("valid_from",), "2026-01-01")), "accreditation-validity-invalid",
     "valid_from"),
    (EXAMPLE_DOCUMENT.replace('"issuer":"LAB"', '"issuer":"LAB","issuer":"EVIL"'),
     "accreditation-invalid", ""),
    ("[]", "accreditation-invalid", ""),
    ("not json", "accreditation-invalid", ""),
    (b"\xff\xfe", "accreditation-invalid", ""),
    (EXAMPLE_DOCUMENT.replace('"LAB"', "NaN"), "accreditation-invalid", ""),
])
def test_accreditation_rejects_malformed_documents(text: str | bytes, code: str,
                                                   field: str) -> None:
    with pytest.raises(AccreditationDocumentError) as rejected:
        AccreditationDocument.from_json(text)
    assert rejected.value.code == code
    assert rejected.value.details["field"] == field


def test_accreditation_constructors_validate_like_the_json() -> None:
    with pytest.raises(AccreditationDocumentError) as rejected:
        entry("t", r"\kelvin", "10", "1", "0.1")
    assert rejected.value.code == "accreditation-range-invalid"
    with pytest.raises(AccreditationDocumentError) as rejected:
        entry("t", r"\degreeCelsius", "1", "10", "0.1")
    assert rejected.value.code == "accreditation-unit-invalid"
    with pytest.raises(AccreditationDocumentError) as rejected:
        ScopeEntry("t", r"\kelvin", 1.5, 10, 1)  # type: ignore[arg-type]  # a float
    assert rejected.value.code == "accreditation-invalid"
    with pytest.raises(AccreditationDocumentError) as rejected:
        accreditation(TEMPERATURE_RANGE, valid_from=date(2026, 1, 1))
    assert rejected.value.code == "accreditation-validity-invalid"
    assert ScopeEntry("t", r"\kelvin", "1", 10, Decimal("0.1")).minimum == Decimal(1)  # type: ignore[arg-type]


def test_scope_assessment_to_dict_is_json(example: Callable[[str], Results]) -> None:
    narrow = entry("temperature", r"\degreecelsius", "-40", "320", "30", r"\milli\kelvin")
    checked = check_scope(example(TEMPERATURE_EXAMPLES[0]),
                          accreditation(narrow, TEMPERATURE_ERROR), CALIBRATED)
    value = json.loads(json.dumps(checked.to_dict()))
    assert value["verdict"] == "outside-scope"
    assert value["counts"] == {"within-scope": 23, "outside-scope": 2, "unchecked": 0}
    assert (value["issuer"], value["body"], value["accreditation_number"]) == (
        "LAB", "DAkkS", "D-K-15070-01-00")
    fifth = value["results"][4]
    assert fifth["verdict"] == "outside-scope" and fifth["bound"] == "maximum"
    assert fifth["result"]["value"] == "593.154" and fifth["result"]["index"] == 4
    assert fifth["result"]["unit"] == "\\kelvin"


# --- unit relations --------------------------------------------------------------------

_DECIMAL_PREFIXES = sorted(prefix for prefix in PREFIXES
                           if not prefix.endswith("bi") and prefix != "deka")
_PREFIXABLE = ["metre", "gram", "second", "ampere", "kelvin", "mole", "pascal", "litre",
               "volt", "ohm", "hertz", "bar", "electronvolt"]
_EXPONENT_OF = {"quecto": -30, "ronto": -27, "yocto": -24, "zepto": -21, "atto": -18,
                "femto": -15, "pico": -12, "nano": -9, "micro": -6, "milli": -3,
                "centi": -2, "deci": -1, "deca": 1, "hecto": 2, "kilo": 3, "mega": 6,
                "giga": 9, "tera": 12, "peta": 15, "exa": 18, "zetta": 21, "yotta": 24,
                "ronna": 27, "quetta": 30}
_values = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"),
                      allow_nan=False, allow_infinity=False, places=6)


@settings(max_examples=300, deadline=None)
@given(value=_values, first=st.sampled_from(_DECIMAL_PREFIXES),
       second=st.sampled_from(_DECIMAL_PREFIXES), name=st.sampled_from(_PREFIXABLE),
       power=st.sampled_from([1, 2, 3, -1, -2]))
def test_scope_unit_prefix_conversion_round_trips(value: Decimal, first: str, second: str,
                                                  name: str, power: int) -> None:
    source = f"\\{first}\\{name}" + (f"\\tothe{{{power}}}" if power != 1 else "")
    target = f"\\{second}\\{name}" + (f"\\tothe{{{power}}}" if power != 1 else "")
    converted = convert(value, source, target)
    shift = (_EXPONENT_OF[first] - _EXPONENT_OF[second]) * power
    assert converted == Fraction(value) * Fraction(10) ** shift  # exact, not approximate
    assert convert(converted, target, source) == Fraction(value)
    assert si_conversion(source).dimension == si_conversion(target).dimension


@settings(max_examples=200, deadline=None)
@given(value=_values)
def test_scope_celsius_kelvin_conversion_properties(value: Decimal) -> None:
    kelvin = convert(value, r"\degreecelsius", r"\kelvin")
    assert kelvin == Fraction(value) + Fraction("273.15")
    assert convert(kelvin, r"\kelvin", r"\degreecelsius") == Fraction(value)
    # Differences (uncertainties, widths) carry no offset, also in prefixed kelvin.
    assert convert(value, r"\degreecelsius", r"\kelvin", absolute=False) == Fraction(value)
    assert convert(value, r"\degreecelsius", r"\milli\kelvin", absolute=False) == \
        Fraction(value) * 1000
    # A compound unit with °C is a difference: no offset even for absolute values.
    assert convert(value, r"\degreecelsius\per\second", r"\kelvin\per\second") == \
        Fraction(value)


@settings(max_examples=200, deadline=None)
@given(first=st.sampled_from(sorted(UNIT_NAMES - {"neper", "bel", "decibel"})),
       second=st.sampled_from(sorted(UNIT_NAMES - {"neper", "bel", "decibel"})),
       value=_values)
def test_scope_units_of_different_dimensions_never_convert(first: str, second: str,
                                                           value: Decimal) -> None:
    source, target = si_conversion(f"\\{first}"), si_conversion(f"\\{second}")
    if source.dimension == target.dimension:
        back = convert(convert(value, f"\\{first}", f"\\{second}"), f"\\{second}",
                       f"\\{first}")
        assert back == Fraction(value)  # even via π-based factors: the same π both ways
    else:
        with pytest.raises(UnitDimensionMismatchError) as refused:
            convert(value, f"\\{first}", f"\\{second}")
        assert refused.value.code == "unit-dimension-mismatch"


@settings(max_examples=200, deadline=None)
@given(low=_values, width=st.decimals(min_value=0, max_value=Decimal("1e6"), places=3),
       value=_values, scale=st.sampled_from([("milli", 1000), ("micro", 10**6),
                                             ("kilo", Fraction(1, 1000))]))
def test_scope_range_verdict_matches_the_interval(low: Decimal, width: Decimal,
                                                  value: Decimal,
                                                  scale: tuple[str, Fraction | int]) -> None:
    """Scope in kelvin, result in a prefixed kelvin: within iff low <= value <= high."""
    prefix, per_kelvin = scale
    high = low + width
    scope = accreditation(entry("t", r"\kelvin", str(low), str(high), "1e-30"))
    stated = Fraction(value) * per_kelvin
    as_text = format(Decimal(stated.numerator) / Decimal(stated.denominator), "f") \
        if stated.denominator != 1 else str(stated.numerator)
    assert Fraction(Decimal(as_text)) == stated
    checked = check_scope([result(as_text, f"\\{prefix}\\kelvin", "1")], scope, CALIBRATED)
    expected = WITHIN if low <= value <= high else OUTSIDE
    assert checked.results[0].verdict is expected


@pytest.mark.parametrize(("unit", "factor", "dimension"), [
    (r"\kilogram\metre\tothe{-1}\second\tothe{-2}", 1, Dimension.of(kg=1, m=-1, s=-2)),
    (r"\hecto\pascal", 100, Dimension.of(kg=1, m=-1, s=-2)),
    (r"\bar", 100_000, Dimension.of(kg=1, m=-1, s=-2)),
    (r"\milli\bar", 100, Dimension.of(kg=1, m=-1, s=-2)),
    (r"\centi\metre\tothe{3}", Fraction(1, 10**6), Dimension.of(m=3)),
    (r"\milli\litre", Fraction(1, 10**6), Dimension.of(m=3)),
    (r"\micro\gram\per\litre", Fraction(1, 10**6), Dimension.of(kg=1, m=-3)),
    (r"\kilo\metre\per\hour", Fraction(1000, 3600), Dimension.of(m=1, s=-1)),
    (r"\kilo\watt\hour", 3_600_000, Dimension.of(kg=1, m=2, s=-2)),
    (r"\percent", Fraction(1, 100), DIMENSIONLESS),
    (r"\ppm", Fraction(1, 10**6), DIMENSIONLESS),
    (r"\one", 1, DIMENSIONLESS),
    (r"\mebi\byte", 8 * 2**20, Dimension.of(bit=1)),
    (r"\micro\metre\tothe{0.5}", Fraction(1, 1000), Dimension.of(m=Fraction(1, 2))),
    (r"\kilogram\tothe{1}\metre\tothe{-3}\kilogram\tothe{-1}\metre\tothe{3}", 1,
     DIMENSIONLESS),
    (r"\volt\per\hertz\tothe{0.5}", 1, Dimension.of(kg=1, m=2, s=Fraction(-5, 2), A=-1)),
    (r"\lumen", 1, Dimension.of(cd=1, rad=2)),
    (r"\ohm", 1, Dimension.of(kg=1, m=2, s=-3, A=-2)),
])
def test_scope_unit_factors_and_dimensions(unit: str, factor: Fraction | int,
                                          dimension: Dimension) -> None:
    conversion = si_conversion(unit)
    assert (conversion.factor, conversion.dimension) == (Fraction(factor), dimension)
    assert conversion.offset == 0 and conversion.exact


@pytest.mark.timeout(20)
@pytest.mark.parametrize("unit", [
    r"\kilo\metre\tothe{99999999}",     # a 300-million-digit factor if computed
    r"\kilo\metre\tothe{-13}",
    r"\kilo\metre\tothe{0.123456789}",  # a billionth root
    r"\kilo\metre" * 17,
    r"\metre\per" * 600 + r"\second",
])
def test_scope_units_beyond_the_limits_are_unrelatable(unit: str) -> None:
    """Units come from uploaded certificates; absurd ones are refused, not computed."""
    with pytest.raises(UnitNotRelatableError):
        si_conversion(unit)
    checked = check_scope([result("1", unit, "0.1")],
                          accreditation(entry("l", r"\metre", "0", "10", "0.01")), CALIBRATED)
    assert checked.verdict is UNCHECKED
    # Within the limits the same constructs are related.
    assert si_conversion(r"\kilo\metre\tothe{12}").factor == Fraction(10) ** 36
    assert si_conversion(r"\metre\tothe{0.25}").dimension == Dimension.of(m=Fraction(1, 4))


def test_scope_every_dsi_unit_name_is_related_or_refused() -> None:
    logarithmic = {"neper", "bel", "decibel"}
    for name in UNIT_NAMES:
        if name in logarithmic:
            with pytest.raises(UnitNotRelatableError):
                si_conversion(f"\\{name}")
        else:
            conversion = si_conversion(f"\\{name}")
            assert conversion.factor > 0, name
    degree = si_conversion(r"\degree")
    assert not degree.exact and degree.dimension == Dimension.of(rad=1)
    assert abs(convert(180, r"\degree", r"\radian") - Fraction("3.14159265358979")) < \
        Fraction(1, 10**14)
    assert convert(1, r"\degree", r"\arcsecond") == 3600  # same π on both sides: exact
    assert si_conversion(r"\degreecelsius").offset == Fraction("273.15")
