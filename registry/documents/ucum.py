"""UCUM beside D-SI: conversion both ways, and UCUM syntax validation.

Neither package on PyPI does the D-SI -> UCUM conversion: `dsiunits` 3.1.3 (LGPL-3.0)
parses D-SI and renders LaTeX/UTF-8 but knows nothing of UCUM; `ucumvert` 0.3.2 (MIT,
needs lark and pint) parses UCUM into pint units but knows nothing of D-SI. So this
module converts on top of our own D-SI parser (`registry.documents.units`), with the
prefix and unit tables of UCUM 2.2 (ucum-essence.xml, 2024-06-17).

- `dsi_to_ucum(unit)` never guesses: a D-SI unit with no UCUM equivalent (ħ, the
  atomic/natural time units, quecto/ronto/ronna/quetta and pebi.. prefixes, which
  UCUM 2.2 lacks, fractional powers, a prefix on a UCUM unit that takes none, a
  non-D-SI `|unit`, °C or a logarithmic unit inside a compound) is a result with
  `ucum=None` and the reason.
- `validate_ucum(text)` checks the UCUM grammar (case-sensitive codes), each atom and
  prefix against the tables, and UCUM's rule that special units (Cel, B, Np, ...) stand
  alone; it raises `UcumUnitError` (`ucum-unit-invalid`).
- `ucum_to_dsi(text)` is the inverse where it is unambiguous; annotations, numeric
  factors and UCUM units D-SI does not name raise `UcumNoDsiEquivalentError`.
- `unit_si_conversion(text)` relates either notation to the SI (for the scope check).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from registry.documents.quantities import SiConversion, UnitNotRelatableError, si_conversion
from registry.documents.units import DsiUnit, DsiUnitError, parse_dsi_unit
from registry.errors import UcumNoDsiEquivalentError, UcumUnitError

# UCUM 2.2 prefixes (the binary ones apply to bit and By only by convention, not rule).
UCUM_PREFIXES: dict[str, Fraction] = {
    "Y": Fraction(10) ** 24, "Z": Fraction(10) ** 21, "E": Fraction(10) ** 18,
    "P": Fraction(10) ** 15, "T": Fraction(10) ** 12, "G": Fraction(10) ** 9,
    "M": Fraction(10) ** 6, "k": Fraction(10) ** 3, "h": Fraction(10) ** 2, "da": Fraction(10),
    "d": Fraction(10) ** -1, "c": Fraction(10) ** -2, "m": Fraction(10) ** -3,
    "u": Fraction(10) ** -6, "n": Fraction(10) ** -9, "p": Fraction(10) ** -12,
    "f": Fraction(10) ** -15, "a": Fraction(10) ** -18, "z": Fraction(10) ** -21,
    "y": Fraction(10) ** -24,
    "Ki": Fraction(2) ** 10, "Mi": Fraction(2) ** 20, "Gi": Fraction(2) ** 30,
    "Ti": Fraction(2) ** 40,
}

def _table(codes: str) -> frozenset[str]:
    return frozenset(codes.split())


# UCUM 2.2 units that take prefixes ("metric"), base units included.
UCUM_METRIC_ATOMS: frozenset[str] = _table("""
m s g rad K C cd mol sr Hz N Pa J W A V F Ohm S Wb Cel T H lm lx Bq Gy Sv l L ar t bar u
eV pc [c] [h] [k] [eps_0] [mu_0] [e] [m_e] [m_p] [G] [g] [ly] gf Ky Gal dyn erg P Bi St
Mx G Oe Gb sb Lmb ph Ci R RAD REM cal_[15] cal_[20] cal_m cal_IT cal_th cal tex m[H2O]
m[Hg] eq osm g% kat U [iU] [IU] Np B B[SPL] B[V] B[mV] B[uV] B[10.nV] B[W] B[kW] st mho
bit By Bd
""")

# UCUM 2.2 units that take no prefix.
UCUM_NON_METRIC_ATOMS: frozenset[str] = _table("""
10* 10^ [pi] % [ppth] [ppm] [ppb] [pptr] gon deg ' '' min h d a_t a_j a_g a wk mo_s mo_j
mo_g mo AU atm [lbf_av] [in_i] [ft_i] [yd_i] [mi_i] [fth_i] [nmi_i] [kn_i] [sin_i]
[sft_i] [syd_i] [cin_i] [cft_i] [cyd_i] [bf_i] [cr_i] [mil_i] [cml_i] [hd_i] [ft_us]
[yd_us] [in_us] [rd_us] [ch_us] [lk_us] [rch_us] [rlk_us] [fth_us] [fur_us] [mi_us]
[acr_us] [srd_us] [smi_us] [sct] [twp] [mil_us] [in_br] [ft_br] [rd_br] [ch_br] [lk_br]
[fth_br] [pc_br] [yd_br] [mi_br] [nmi_br] [kn_br] [acr_br] [gal_us] [bbl_us] [qt_us]
[pt_us] [gil_us] [foz_us] [fdr_us] [min_us] [crd_us] [bu_us] [gal_wi] [pk_us] [dqt_us]
[dpt_us] [tbs_us] [tsp_us] [cup_us] [foz_m] [cup_m] [tsp_m] [tbs_m] [gal_br] [pk_br]
[bu_br] [qt_br] [pt_br] [gil_br] [foz_br] [fdr_br] [min_br] [gr] [lb_av] [oz_av]
[dr_av] [scwt_av] [lcwt_av] [ston_av] [lton_av] [stone_av] [pwt_tr] [oz_tr] [lb_tr]
[sc_ap] [dr_ap] [oz_ap] [lb_ap] [oz_m] [lne] [pnt] [pca] [pnt_pr] [pca_pr] [pied]
[pouce] [ligne] [didot] [cicero] [degF] [degR] [degRe] [Cal] [Btu_39] [Btu_59] [Btu_60]
[Btu_m] [Btu_IT] [Btu_th] [Btu] [HP] [den] [in_i'H2O] [in_i'Hg] [PRU] [wood'U] [diop]
[p'diop] %[slope] [mesh_i] [Ch] [drp] [hnsf'U] [MET] [hp'_X] [hp'_C] [hp'_M] [hp'_Q]
[hp_X] [hp_C] [hp_M] [hp_Q] [kp_X] [kp_C] [kp_M] [kp_Q] [pH] [S] [HPF] [LPF] [arb'U]
[USP'U] [GPL'U] [MPL'U] [APL'U] [beth'U] [anti'Xa'U] [todd'U] [dye'U] [smgy'U]
[bdsk'U] [ka'U] [knk'U] [mclg'U] [tb'U] [CCID_50] [TCID_50] [EID_50] [PFU] [FFU] [CFU]
[IR] [BAU] [AU] [Amb'a'1'U] [PNU] [Lf] [D'ag'U] [FEU] [ELU] [EU] Ao b att [psi] circ
sph [car_m] [car_Au] [smoot] [m/s2/Hz^(1/2)] [NTU] [FNU] bit_s
""")

# Units on a non-ratio scale or logarithmic: UCUM forbids combining or raising them.
_UCUM_SPECIAL_ATOMS = frozenset({
    "Cel", "[degF]", "[degRe]", "[pH]", "Np", "B", "B[SPL]", "B[V]", "B[mV]", "B[uV]",
    "B[10.nV]", "B[W]", "B[kW]", "bit_s", "[p'diop]", "%[slope]", "[hp'_X]", "[hp'_C]",
    "[hp'_M]", "[hp'_Q]"})

_DSI_PREFIX_TO_UCUM: dict[str, str] = {
    "yocto": "y", "zepto": "z", "atto": "a", "femto": "f", "pico": "p", "nano": "n",
    "micro": "u", "milli": "m", "centi": "c", "deci": "d", "deca": "da", "deka": "da",
    "hecto": "h", "kilo": "k", "mega": "M", "giga": "G", "tera": "T", "peta": "P",
    "exa": "E", "zetta": "Z", "yotta": "Y", "kibi": "Ki", "mebi": "Mi", "gibi": "Gi",
    "tebi": "Ti",
}
_UCUM_PREFIX_TO_DSI = {ucum: dsi for dsi, ucum in _DSI_PREFIX_TO_UCUM.items() if dsi != "deka"}

# D-SI unit name -> (UCUM prefix, UCUM atom). \kilogram is UCUM's k + g.
_DSI_UNIT_TO_UCUM: dict[str, tuple[str, str]] = {
    "metre": ("", "m"), "kilogram": ("k", "g"), "gram": ("", "g"), "second": ("", "s"),
    "ampere": ("", "A"), "kelvin": ("", "K"), "mole": ("", "mol"), "candela": ("", "cd"),
    "radian": ("", "rad"), "steradian": ("", "sr"), "hertz": ("", "Hz"),
    "newton": ("", "N"), "pascal": ("", "Pa"), "joule": ("", "J"), "watt": ("", "W"),
    "coulomb": ("", "C"), "volt": ("", "V"), "farad": ("", "F"), "ohm": ("", "Ohm"),
    "siemens": ("", "S"), "weber": ("", "Wb"), "tesla": ("", "T"), "henry": ("", "H"),
    "degreecelsius": ("", "Cel"), "lumen": ("", "lm"), "lux": ("", "lx"),
    "becquerel": ("", "Bq"), "sievert": ("", "Sv"), "gray": ("", "Gy"),
    "katal": ("", "kat"), "day": ("", "d"), "hour": ("", "h"), "minute": ("", "min"),
    "degree": ("", "deg"), "arcminute": ("", "'"), "arcsecond": ("", "''"),
    "hectare": ("h", "ar"), "litre": ("", "L"), "tonne": ("", "t"),
    "electronvolt": ("", "eV"), "dalton": ("", "u"), "atomicmassunit": ("", "u"),
    "astronomicalunit": ("", "AU"), "neper": ("", "Np"), "bel": ("", "B"),
    "decibel": ("d", "B"), "one": ("", "1"), "percent": ("", "%"), "ppm": ("", "[ppm]"),
    "bit": ("", "bit"), "byte": ("", "By"), "angstrom": ("", "Ao"), "bar": ("", "bar"),
    "barn": ("", "b"), "mmhg": ("m", "m[Hg]"), "millimetremercury": ("m", "m[Hg]"),
    "nauticalmile": ("", "[nmi_i]"), "knot": ("", "[kn_i]"), "clight": ("", "[c]"),
    "electronmass": ("", "[m_e]"), "elementarycharge": ("", "[e]"),
}
_DSI_UNITS_WITHOUT_UCUM = {
    "planckbar": "UCUM has the Planck constant [h] but not h/2\N{GREEK SMALL LETTER PI}",
    "atomicunittime": "UCUM has no atomic unit of time",
    "naturalunittime": "UCUM has no natural unit of time",
}

# UCUM (prefix, atom) -> D-SI, where one D-SI spelling is the natural one.
_UCUM_TO_DSI_UNIT: dict[tuple[str, str], str] = {
    ("k", "g"): "kilogram", ("h", "ar"): "hectare", ("d", "B"): "decibel",
    ("m", "m[Hg]"): "millimetremercury", ("", "u"): "dalton", ("", "l"): "litre",
    **{("", atom): name for name, (prefix, atom) in _DSI_UNIT_TO_UCUM.items()
       if prefix == "" and name not in ("atomicmassunit",)},
}


@dataclass(frozen=True)
class UcumFactor:
    """One component of a UCUM unit: prefix + atom to an integer power, or an integer
    factor (`atom` "", `factor` set), optionally annotated (`{...}`)."""

    prefix: str
    atom: str
    exponent: int
    factor: int | None = None
    annotation: str | None = None


@dataclass(frozen=True)
class UcumUnit:
    text: str
    factors: tuple[UcumFactor, ...]


@dataclass(frozen=True)
class UcumEquivalent:
    """A D-SI unit's UCUM code, or why it has none (`ucum` None, `reason` set)."""

    dsi: str
    ucum: str | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"dsi": self.dsi, "ucum": self.ucum, "no_ucum_reason": self.reason}


# ------------------------------------------------------------------ D-SI -> UCUM


def dsi_to_ucum(unit: str | DsiUnit) -> UcumEquivalent:
    """The UCUM code of a D-SI unit, or an explicit "no UCUM equivalent" with the reason."""
    if isinstance(unit, str):
        return _dsi_text_to_ucum(unit[:MAX_UCUM_LENGTH + 1])
    return _dsi_to_ucum(unit)


@functools.lru_cache(maxsize=4096)  # units repeat throughout a certificate and a corpus
def _dsi_text_to_ucum(unit: str) -> UcumEquivalent:
    return _dsi_to_ucum(unit)


def _dsi_to_ucum(unit: str | DsiUnit) -> UcumEquivalent:
    try:
        parsed = parse_dsi_unit(unit) if isinstance(unit, str) else unit
    except DsiUnitError as exc:
        return UcumEquivalent(unit if isinstance(unit, str) else unit.text, None,
                              f"not a valid D-SI unit: {exc.message}")
    try:
        return UcumEquivalent(parsed.text, _ucum_text(parsed))
    except _NoUcum as missing:
        return UcumEquivalent(parsed.text, None, str(missing))


class _NoUcum(Exception):
    pass


def _ucum_text(parsed: DsiUnit) -> str:
    components: list[tuple[str, int]] = []
    for factor in parsed.factors:
        if not factor.is_d_si:
            raise _NoUcum(f"|{factor.name} is not a D-SI unit; its meaning is not defined")
        if factor.name in _DSI_UNITS_WITHOUT_UCUM:
            raise _NoUcum(f"\\{factor.name}: {_DSI_UNITS_WITHOUT_UCUM[factor.name]}")
        if factor.exponent.denominator != 1:
            raise _NoUcum(f"\\{factor.name} to the power {factor.exponent}: UCUM has integer "
                          "powers only")
        unit_prefix, atom = _DSI_UNIT_TO_UCUM[factor.name]
        if factor.prefix is not None:
            if factor.prefix not in _DSI_PREFIX_TO_UCUM:
                raise _NoUcum(f"UCUM has no prefix {factor.prefix}")
            if unit_prefix:
                raise _NoUcum(f"\\{factor.prefix}\\{factor.name}: the UCUM code {unit_prefix}"
                              f"{atom} already carries a prefix")
            if atom not in UCUM_METRIC_ATOMS:
                raise _NoUcum(f"\\{factor.prefix}\\{factor.name}: UCUM's {atom} takes no prefix")
            unit_prefix = _DSI_PREFIX_TO_UCUM[factor.prefix]
        if atom in _UCUM_SPECIAL_ATOMS and (len(parsed.factors) > 1 or factor.exponent != 1):
            raise _NoUcum(f"\\{factor.name} is UCUM's {atom}, a unit on a non-ratio or "
                          "logarithmic scale that UCUM does not combine with others or raise "
                          "to a power")
        components.append((unit_prefix + atom, int(factor.exponent)))
    return _join(components)


def _join(components: list[tuple[str, int]]) -> str:
    """`kg/(m.s2)`: positive powers first, the others after one `/` (UCUM's `/` binds
    left to right, so a denominator of several units is parenthesised)."""
    def power(code: str, exponent: int) -> str:
        return code if exponent == 1 else f"{code}{exponent}"

    numerator = [power(code, e) for code, e in components if e > 0]
    denominator = [power(code, -e) for code, e in components if e < 0]
    zero = [power(code, 0) for code, e in components if e == 0]
    text = ".".join(numerator + zero)
    if denominator:
        below = ".".join(denominator)
        text += "/" + (f"({below})" if len(denominator) > 1 else below)
    return text


def metadata_units(metadata: Mapping[str, Any] | None) -> list[str]:
    """The distinct units of a stored DCC metadata document's quantities, in order
    (nothing for other metadata: it comes from manifests, so odd shapes are skipped)."""
    quantities = (metadata or {}).get("quantities")
    found = [unit for quantity in quantities if isinstance(quantity, Mapping)
             for unit in quantity.get("units") or () if isinstance(unit, str)
             ] if isinstance(quantities, list) else []
    return list(dict.fromkeys(found))


# ------------------------------------------------------------------ UCUM syntax

# A symbol run (brackets may hold any of ./()), then an optional annotation; the run's
# trailing signed digits are its exponent (no UCUM atom ends in a digit).
_COMPONENT = re.compile(
    r"(?P<symbol>(?:\[[^\[\]]*\]|[^.\/(){}\[\]])+)?(?P<annotation>\{[!-z|~]*\})?")
_SYMBOL_AND_EXPONENT = re.compile(r"(?P<symbol>.*?)(?P<exponent>[+-]?\d+)?")
MAX_UCUM_LENGTH = 1000


def validate_ucum(text: str) -> UcumUnit:
    """Parse a UCUM code (case-sensitive), or raise UcumUnitError saying what is wrong."""
    if not isinstance(text, str) or not text:
        raise UcumUnitError("UCUM unit is empty", unit=text)
    if len(text) > MAX_UCUM_LENGTH or not text.isascii() or any(c.isspace() for c in text):
        raise UcumUnitError(f"UCUM unit {text[:80]!r}: UCUM codes are printable ASCII "
                            "without spaces", unit=text[:80])
    parser = _UcumParser(text)
    factors = parser.main_term()
    specials = [f for f in factors if f.atom in _UCUM_SPECIAL_ATOMS]
    if specials and (len(factors) > 1 or specials[0].exponent != 1):
        raise parser.fail(f"{specials[0].prefix}{specials[0].atom} is a special unit (non-ratio "
                          "or logarithmic scale): UCUM does not combine it or raise it to a "
                          "power")
    return UcumUnit(text, tuple(factors))


class _UcumParser:
    """main-term := "/" term | term;  term := component (("." | "/") component)*;
    component := annotatable [annotation] | annotation | factor | "(" term ")"."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def fail(self, reason: str) -> UcumUnitError:
        return UcumUnitError(f"UCUM unit {self.text!r}: {reason}", unit=self.text)

    def main_term(self) -> list[UcumFactor]:
        invert = self._take("/")
        factors = self._term()
        if self.position != len(self.text):
            raise self.fail(f"unexpected {self.text[self.position]!r} at position "
                            f"{self.position}")
        return [_inverted(f) for f in factors] if invert else factors

    def _take(self, char: str) -> bool:
        if self.text.startswith(char, self.position):
            self.position += 1
            return True
        return False

    def _term(self) -> list[UcumFactor]:
        factors = self._component()
        while self.position < len(self.text) and self.text[self.position] in "./":
            divide = self.text[self.position] == "/"
            self.position += 1
            following = self._component()
            factors += [_inverted(f) for f in following] if divide else following
        return factors

    def _component(self) -> list[UcumFactor]:
        if self._take("("):
            inner = self._term()
            if not self._take(")"):
                raise self.fail(f"missing ')' at position {self.position}")
            if self.text[self.position:self.position + 1] in ("{",):
                raise self.fail("an annotation cannot follow a parenthesis")
            return inner
        match = _COMPONENT.match(self.text, self.position)
        if match is None or match.end() == self.position:
            where = (f"{self.text[self.position]!r}" if self.position < len(self.text)
                     else "the end")
            raise self.fail(f"a unit is expected at position {self.position}, not {where}")
        self.position = match.end()
        annotation = match["annotation"]
        annotation_text = annotation[1:-1] if annotation else None
        split = _SYMBOL_AND_EXPONENT.fullmatch(match["symbol"] or "")
        assert split is not None
        symbol, exponent = split["symbol"] or None, split["exponent"]
        if symbol is None:
            if exponent is None:  # an annotation alone stands for the unit 1
                return [UcumFactor("", "1", 1, annotation=annotation_text)]
            if exponent[0] in "+-" or exponent.startswith("0"):
                raise self.fail(f"{exponent!r} is not a factor (a positive integer)")
            return [UcumFactor("", "", 1, factor=int(exponent), annotation=annotation_text)]
        prefix, atom = self._resolve(symbol)
        power = int(exponent) if exponent is not None else 1
        return [UcumFactor(prefix, atom, power, annotation=annotation_text)]

    def _resolve(self, symbol: str) -> tuple[str, str]:
        if symbol in UCUM_METRIC_ATOMS or symbol in UCUM_NON_METRIC_ATOMS:
            return "", symbol
        for length in (2, 1):
            prefix, rest = symbol[:length], symbol[length:]
            if prefix in UCUM_PREFIXES and rest:
                if rest in UCUM_METRIC_ATOMS:
                    return prefix, rest
                if rest in UCUM_NON_METRIC_ATOMS:
                    raise self.fail(f"{rest} takes no prefix ({symbol})")
        lowered = {atom.lower(): atom for atom in (*UCUM_METRIC_ATOMS, *UCUM_NON_METRIC_ATOMS)}
        hint = (f" (UCUM is case-sensitive: {lowered[symbol.lower()]}?)"
                if symbol.lower() in lowered else "")
        raise self.fail(f"{symbol!r} is not a UCUM unit{hint}")


def _inverted(factor: UcumFactor) -> UcumFactor:
    return UcumFactor(factor.prefix, factor.atom, -factor.exponent, factor.factor,
                      factor.annotation)


# ------------------------------------------------------------------ UCUM -> D-SI


def ucum_to_dsi(text: str) -> str:
    """The D-SI spelling of a UCUM unit where it is unambiguous.

    Raises UcumUnitError for invalid UCUM, UcumNoDsiEquivalentError for UCUM that D-SI
    cannot say (annotations, numeric factors, units D-SI does not name)."""
    unit = validate_ucum(text)

    def missing(reason: str) -> UcumNoDsiEquivalentError:
        return UcumNoDsiEquivalentError(f"UCUM unit {text!r} has no D-SI equivalent: {reason}",
                                        unit=text)

    if [(f.factor, f.annotation) for f in unit.factors] == [(1, None)]:
        return "\\one"
    parts = []
    for factor in unit.factors:
        if factor.annotation is not None:
            raise missing(f"annotation {{{factor.annotation}}} (D-SI has no annotations)")
        if factor.factor is not None or factor.atom in ("10*", "10^"):
            raise missing("a numeric factor (D-SI has none)")
        name = _UCUM_TO_DSI_UNIT.get((factor.prefix, factor.atom))
        prefix = ""
        if name is None:
            name = _UCUM_TO_DSI_UNIT.get(("", factor.atom))
            if name is None or name in ("one", "percent", "ppm"):
                raise missing(f"D-SI names no unit {factor.prefix}{factor.atom}")
            if _DSI_UNIT_TO_UCUM[name][0]:
                raise missing(f"D-SI has no prefixed {factor.prefix}{factor.atom}")
            prefix = "\\" + _UCUM_PREFIX_TO_DSI[factor.prefix]
        power = "" if factor.exponent == 1 else f"\\tothe{{{factor.exponent}}}"
        parts.append(f"{prefix}\\{name}{power}")
    return "".join(parts)


# ------------------------------------------------------------------ either notation


def is_dsi_notation(unit: str) -> bool:
    """D-SI units start with a backslash (or `|` for a non-D-SI unit); UCUM never does."""
    return unit[:1] in ("\\", "|")


def unit_si_conversion(unit: str) -> SiConversion:
    """Factor and dimension of a unit written in D-SI or in UCUM (see `si_conversion`);
    UCUM goes through its D-SI equivalent, so both are related exactly alike."""
    if is_dsi_notation(unit):
        return si_conversion(unit)
    try:
        return si_conversion(ucum_to_dsi(unit))
    except (UcumUnitError, UcumNoDsiEquivalentError) as exc:
        raise UnitNotRelatableError(exc.message, unit=unit) from None


def unit_search_key(unit: str) -> str | None:
    """One key for a unit however it is written, so that a search in D-SI finds a unit
    written in UCUM and vice versa: the UCUM factors in a fixed order, else (no UCUM
    equivalent) the D-SI text. None for a unit that is neither."""
    try:
        dsi = unit if is_dsi_notation(unit) else ucum_to_dsi(unit)
        parsed = parse_dsi_unit(dsi)
    except (UcumUnitError, UcumNoDsiEquivalentError, DsiUnitError):
        return None
    equivalent = dsi_to_ucum(parsed)
    if equivalent.ucum is None:
        return "dsi:" + parsed.text
    factors = validate_ucum(equivalent.ucum).factors
    return "ucum:" + ".".join(sorted(f"{f.prefix}{f.atom}{f.exponent}" for f in factors))


def unit_notations_problem(unit: Mapping[str, Any]) -> tuple[str, str] | None:
    """For a unit given as {"dsi": ..., "ucum": ...} (either or both, as the typed
    document kinds write it): (field, why) if the D-SI is malformed, the UCUM invalid, or
    the two name different units; None if all is well."""
    dsi, ucum = unit.get("dsi"), unit.get("ucum")
    if isinstance(dsi, str):
        try:
            parse_dsi_unit(dsi)
        except DsiUnitError as exc:
            return "dsi", exc.message
    if isinstance(ucum, str):
        try:
            validate_ucum(ucum)
        except UcumUnitError as exc:
            return "ucum", exc.message
    if isinstance(dsi, str) and isinstance(ucum, str) and (
            unit_search_key(dsi) != unit_search_key(ucum)):
        equivalent = dsi_to_ucum(dsi)
        said = (f"that is {equivalent.ucum}" if equivalent.ucum is not None
                else f"which has no UCUM equivalent: {equivalent.reason}")
        return "ucum", f"UCUM {ucum!r} is not the unit {dsi} ({said})"
    return None
