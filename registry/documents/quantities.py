"""D-SI units related to the SI: a factor, a dimension and, for °C, an offset.

`si_conversion(unit)` turns a D-SI unit string (parsed by `registry.documents.units`)
into the factor that takes a value to coherent SI units and the unit's dimension,
so that values in different units of the same kind can be compared:

    value_SI = value * factor (+ offset, for absolute temperatures in °C only)

Arithmetic is exact (`fractions.Fraction`): prefixes, \\tothe powers, \\per and
every defined conversion (°C, litre, bar, minute, ...) are rational, so 0 °C equals
273.15 K exactly, not within a float's error. Only irrational factors (degrees via
π, ħ = h/2π, fractional powers of non-square factors) are approximated, to
`_APPROXIMATION_DIGITS` significant digits; `SiConversion.exact` says which.

Dimensions have nine axes: the seven SI base quantities, plane angle and
information. Plane angle (\\radian, \\degree, \\steradian = rad²) is kept apart from
the pure numbers although the SI calls the radian "1": otherwise a correction
factor in \\one would compare with an angle in degrees. Hertz and becquerel (s⁻¹),
gray and sievert (J/kg) share their SI dimension and are related like the SI does.

Not relatable (`UnitNotRelatableError`, code `unit-not-relatable`):
- a string that breaks the D-SI grammar (e.g. PTB's own `\\degreeCelsius`,
  `/kilogram`) — the `DsiUnitError` is kept as the cause;
- non-D-SI units of `si:hybrid` (`|inch`): no definition to relate them by;
- the logarithmic units \\neper, \\bel, \\decibel: no linear factor exists;
- two units of different dimensions (`UnitDimensionMismatchError`,
  code `unit-dimension-mismatch`);
- units beyond limits no real unit reaches (more than 1000 characters or 16 factors,
  powers beyond ±12 or roots beyond the 12th): units come from uploaded certificates,
  and exact arithmetic on `\\kilo\\metre\\tothe{99999999}` would never finish.

Offsets: only a unit that is exactly `\\degreecelsius` (one factor, power 1) has an
offset, and only absolute values use it (`absolute=True`). Uncertainties, range
widths and compound units such as `\\degreecelsius\\per\\second` or
`\\percent\\per\\degreecelsius` are temperature *differences*: 1 °C = 1 K, no offset.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Context, Decimal
from fractions import Fraction

from registry.documents.units import DsiUnit, DsiUnitError, parse_dsi_unit
from registry.errors import DocumentError

DIMENSION_AXES: tuple[str, ...] = ("m", "kg", "s", "A", "K", "mol", "cd", "rad", "bit")

_APPROXIMATION_DIGITS = 40
_CONTEXT = Context(prec=_APPROXIMATION_DIGITS)
# π to 40 significant digits; used for \degree, \arcminute, \arcsecond and \planckbar.
_PI = Fraction("3.141592653589793238462643383279502884197")


class UnitNotRelatableError(DocumentError):
    """A unit string the checker cannot relate to SI units (or to another unit)."""

    code = "unit-not-relatable"


class UnitDimensionMismatchError(UnitNotRelatableError):
    """Two units of different dimensions: no conversion between them exists."""

    code = "unit-dimension-mismatch"


@dataclass(frozen=True)
class Dimension:
    """Exponents of the nine axes in `DIMENSION_AXES` (m, kg, s, A, K, mol, cd, rad, bit)."""

    exponents: tuple[Fraction, ...]

    def __post_init__(self) -> None:
        if len(self.exponents) != len(DIMENSION_AXES):
            raise ValueError(f"a dimension has {len(DIMENSION_AXES)} exponents")

    @classmethod
    def of(cls, **axes: int | Fraction) -> Dimension:
        unknown = set(axes) - set(DIMENSION_AXES)
        if unknown:
            raise ValueError(f"unknown dimension axes {sorted(unknown)}")
        return cls(tuple(Fraction(axes.get(axis, 0)) for axis in DIMENSION_AXES))

    @property
    def is_dimensionless(self) -> bool:
        return not any(self.exponents)

    def __mul__(self, other: Dimension) -> Dimension:
        return Dimension(tuple(a + b for a, b in zip(self.exponents, other.exponents,
                                                     strict=True)))

    def __pow__(self, power: Fraction | int) -> Dimension:
        return Dimension(tuple(exponent * power for exponent in self.exponents))

    def __str__(self) -> str:
        """`kg m^-1 s^-2`; `1` for a pure number."""
        parts = []
        for axis, exponent in zip(DIMENSION_AXES, self.exponents, strict=True):
            if exponent == 1:
                parts.append(axis)
            elif exponent:
                parts.append(f"{axis}^{exponent}")
        return " ".join(parts) or "1"


DIMENSIONLESS = Dimension.of()


@dataclass(frozen=True)
class _UnitDefinition:
    factor: Fraction
    dimension: Dimension
    symbol: str
    exact: bool = True


def _define(factor: Fraction | int | str, symbol: str, exact: bool = True,
            **axes: int) -> _UnitDefinition:
    return _UnitDefinition(Fraction(factor), Dimension.of(**axes), symbol, exact)


# Every name of `units.UNIT_NAMES` except the logarithmic ones (neper, bel, decibel).
# Exact where the SI or the unit's definition makes it exact; CODATA 2018 otherwise.
_UNITS: dict[str, _UnitDefinition] = {
    # SI base units, and the gram so that prefixes apply
    "metre": _define(1, "m", m=1),
    "kilogram": _define(1, "kg", kg=1),
    "gram": _define(Fraction(1, 1000), "g", kg=1),
    "second": _define(1, "s", s=1),
    "ampere": _define(1, "A", A=1),
    "kelvin": _define(1, "K", K=1),
    "mole": _define(1, "mol", mol=1),
    "candela": _define(1, "cd", cd=1),
    # SI derived units with special names
    "radian": _define(1, "rad", rad=1),
    "steradian": _define(1, "sr", rad=2),
    "hertz": _define(1, "Hz", s=-1),
    "newton": _define(1, "N", kg=1, m=1, s=-2),
    "pascal": _define(1, "Pa", kg=1, m=-1, s=-2),
    "joule": _define(1, "J", kg=1, m=2, s=-2),
    "watt": _define(1, "W", kg=1, m=2, s=-3),
    "coulomb": _define(1, "C", A=1, s=1),
    "volt": _define(1, "V", kg=1, m=2, s=-3, A=-1),
    "farad": _define(1, "F", kg=-1, m=-2, s=4, A=2),
    "ohm": _define(1, "Ω", kg=1, m=2, s=-3, A=-2),
    "siemens": _define(1, "S", kg=-1, m=-2, s=3, A=2),
    "weber": _define(1, "Wb", kg=1, m=2, s=-2, A=-1),
    "tesla": _define(1, "T", kg=1, s=-2, A=-1),
    "henry": _define(1, "H", kg=1, m=2, s=-2, A=-2),
    "degreecelsius": _define(1, "°C", K=1),
    "lumen": _define(1, "lm", cd=1, rad=2),
    "lux": _define(1, "lx", cd=1, rad=2, m=-2),
    "becquerel": _define(1, "Bq", s=-1),
    "gray": _define(1, "Gy", m=2, s=-2),
    "sievert": _define(1, "Sv", m=2, s=-2),
    "katal": _define(1, "kat", mol=1, s=-1),
    # non-SI units accepted for use with the SI (SI brochure table 8)
    "minute": _define(60, "min", s=1),
    "hour": _define(3600, "h", s=1),
    "day": _define(86400, "d", s=1),
    "degree": _define(_PI / 180, "°", exact=False, rad=1),
    "arcminute": _define(_PI / 10800, "arcmin", exact=False, rad=1),
    "arcsecond": _define(_PI / 648000, "arcsec", exact=False, rad=1),
    "hectare": _define(10_000, "ha", m=2),
    "litre": _define(Fraction(1, 1000), "L", m=3),
    "tonne": _define(1000, "t", kg=1),
    "electronvolt": _define("1.602176634e-19", "eV", kg=1, m=2, s=-2),
    "dalton": _define("1.66053906660e-27", "Da", kg=1),
    "astronomicalunit": _define(149_597_870_700, "au", m=1),
    # D-SI additions: ratios, information, units of other systems it names
    "one": _define(1, "1"),
    "percent": _define(Fraction(1, 100), "%"),
    "ppm": _define(Fraction(1, 10**6), "ppm"),
    "bit": _define(1, "bit", bit=1),
    "byte": _define(8, "byte", bit=1),
    "angstrom": _define("1e-10", "Å", m=1),
    "bar": _define(100_000, "bar", kg=1, m=-1, s=-2),
    "barn": _define("1e-28", "b", m=2),
    "mmhg": _define("133.322387415", "mmHg", kg=1, m=-1, s=-2),
    "millimetremercury": _define("133.322387415", "mmHg", kg=1, m=-1, s=-2),
    "nauticalmile": _define(1852, "NM", m=1),
    "knot": _define(Fraction(1852, 3600), "kn", m=1, s=-1),
    "atomicunittime": _define("2.4188843265857e-17", "ħ/Eh", s=1),
    "atomicmassunit": _define("1.66053906660e-27", "u", kg=1),
    "clight": _define(299_792_458, "c", m=1, s=-1),
    "planckbar": _define(Fraction("6.62607015e-34") / (2 * _PI), "ħ", exact=False,
                         kg=1, m=2, s=-1),
    "electronmass": _define("9.1093837015e-31", "mₑ", kg=1),
    "elementarycharge": _define("1.602176634e-19", "e", A=1, s=1),
    "naturalunittime": _define("1.28808866819e-21", "ħ/(mₑc²)", s=1),
}

_LOGARITHMIC = frozenset({"neper", "bel", "decibel"})

_PREFIXES: dict[str, tuple[Fraction, str]] = {
    "quecto": (Fraction(10) ** -30, "q"), "ronto": (Fraction(10) ** -27, "r"),
    "yocto": (Fraction(10) ** -24, "y"), "zepto": (Fraction(10) ** -21, "z"),
    "atto": (Fraction(10) ** -18, "a"), "femto": (Fraction(10) ** -15, "f"),
    "pico": (Fraction(10) ** -12, "p"), "nano": (Fraction(10) ** -9, "n"),
    "micro": (Fraction(10) ** -6, "µ"), "milli": (Fraction(10) ** -3, "m"),
    "centi": (Fraction(10) ** -2, "c"), "deci": (Fraction(10) ** -1, "d"),
    "deca": (Fraction(10), "da"), "deka": (Fraction(10), "da"),
    "hecto": (Fraction(10) ** 2, "h"), "kilo": (Fraction(10) ** 3, "k"),
    "mega": (Fraction(10) ** 6, "M"), "giga": (Fraction(10) ** 9, "G"),
    "tera": (Fraction(10) ** 12, "T"), "peta": (Fraction(10) ** 15, "P"),
    "exa": (Fraction(10) ** 18, "E"), "zetta": (Fraction(10) ** 21, "Z"),
    "yotta": (Fraction(10) ** 24, "Y"), "ronna": (Fraction(10) ** 27, "R"),
    "quetta": (Fraction(10) ** 30, "Q"),
    "kibi": (Fraction(2) ** 10, "Ki"), "mebi": (Fraction(2) ** 20, "Mi"),
    "gibi": (Fraction(2) ** 30, "Gi"), "tebi": (Fraction(2) ** 40, "Ti"),
    "pebi": (Fraction(2) ** 50, "Pi"), "exbi": (Fraction(2) ** 60, "Ei"),
    "zebi": (Fraction(2) ** 70, "Zi"), "yobi": (Fraction(2) ** 80, "Yi"),
}

CELSIUS_OFFSET = Fraction("273.15")

# Units come from uploaded certificates: bounds that real units never reach keep exact
# arithmetic cheap (\\kilo\\metre\\tothe{99999999} would be a 300-million-digit factor).
MAX_UNIT_LENGTH = 1000
MAX_UNIT_FACTORS = 16
MAX_EXPONENT = 12
MAX_EXPONENT_DENOMINATOR = 12


@dataclass(frozen=True)
class SiConversion:
    """How a D-SI unit relates to coherent SI units.

    `to_si(x)` = x * factor (+ offset if `absolute`); `offset` is non-zero only for a
    unit that is exactly `\\degreecelsius`.
    """

    unit: str
    factor: Fraction
    dimension: Dimension
    offset: Fraction
    exact: bool
    symbol: str

    def to_si(self, value: Fraction | Decimal | int, *, absolute: bool = True) -> Fraction:
        """The value in coherent SI units. `absolute=False` for uncertainties and widths."""
        converted = Fraction(value) * self.factor
        return converted + self.offset if absolute else converted

    def from_si(self, value: Fraction | Decimal | int, *, absolute: bool = True) -> Fraction:
        """Inverse of `to_si`."""
        value = Fraction(value)
        if absolute:
            value -= self.offset
        return value / self.factor


def _power(factor: Fraction, exponent: Fraction) -> tuple[Fraction, bool]:
    """factor ** exponent, exact when it can be (integer powers, perfect roots)."""
    if exponent.denominator == 1:
        return factor ** int(exponent), True
    root = exponent.denominator
    numerator, denominator = (_integer_root(part, root)
                              for part in (factor.numerator, factor.denominator))
    if numerator is not None and denominator is not None:
        return Fraction(numerator, denominator) ** exponent.numerator, True
    base = _CONTEXT.divide(Decimal(factor.numerator), Decimal(factor.denominator))
    approximate = _CONTEXT.power(base, _CONTEXT.divide(Decimal(exponent.numerator),
                                                      Decimal(exponent.denominator)))
    return Fraction(approximate), False


def _integer_root(value: int, root: int) -> int | None:
    """The exact integer `root`-th root of `value`, or None (Newton's method on integers)."""
    if value < 2:
        return value if value >= 0 else None
    guess = 1 << -(-value.bit_length() // root)  # at least the root
    while True:
        better = ((root - 1) * guess + value // guess ** (root - 1)) // root
        if better >= guess:
            break
        guess = better
    return guess if guess ** root == value else None


def _exponent_text(exponent: Fraction) -> str:
    return "" if exponent == 1 else f"^{exponent}"


def si_conversion(unit: str | DsiUnit) -> SiConversion:
    """Factor, dimension and offset of a D-SI unit, or raise UnitNotRelatableError.

    Conversions of unit strings are cached (they repeat throughout a certificate).
    """
    if isinstance(unit, str):
        return _conversion_of_text(unit)
    return _conversion_of(unit)


@functools.lru_cache(maxsize=1024)
def _conversion_of_text(unit: str) -> SiConversion:
    if len(unit) > MAX_UNIT_LENGTH:
        raise UnitNotRelatableError(
            f"unit of {len(unit)} characters is not related (limit {MAX_UNIT_LENGTH})",
            unit=unit[:MAX_UNIT_LENGTH])
    try:
        parsed = parse_dsi_unit(unit)
    except DsiUnitError as exc:
        raise UnitNotRelatableError(
            f"unit {unit!r} is not a valid D-SI unit: {exc.message}", unit=unit) from exc
    return _conversion_of(parsed)


def _conversion_of(parsed: DsiUnit) -> SiConversion:
    if len(parsed.factors) > MAX_UNIT_FACTORS:
        raise UnitNotRelatableError(
            f"unit {parsed.text!r} has {len(parsed.factors)} factors; more than "
            f"{MAX_UNIT_FACTORS} are not related", unit=parsed.text)
    factor = Fraction(1)
    dimension = DIMENSIONLESS
    exact = True
    symbols = []
    for term in parsed.factors:
        if not term.is_d_si:
            raise UnitNotRelatableError(
                f"unit {parsed.text!r}: |{term.name} is not a D-SI unit; it has no defined "
                "relation to the SI", unit=parsed.text)
        if term.name in _LOGARITHMIC:
            raise UnitNotRelatableError(
                f"unit {parsed.text!r}: \\{term.name} is logarithmic; no factor relates it "
                "to the SI", unit=parsed.text)
        if (abs(term.exponent) > MAX_EXPONENT
                or term.exponent.denominator > MAX_EXPONENT_DENOMINATOR):
            raise UnitNotRelatableError(
                f"unit {parsed.text!r}: the power {term.exponent} of \\{term.name} is not "
                f"related (at most ±{MAX_EXPONENT}, roots up to the "
                f"{MAX_EXPONENT_DENOMINATOR}th)", unit=parsed.text)
        definition = _UNITS.get(term.name)
        if definition is None:  # a name units.py accepts but this table lacks
            raise UnitNotRelatableError(
                f"unit {parsed.text!r}: no SI relation is known for \\{term.name}",
                unit=parsed.text)
        term_factor = definition.factor
        symbol = definition.symbol
        if term.prefix is not None:
            prefix_factor, prefix_symbol = _PREFIXES[term.prefix]
            term_factor *= prefix_factor
            symbol = prefix_symbol + symbol
        powered, power_exact = _power(term_factor, term.exponent)
        factor *= powered
        dimension *= definition.dimension ** term.exponent
        exact = exact and definition.exact and power_exact
        if definition.symbol != "1":
            symbols.append(symbol + _exponent_text(term.exponent))
    is_celsius = (len(parsed.factors) == 1 and parsed.factors[0].name == "degreecelsius"
                  and parsed.factors[0].exponent == 1)
    return SiConversion(unit=parsed.text, factor=factor, dimension=dimension,
                        offset=CELSIUS_OFFSET if is_celsius else Fraction(0), exact=exact,
                        symbol=" ".join(symbols))


def convert(value: Fraction | Decimal | int, from_unit: str, to_unit: str, *,
            absolute: bool = True) -> Fraction:
    """`value` in `from_unit` expressed in `to_unit`.

    `absolute=False` converts a difference (uncertainty, width): °C offsets do not apply.
    Raises UnitNotRelatableError, or UnitDimensionMismatchError for different dimensions.
    """
    source, target = si_conversion(from_unit), si_conversion(to_unit)
    if source.dimension != target.dimension:
        raise UnitDimensionMismatchError(
            f"{from_unit} ({source.dimension}) and {to_unit} ({target.dimension}) have "
            "different dimensions", from_unit=from_unit, to_unit=to_unit)
    return target.from_si(source.to_si(value, absolute=absolute), absolute=absolute)


def unit_symbol(unit: str) -> str:
    """A short human symbol for messages (`\\kilo\\pascal` -> `kPa`); the text if unrelatable."""
    try:
        return si_conversion(unit).symbol
    except UnitNotRelatableError:
        return unit


def format_number(value: Fraction | Decimal, significant: int = 12) -> str:
    """A plain decimal string for messages: at most `significant` digits, no exponent."""
    if isinstance(value, Fraction):
        value = Context(prec=significant).divide(Decimal(value.numerator),
                                                 Decimal(value.denominator))
    else:
        value = Context(prec=significant).plus(value)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def approximately_equal(a: Fraction, b: Fraction, relative: Fraction) -> bool:
    """|a - b| ≤ relative * max(|a|, |b|)."""
    return abs(a - b) <= relative * max(abs(a), abs(b))


__all__ = [
    "CELSIUS_OFFSET", "DIMENSIONLESS", "DIMENSION_AXES", "Dimension", "SiConversion",
    "UnitDimensionMismatchError", "UnitNotRelatableError", "approximately_equal", "convert",
    "format_number", "si_conversion", "unit_symbol",
]

