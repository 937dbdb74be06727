"""UCUM beside D-SI: conversion both ways, UCUM validation, and the scope check in UCUM."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from registry.documents.accreditation import (
    AccreditationDocument,
    AccreditationUnitError,
    ScopeVerdict,
    check_scope,
)
from registry.documents.metadata import SI_NS
from registry.documents.parse import parse_xml
from registry.documents.quantities import UnitNotRelatableError, si_conversion
from registry.documents.results import extract_results
from registry.documents.ucum import (
    dsi_to_ucum,
    ucum_to_dsi,
    unit_notations_problem,
    unit_search_key,
    unit_si_conversion,
    validate_ucum,
)
from registry.errors import UcumNoDsiEquivalentError, UcumUnitError

# Every distinct D-SI unit of the shared corpus (examples/ and signed/), with its UCUM
# code, or None where the corpus unit is not valid D-SI (PTB's own \degreeCelsius).
CORPUS_UNITS = {
    "\\kelvin": "K",
    "\\one": "1",
    "\\kilogram\\metre\\tothe{-1}\\second\\tothe{-2}": "kg/(m.s2)",
    "\\degreeCelsius": None,
    "\\hecto\\pascal": "hPa",
    "\\degreecelsius": "Cel",
    "\\kilogram\\tothe{1}\\metre\\tothe{-3}\\kilogram\\tothe{-1}\\metre\\tothe{3}":
        "kg.m3/(m3.kg)",
    "\\kilogram": "kg",
    "\\centi\\metre\\tothe{3}": "cm3",
    "\\metre": "m",
    "/kilogram": None,
    "\\kilogram\\tothe{-1}\\metre\\second\\tothe{2}": "m.s2/kg",
    "\\kilogram\\metre\\tothe{-3}": "kg/m3",
    "\\metre\\tothe{3}": "m3",
}

MORE_UNITS = {
    "\\metre\\per\\second": "m/s",
    "\\per": None,
    "\\micro\\metre": "um",
    "\\milli\\litre": "mL",
    "\\percent": "%",
    "\\ppm": "[ppm]",
    "\\mega\\hertz": "MHz",
    "\\newton\\metre": "N.m",
    "\\kilo\\watt\\hour": "kW.h",
    "\\volt\\per\\metre\\tothe{2}": "V/m2",
    "\\ohm": "Ohm",
    "\\deca\\gram": "dag",
    "\\hectare": "har",
    "\\decibel": "dB",
    "\\mmhg": "mm[Hg]",
    "\\degree": "deg",
    "\\arcsecond": "''",
    "\\kibi\\byte": "KiBy",
    "\\tonne": "t",
    "\\electronvolt": "eV",
    "\\nauticalmile\\per\\hour": "[nmi_i]/h",
    "\\kilogram\\tothe{2}": "kg2",
}


def corpus_units(shared_dcc: Path) -> set[str]:
    found = set()
    for path in [*shared_dcc.glob("examples/*.xml"), *shared_dcc.glob("signed/*.xml")]:
        for element in etree.parse(str(path)).iter(f"{{{SI_NS}}}unit",
                                                   f"{{{SI_NS}}}unitXMLList"):
            found.update((element.text or "").split())
    return found


def test_the_table_covers_every_unit_of_the_corpus(shared_dcc: Path) -> None:
    assert corpus_units(shared_dcc) == set(CORPUS_UNITS)


@pytest.mark.parametrize(("dsi", "ucum"), [*CORPUS_UNITS.items(), *MORE_UNITS.items()])
def test_dsi_to_ucum(dsi: str, ucum: str | None) -> None:
    equivalent = dsi_to_ucum(dsi)
    assert equivalent.ucum == ucum
    if ucum is None:
        assert equivalent.reason and "not a valid D-SI unit" in equivalent.reason
    else:
        assert equivalent.reason is None
        validate_ucum(ucum)  # what we emit is valid UCUM


@pytest.mark.parametrize("dsi", [u for u, c in {**CORPUS_UNITS, **MORE_UNITS}.items() if c])
def test_round_trip_keeps_the_unit(dsi: str) -> None:
    back = ucum_to_dsi(dsi_to_ucum(dsi).ucum)
    assert dsi_to_ucum(back).ucum == dsi_to_ucum(dsi).ucum
    # The same unit, not just the same text: factor, dimension and offset agree exactly.
    if dsi != "\\decibel":  # logarithmic: no factor relates it to the SI
        there, again = si_conversion(dsi), si_conversion(back)
        assert (there.factor, there.dimension, there.offset) == (
            again.factor, again.dimension, again.offset)
    assert unit_search_key(back) == unit_search_key(dsi)


@pytest.mark.parametrize(("dsi", "why"), [
    ("\\planckbar", "not h/2"),
    ("\\atomicunittime", "no atomic unit of time"),
    ("\\metre\\tothe{0.5}", "integer powers only"),
    ("\\ronna\\gram", "no prefix ronna"),
    ("\\quecto\\metre", "no prefix quecto"),
    ("\\pebi\\byte", "no prefix pebi"),
    ("\\kilo\\day", "takes no prefix"),
    ("\\milli\\mmhg", "already carries a prefix"),
    ("|inch", "not a D-SI unit"),
    ("\\degreecelsius\\per\\second", "non-ratio"),
    ("\\decibel\\per\\metre", "non-ratio or logarithmic"),
    ("\\degreecelsius\\tothe{2}", "raise"),
])
def test_units_without_ucum_equivalent_say_so(dsi: str, why: str) -> None:
    equivalent = dsi_to_ucum(dsi)
    assert equivalent.ucum is None and why in equivalent.reason
    assert equivalent.to_dict() == {"dsi": dsi, "ucum": None,
                                    "no_ucum_reason": equivalent.reason}


@pytest.mark.parametrize(("ucum", "dsi"), [
    ("m/s", "\\metre\\second\\tothe{-1}"),
    ("/s", "\\second\\tothe{-1}"),
    ("kg.m-1.s-2", "\\kilogram\\metre\\tothe{-1}\\second\\tothe{-2}"),
    ("kg/(m.s2)", "\\kilogram\\metre\\tothe{-1}\\second\\tothe{-2}"),
    ("m/s.K", "\\metre\\second\\tothe{-1}\\kelvin"),  # "/" binds left to right
    ("mg", "\\milli\\gram"),
    ("l", "\\litre"),
    ("Cel", "\\degreecelsius"),
    ("1", "\\one"),
    ("%", "\\percent"),
    ("mol", "\\mole"),
    ("cd", "\\candela"),
    ("ph", None),  # UCUM's phot: a unit D-SI does not name (not pico-hour)
])
def test_ucum_to_dsi(ucum: str, dsi: str | None) -> None:
    if dsi is None:
        with pytest.raises(UcumNoDsiEquivalentError):
            ucum_to_dsi(ucum)
    else:
        assert ucum_to_dsi(ucum) == dsi


@pytest.mark.parametrize(("ucum", "why"), [
    ("10*3", "numeric factor"),
    ("2.m", "numeric factor"),
    ("{count}", "annotation"),
    ("mg{total}", "annotation"),
    ("[in_i]", "names no unit"),
    ("kar", "names no unit kar"),
])
def test_ucum_without_dsi_equivalent_is_refused_not_guessed(ucum: str, why: str) -> None:
    validate_ucum(ucum)
    with pytest.raises(UcumNoDsiEquivalentError) as refused:
        ucum_to_dsi(ucum)
    assert refused.value.code == "ucum-no-dsi-equivalent" and why in refused.value.message


@pytest.mark.parametrize("ucum", ["m", "kg", "mm[Hg]", "[in_i]", "B[10.nV]", "10*-3", "10^3",
                                  "%[slope]", "[m/s2/Hz^(1/2)]", "kcal/(kg.K)", "KiBy",
                                  "dB", "ug/m3{dust}", "{rbc}", "m+2", "''"])
def test_valid_ucum(ucum: str) -> None:
    assert validate_ucum(ucum).text == ucum


@pytest.mark.parametrize(("ucum", "why"), [
    ("", "empty"),
    ("m s", "without spaces"),
    ("°C", "ASCII"),
    ("CEL", "case-sensitive: Cel"),
    ("kmin", "min takes no prefix"),
    ("kilogram", "is not a UCUM unit"),
    ("m(", "unexpected '('"),
    ("(m", "missing ')'"),
    ("m/", "the end"),
    ("m..s", "position 2"),
    ("Cel/s", "special unit"),
    ("Cel2", "special unit"),
    ("-2", "not a factor"),
    ("m{x", "unexpected '{'"),
    ("\\metre", "is not a UCUM unit"),
])
def test_invalid_ucum_is_refused_with_a_stable_code(ucum: str, why: str) -> None:
    with pytest.raises(UcumUnitError) as refused:
        validate_ucum(ucum)
    assert refused.value.code == "ucum-unit-invalid"
    assert why in refused.value.message


def test_search_keys_match_across_notations() -> None:
    assert unit_search_key("\\metre\\per\\second") == unit_search_key("m/s") \
        == unit_search_key("s-1.m") == unit_search_key("\\second\\tothe{-1}\\metre")
    assert unit_search_key("hPa") != unit_search_key("Pa")
    assert unit_search_key("\\planckbar") == "dsi:\\planckbar"  # no UCUM: its D-SI text
    assert unit_search_key("HPA") is None and unit_search_key("\\foo") is None


def test_unit_si_conversion_relates_ucum_like_dsi() -> None:
    assert unit_si_conversion("kPa").factor == si_conversion("\\kilo\\pascal").factor
    assert unit_si_conversion("Cel").offset == si_conversion("\\degreecelsius").offset
    with pytest.raises(UnitNotRelatableError):
        unit_si_conversion("[in_i]")
    with pytest.raises(UnitNotRelatableError):
        unit_si_conversion("CEL")


def _accreditation(unit: str, capability_unit: str | None) -> AccreditationDocument:
    entry = {"quantity": "temperature", "unit": unit, "minimum": "-40", "maximum": "320",
             "best_capability": "0.03"}
    if capability_unit is not None:
        entry["capability_unit"] = capability_unit
    return AccreditationDocument.from_json_value({
        "format": "certreg.accreditation/1", "issuer": "LAB", "body": "DAkkS",
        "number": "D-K-1", "valid_from": "2021-01-01", "valid_until": "2030-12-31",
        "scope": [entry]})


def test_scope_entries_in_ucum_check_like_dsi(shared_dcc: Path) -> None:
    data = (shared_dcc / "examples" / "dcc_gp_temperature_typical_v12.xml").read_bytes()
    results = extract_results(parse_xml(data))
    calibrated = date(2023, 1, 1)
    in_dsi = check_scope(results, _accreditation("\\degreecelsius", "\\kelvin"), calibrated)
    in_ucum = check_scope(results, _accreditation("Cel", "K"), calibrated)
    assert in_ucum.verdict == in_dsi.verdict
    assert [r.verdict for r in in_ucum.results] == [r.verdict for r in in_dsi.results]
    assert any(r.verdict is not ScopeVerdict.UNCHECKED for r in in_ucum.results)
    with pytest.raises(AccreditationUnitError):
        _accreditation("CEL", None)


def test_results_show_ucum_beside_dsi(shared_dcc: Path) -> None:
    typical = (shared_dcc / "examples" / "dcc_gp_temperature_typical_v12.xml").read_bytes()
    shown = {(r["unit"], r["unit_ucum"], r["unit_no_ucum_reason"])
             for r in (result.to_dict() for result in extract_results(parse_xml(typical)))}
    assert shown == {("\\kelvin", "K", None), ("\\degreecelsius", "Cel", None)}
    # PTB's single weight writes its mass as "/kilogram": reported, not guessed.
    weight = (shared_dcc / "examples" / "ptb_singleweight_v3.0.0.xml").read_bytes()
    (mass, *_) = [r.to_dict() for r in extract_results(parse_xml(weight))]
    assert mass["unit"] == "/kilogram" and mass["unit_ucum"] is None
    assert "not a valid D-SI unit" in mass["unit_no_ucum_reason"]


@pytest.mark.parametrize(("unit", "problem"), [
    ({"dsi": "\\metre\\tothe{3}\\hour\\tothe{-1}", "ucum": "m3/h"}, None),
    ({"dsi": "\\degreecelsius", "ucum": "Cel"}, None),
    ({"ucum": "kg"}, None),
    ({"dsi": "\\kilogram"}, None),
    ({"dsi": "\\kilogram", "ucum": "g"}, ("ucum", "is not the unit \\kilogram (that is kg)")),
    ({"dsi": "\\planckbar", "ucum": "[h]"}, ("ucum", "which has no UCUM equivalent")),
    ({"dsi": "\\kilo\\gramm", "ucum": "kg"}, ("dsi", "not a D-SI unit")),
    ({"dsi": "\\kilogram", "ucum": "KG"}, ("ucum", "is not a UCUM unit")),
])
def test_unit_notations_of_typed_documents(unit: dict[str, str],
                                           problem: tuple[str, str] | None) -> None:
    found = unit_notations_problem(unit)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found[0] == problem[0] and problem[1] in found[1]
