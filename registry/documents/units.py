"""D-SI unit strings: a tokenizer and grammar check.

The D-SI schema types `si:unit` as a plain `xs:string`, so XSD validation says
nothing about units. This module checks the D-SI syntax (PTB's "D-SI" guide,
SI brochure 9th edition):

    unit      := "\\one" | term (term | "\\per" term)*
    term      := [prefix] unit-name [power]
    power     := "\\tothe{" number "}"      number: -?digits(.digits)?
    non-D-SI  := "|" name                   (allowed in si:hybrid for non-SI units)

Names and prefixes are case-sensitive (`\\degreecelsius`, not `\\degreeCelsius`).

Policy: a malformed unit is a *warning* on the validated document, not a
rejection. The schema accepts any string, PTB's own published examples contain
`\\degreeCelsius` and `/kilogram`, and the registry's job is to anchor what the
issuer signed, not to rewrite it; the warnings tell the issuer and any verifier
that machine interpretation of those values will fail.

UCUM: neither the DCC schemas (2.2.0 to 3.3.0) nor D-SI (1.3.0 to 2.2.0) define an
element for UCUM codes (only `dcc:nonSIUnit`, a free-text string in 3.3.0), so
`dcc:nonSIUnit` values are kept as given; `registry.documents.ucum` converts D-SI units
to UCUM and back, and validates UCUM where other document kinds use it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from fractions import Fraction

from registry.errors import DocumentError

PREFIXES: frozenset[str] = frozenset({
    "quecto", "ronto", "yocto", "zepto", "atto", "femto", "pico", "nano", "micro", "milli",
    "centi", "deci", "deca", "deka", "hecto", "kilo", "mega", "giga", "tera", "peta", "exa",
    "zetta", "yotta", "ronna", "quetta",
    # binary prefixes, used with \bit and \byte
    "kibi", "mebi", "gibi", "tebi", "pebi", "exbi", "zebi", "yobi",
})

UNIT_NAMES: frozenset[str] = frozenset({
    # SI base units (and \gram, so that prefixes apply: \milli\gram)
    "metre", "kilogram", "gram", "second", "ampere", "kelvin", "mole", "candela",
    # SI derived units with special names
    "radian", "steradian", "hertz", "newton", "pascal", "joule", "watt", "coulomb", "volt",
    "farad", "ohm", "siemens", "weber", "tesla", "henry", "degreecelsius", "lumen", "lux",
    "becquerel", "sievert", "gray", "katal",
    # non-SI units accepted for use with the SI (SI brochure table 8)
    "day", "hour", "minute", "degree", "arcminute", "arcsecond", "hectare", "litre", "tonne",
    "electronvolt", "dalton", "astronomicalunit", "neper", "bel", "decibel",
    # D-SI additions: ratios, information, and units of other systems it names
    "one", "percent", "ppm", "bit", "byte", "angstrom", "bar", "barn", "mmhg",
    "millimetremercury", "nauticalmile", "knot", "atomicunittime", "atomicmassunit",
    "clight", "planckbar", "electronmass", "elementarycharge", "naturalunittime",
})

# \kilogram already carries a prefix; D-SI spells the others as \milli\gram etc.
_UNITS_REFUSING_PREFIX = frozenset({"kilogram", "one", "percent", "ppm", "degreecelsius"})

_TOKEN = re.compile(
    r"\\tothe\{(?P<exponent>[^}]*)\}"   # \tothe{...}
    r"|\\(?P<word>[A-Za-z]+)"           # \metre, \kilo, \per
    r"|\|(?P<foreign>[^\\|\s]+)"        # |inch  (non-D-SI unit)
    r"|(?P<junk>.)",
    re.DOTALL,
)
_EXPONENT = re.compile(r"-?\d+(\.\d+)?")


class DsiUnitError(DocumentError):
    """A D-SI unit string that breaks the D-SI grammar."""

    code = "dsi-unit-invalid"


@dataclass(frozen=True)
class UnitFactor:
    """One factor of a unit: optional prefix, unit name, exponent (negative after \\per)."""

    prefix: str | None
    name: str
    exponent: Fraction
    is_d_si: bool = True


@dataclass(frozen=True)
class DsiUnit:
    text: str
    factors: tuple[UnitFactor, ...]

    @property
    def uses_non_dsi_units(self) -> bool:
        return any(not factor.is_d_si for factor in self.factors)


def _close_match(name: str) -> str | None:
    lowered = name.lower()
    for known in (*UNIT_NAMES, *PREFIXES):
        if known == lowered:
            return known
    return None


def parse_dsi_unit(text: str) -> DsiUnit:
    """Parse a D-SI unit string, or raise DsiUnitError saying what is wrong and where."""
    if not text:
        raise DsiUnitError("unit is empty", unit=text)
    factors: list[UnitFactor] = []
    pending_prefix: str | None = None
    after_per = False
    last_factor_has_power = False

    def fail(reason: str) -> DsiUnitError:
        return DsiUnitError(f"unit {text!r}: {reason}", unit=text)

    for match in _TOKEN.finditer(text):
        if match["junk"] is not None:
            raise fail(f"unexpected {match['junk']!r} at position {match.start()} "
                       "(every D-SI token starts with a backslash)")
        if match["exponent"] is not None:
            if pending_prefix is not None or not factors or after_per:
                raise fail("\\tothe{} must follow a unit")
            if not _EXPONENT.fullmatch(match["exponent"]):
                raise fail(f"exponent {match['exponent']!r} is not a number")
            if last_factor_has_power:
                raise fail("two \\tothe{} on one unit")
            last = factors[-1]
            last_factor_has_power = True
            exponent = Fraction(match["exponent"]) * last.exponent
            factors[-1] = UnitFactor(last.prefix, last.name, exponent, last.is_d_si)
            continue
        if match["foreign"] is not None:
            if pending_prefix is not None:
                raise fail("a prefix cannot apply to a non-D-SI unit")
            factors.append(UnitFactor(None, match["foreign"], Fraction(-1 if after_per else 1),
                                      is_d_si=False))
            after_per = last_factor_has_power = False
            continue
        word = match["word"]
        if word == "per":
            if pending_prefix is not None or not factors or after_per:
                raise fail("\\per must stand between two units")
            after_per = True
        elif word in PREFIXES and pending_prefix is None:
            pending_prefix = word
        elif word in UNIT_NAMES:
            if pending_prefix is not None and word in _UNITS_REFUSING_PREFIX:
                raise fail(f"\\{word} takes no prefix")
            factors.append(UnitFactor(pending_prefix, word,
                                      Fraction(-1 if after_per else 1)))
            pending_prefix, after_per, last_factor_has_power = None, False, False
        elif word in PREFIXES:
            raise fail(f"two prefixes in a row (\\{pending_prefix}\\{word})")
        else:
            suggestion = _close_match(word)
            hint = f" (did you mean \\{suggestion}?)" if suggestion else ""
            raise fail(f"\\{word} is not a D-SI unit or prefix{hint}")
    if pending_prefix is not None:
        raise fail(f"prefix \\{pending_prefix} is not followed by a unit")
    if after_per:
        raise fail("\\per is not followed by a unit")
    if len(factors) > 1 and any(factor.name == "one" for factor in factors):
        raise fail("\\one stands alone")
    return DsiUnit(text=text, factors=tuple(factors))


def dsi_unit_problem(text: str) -> str | None:
    """Why `text` is not a valid D-SI unit, or None if it is."""
    if len(text) > _LONGEST_CACHED_UNIT:
        return _unit_problem(text)
    return _cached_unit_problem(text)


# A pure function of the string, and DCCs repeat a few dozen unit strings between them:
# parsing each afresh was a sixth of validating a DCC. Real units are short; a longer
# string (hostile, or not a unit) is judged without being kept.
_LONGEST_CACHED_UNIT = 200


def _unit_problem(text: str) -> str | None:
    try:
        parse_dsi_unit(text)
    except DsiUnitError as exc:
        return exc.message
    return None


_cached_unit_problem = functools.lru_cache(maxsize=4096)(_unit_problem)
