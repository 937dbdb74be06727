"""D-SI unit grammar: what PTB's D-SI guide allows, and the mistakes real DCCs make."""

from __future__ import annotations

from fractions import Fraction

import pytest

from registry.documents.units import DsiUnitError, dsi_unit_problem, parse_dsi_unit


@pytest.mark.parametrize("unit", [
    r"\kilo\metre\tothe{2}",
    r"\degreecelsius",
    r"\one",
    r"\percent",
    r"\metre\per\second",
    r"\micro\gram\per\litre",
    r"\kilogram\metre\tothe{-1}\second\tothe{-2}",
    r"\kilogram\tothe{1}\metre\tothe{-3}\kilogram\tothe{-1}\metre\tothe{3}",
    r"\hecto\pascal",
    r"\metre\tothe{0.5}",
    r"\mebi\byte",
])
def test_dcc_valid_dsi_units_parse(unit: str) -> None:
    assert dsi_unit_problem(unit) is None


@pytest.mark.parametrize(("unit", "reason"), [
    ("", "empty"),
    (r"\degreeCelsius", r"did you mean \degreecelsius"),
    ("/kilogram", "unexpected '/'"),
    (r"\kilo", "not followed by a unit"),
    (r"\milli\kilogram", "takes no prefix"),
    (r"\milli\kilo\gram", "two prefixes"),
    (r"\metre\tothe{x}", "not a number"),
    (r"\metre\tothe{2}\tothe{2}", r"two \tothe"),
    (r"\tothe{2}", "must follow a unit"),
    (r"\per\metre", r"\per must stand between"),
    (r"\metre\per", r"\per is not followed"),
    (r"\metre \second", "unexpected ' '"),
    (r"\furlong", "not a D-SI unit"),
    (r"\one\metre", r"\one stands alone"),
    ("m/s", "unexpected 'm'"),
])
def test_dcc_invalid_dsi_units_say_why(unit: str, reason: str) -> None:
    problem = dsi_unit_problem(unit)
    assert problem is not None and reason in problem
    with pytest.raises(DsiUnitError) as rejected:
        parse_dsi_unit(unit)
    assert rejected.value.code == "dsi-unit-invalid"


def test_dcc_dsi_unit_factors_carry_prefix_and_signed_exponent() -> None:
    unit = parse_dsi_unit(r"\kilo\metre\per\second\tothe{2}")
    assert [(f.prefix, f.name, f.exponent) for f in unit.factors] == [
        ("kilo", "metre", Fraction(1)), (None, "second", Fraction(-2))]
    assert not unit.uses_non_dsi_units


def test_dcc_non_dsi_unit_is_marked() -> None:
    unit = parse_dsi_unit(r"|inch")
    assert unit.uses_non_dsi_units


def test_judged_units_are_remembered_only_when_short() -> None:
    # A cache keyed by unit text must not grow with hostile input: a long "unit" is
    # judged as always, and not kept.
    from registry.documents import units

    units._cached_unit_problem.cache_clear()
    assert units.dsi_unit_problem("\\kilo\\kilo\\gram") == units._unit_problem(
        "\\kilo\\kilo\\gram") is not None
    assert units.dsi_unit_problem("\\kilogram") is None
    assert units._cached_unit_problem.cache_info().currsize == 2
    long_unit = "\\metre" * 100
    assert units.dsi_unit_problem(long_unit) is None
    assert units.dsi_unit_problem(long_unit + "\\bogus") == units._unit_problem(
        long_unit + "\\bogus") is not None
    assert units._cached_unit_problem.cache_info().currsize == 2
