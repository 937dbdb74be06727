"""The measurement results of a DCC: each stated value with its unit and expanded uncertainty.

Only what the certificate states as a *result* counts: the D-SI values of the
`dcc:quantity` elements reached from
`dcc:measurementResults/dcc:measurementResult/dcc:results/dcc:result/dcc:data`
through `dcc:list` and `dcc:quantity` only. Influence conditions, measuring
equipment, used methods and `dcc:measurementMetaData` (calibration set points,
acceptance limits, referenced input values) are not results, wherever they sit.
`dcc:relativeUncertainty` (DCC 3.1+) is not read: it does not say whether it is a
standard or an expanded uncertainty.

D-SI structures read (D-SI 1.3 to 2.2, i.e. DCC 2.2 to 3.3):
- `si:real`: si:value, si:unit, and the expanded uncertainty from `si:expandedUnc`
  (si:uncertainty, si:coverageFactor) or, in D-SI 2.2, from
  `si:measurementUncertaintyUnivariate/si:expandedMU` (si:valueExpandedMU);
- `si:realListXMLList`: si:valueXMLList with si:unitXMLList and
  si:expandedUncXMLList/si:uncertaintyXMLList (or
  measurementUncertaintyUnivariateXMLList/expandedMUXMLList/valueExpandedMUXMLList);
  a list of one unit, uncertainty or coverage factor applies to every value;
- `si:list` / `si:realList`: their `si:real` items, which take the list's
  si:listUnit and list uncertainty where they state none; nested lists recurse;
- `si:hybrid`: every member (the same quantity in several units); the members share
  a `hybrid` key so a checker can tell that they state one value.
- `si:constant`: value and unit (its uncertainty is a standard uncertainty).

A stated uncertainty that is not an expanded one (standard uncertainty, coverage
interval) is recorded as `uncertainty_form="unsupported"`; complex values and
structurally broken entries (three units for five values, a NaN) become results
with a `problem`, so a checker reports them instead of silently skipping them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from registry.documents.metadata import DCC_NS, SI_NS
from registry.documents.ucum import dsi_to_ucum

_NS = {"dcc": DCC_NS, "si": SI_NS}
_PREFIXES = {DCC_NS: "dcc", SI_NS: "si"}

EXPANDED = "expanded"
ABSENT = "absent"
UNSUPPORTED = "unsupported"


def _si(name: str) -> str:
    return f"{{{SI_NS}}}{name}"


def _dcc(name: str) -> str:
    return f"{{{DCC_NS}}}{name}"


@dataclass(frozen=True)
class MeasurementResult:
    """One value a DCC states as a measurement result.

    `value`, `uncertainty` and `coverage_factor` are exactly the decimals written
    (None when absent or unreadable). `uncertainty` is the expanded uncertainty in
    `unit`. `uncertainty_form` is "expanded", "absent" or "unsupported" (a standard
    uncertainty or a coverage interval is stated, which a checker must not read as an
    expanded one). `problem` says why the entry cannot be checked at all (complex value,
    unreadable number, list lengths that disagree); `value` is then None or unusable.
    `path` is the D-SI element's location, `index` the 0-based position in an XMLList
    or si:list (None for a single si:real). `hybrid` is the path of the enclosing
    si:hybrid, shared by its members.
    """

    quantity: str
    ref_types: tuple[str, ...]
    value: Decimal | None
    unit: str
    uncertainty: Decimal | None
    coverage_factor: Decimal | None
    uncertainty_form: str
    path: str
    index: int | None = None
    element: str = "si:real"
    hybrid: str | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity, "ref_types": list(self.ref_types),
            "value": _text(self.value), "unit": self.unit,
            # The same unit in UCUM, or null and why (never a guess).
            **{f"unit_{k}": v for k, v in dsi_to_ucum(self.unit).to_dict().items()
               if k != "dsi"},
            "uncertainty": _text(self.uncertainty),
            "coverage_factor": _text(self.coverage_factor),
            "uncertainty_form": self.uncertainty_form, "path": self.path,
            "index": self.index, "element": self.element, "hybrid": self.hybrid,
            "problem": self.problem,
        }


def _text(value: Decimal | None) -> str | None:
    """Plain notation, exactly the value (`5E-8` -> `0.00000005`)."""
    return None if value is None else format(value, "f")


def _collapse(text: str | None) -> str:
    return " ".join((text or "").split())


def _readable_path(element: etree._Element) -> str:
    path = element.getroottree().getelementpath(element)
    for namespace, prefix in _PREFIXES.items():
        path = path.replace(f"{{{namespace}}}", f"{prefix}:")
    root = element.getroottree().getroot()
    return f"/{_prefixed(root)}/{path}" if path != "." else f"/{_prefixed(root)}"


def _prefixed(element: etree._Element) -> str:
    qname = etree.QName(element)
    prefix = _PREFIXES.get(qname.namespace or "")
    return f"{prefix}:{qname.localname}" if prefix else qname.localname


def _name_of(element: etree._Element) -> str | None:
    """English dcc:content of the element's dcc:name, else one without lang, else the first."""
    name = element.find("dcc:name", _NS)
    if name is None:
        return None
    contents = [(content.get("lang"), _collapse(content.text))
                for content in name.findall("dcc:content", _NS)]
    contents = [(lang, text) for lang, text in contents if text]
    for wanted in ("en", None):
        for lang, text in contents:
            if lang == wanted:
                return text
    return contents[0][1] if contents else None


# xs:double (the D-SI decimalType's base) spans about 1e-324 to 1e308 with 17 significant
# digits. Numbers far beyond that are refused before any exact arithmetic: 1e999999999 is
# schema-valid, and turning it into a fraction would build a billion-digit integer.
MAX_DECIMAL_EXPONENT = 400
MAX_DECIMAL_DIGITS = 64


def is_tractable(value: Decimal) -> bool:
    """Finite, exponent within ±MAX_DECIMAL_EXPONENT, at most MAX_DECIMAL_DIGITS digits."""
    return (value.is_finite() and abs(value.adjusted()) <= MAX_DECIMAL_EXPONENT
            and len(value.as_tuple().digits) <= MAX_DECIMAL_DIGITS)


def _decimal(text: str | None) -> Decimal | None:
    """The number written, or None (absent, unreadable, NaN, INF, not `is_tractable`)."""
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if is_tractable(value) else None


@dataclass(frozen=True)
class _Uncertainty:
    form: str
    values: tuple[str, ...] = ()
    coverage_factors: tuple[str, ...] = ()


_NO_UNCERTAINTY = _Uncertainty(ABSENT)


def _uncertainty_of(element: etree._Element) -> _Uncertainty:
    """The uncertainty a si:real / si:realListXMLList / list states, as written (tokens)."""
    for container, value_tag, k_tag in (
            ("expandedUnc", "uncertainty", "coverageFactor"),
            ("measurementUncertaintyUnivariate/si:expandedMU", "valueExpandedMU",
             "coverageFactor"),
            ("listUnivariateUnc/si:expandedUnc", "uncertainty", "coverageFactor"),
            ("listMeasurementUncertaintyUnivariate/si:expandedMU", "valueExpandedMU",
             "coverageFactor"),
            ("listMeasurementUncertaintyUnivariate/si:expandedUnc", "uncertainty",
             "coverageFactor"),
            ("expandedUncXMLList", "uncertaintyXMLList", "coverageFactorXMLList"),
            ("measurementUncertaintyUnivariateXMLList/si:expandedMUXMLList",
             "valueExpandedMUXMLList", "coverageFactorXMLList")):
        found = element.find(f"si:{container}", _NS)
        if found is not None:
            return _Uncertainty(
                EXPANDED, tuple(_collapse(found.findtext(f"si:{value_tag}", "", _NS)).split()),
                tuple(_collapse(found.findtext(f"si:{k_tag}", "", _NS)).split()))
    for other in ("coverageInterval", "measurementUncertaintyUnivariate",
                  "measurementUncertaintyUnivaraite",  # sic, D-SI 2.2.0 si:realList items
                  "listUnivariateUnc", "listMeasurementUncertaintyUnivariate",
                  "coverageIntervalXMLList", "measurementUncertaintyUnivariateXMLList",
                  "uncertainty", "valueStandardMU"):
        if element.find(f"si:{other}", _NS) is not None:
            return _Uncertainty(UNSUPPORTED)
    return _NO_UNCERTAINTY


@dataclass(frozen=True)
class _Context:
    quantity: str
    ref_types: tuple[str, ...]
    hybrid: str | None = None


def _result(context: _Context, element: etree._Element, *, value: str | None, unit: str,
            uncertainty: _Uncertainty, index: int | None, position: int = 0,
            count: int = 1, problem: str | None = None) -> MeasurementResult:
    """One result; `position`/`count` pick this value's token from list-valued fields."""
    def pick(tokens: tuple[str, ...], what: str) -> str | None:
        nonlocal problem
        if len(tokens) == 1:
            return tokens[0]
        if len(tokens) == count:
            return tokens[position]
        if tokens and problem is None:
            problem = f"{len(tokens)} {what} for {count} values"
        return None

    uncertainty_value = coverage_factor = None
    if uncertainty.form == EXPANDED:
        uncertainty_text = pick(uncertainty.values, "uncertainties")
        uncertainty_value = _decimal(uncertainty_text)
        coverage_factor = _decimal(pick(uncertainty.coverage_factors, "coverage factors"))
        if uncertainty_value is None and problem is None:
            problem = (f"expanded uncertainty {uncertainty_text!r} is not a finite number "
                       "within the range and precision of xs:double")
        elif uncertainty_value is not None and uncertainty_value < 0 and problem is None:
            problem = f"expanded uncertainty {uncertainty_text} is negative"
    number = _decimal(value)
    if number is None and problem is None:
        problem = (f"value {value!r} is not a finite number within the range and "
                   "precision of xs:double")
    return MeasurementResult(
        quantity=context.quantity, ref_types=context.ref_types, value=number, unit=unit,
        uncertainty=uncertainty_value, coverage_factor=coverage_factor,
        uncertainty_form=uncertainty.form, path=_readable_path(element), index=index,
        element=_prefixed(element), hybrid=context.hybrid, problem=problem)


def _real(context: _Context, element: etree._Element, *, index: int | None = None,
          list_unit: str | None = None,
          list_uncertainty: _Uncertainty = _NO_UNCERTAINTY) -> MeasurementResult:
    unit = _collapse(element.findtext("si:unit", None, _NS)) or list_unit or ""
    uncertainty = _uncertainty_of(element)
    if uncertainty.form == ABSENT:
        uncertainty = list_uncertainty
    problem = None if unit else "no unit (neither si:unit nor si:listUnit)"
    return _result(context, element, value=element.findtext("si:value", None, _NS),
                   unit=unit, uncertainty=uncertainty, index=index, problem=problem)


def _real_list_xml_list(context: _Context,
                        element: etree._Element) -> Iterator[MeasurementResult]:
    values = _collapse(element.findtext("si:valueXMLList", "", _NS)).split()
    units = tuple(_collapse(element.findtext("si:unitXMLList", "", _NS)).split())
    uncertainty = _uncertainty_of(element)
    for position, value in enumerate(values):
        problem = None
        if len(units) == 1:
            unit = units[0]
        elif len(units) == len(values):
            unit = units[position]
        else:
            unit = ""
            problem = f"{len(units)} units for {len(values)} values"
        yield _result(context, element, value=value, unit=unit, uncertainty=uncertainty,
                      index=position, position=position, count=len(values), problem=problem)


def _list(context: _Context, element: etree._Element) -> Iterator[MeasurementResult]:
    """si:list (D-SI 1.3: reals with listUnit; 2.x: realList or nested lists) / si:realList."""
    list_unit = _collapse(element.findtext("si:listUnit", None, _NS)) or None
    list_uncertainty = _uncertainty_of(element)
    index = 0
    for child in element:
        if child.tag == _si("real"):
            yield _real(context, child, index=index, list_unit=list_unit,
                        list_uncertainty=list_uncertainty)
            index += 1
        elif child.tag in (_si("list"), _si("realList")):
            yield from _list(context, child)
        elif child.tag in (_si("complex"), _si("complexList")):
            yield _unsupported(context, child, "complex values are not checked")


def _unsupported(context: _Context, element: etree._Element,
                 problem: str) -> MeasurementResult:
    unit = _collapse(element.findtext(".//si:unit", None, _NS)
                     or element.findtext(".//si:listUnit", None, _NS)
                     or element.findtext(".//si:unitXMLList", None, _NS))
    return MeasurementResult(
        quantity=context.quantity, ref_types=context.ref_types, value=None, unit=unit,
        uncertainty=None, coverage_factor=None, uncertainty_form=ABSENT,
        path=_readable_path(element), element=_prefixed(element), hybrid=context.hybrid,
        problem=problem)


def _d_si(context: _Context, element: etree._Element) -> Iterator[MeasurementResult]:
    tag = element.tag
    if tag == _si("real"):
        yield _real(context, element)
    elif tag == _si("realListXMLList"):
        yield from _real_list_xml_list(context, element)
    elif tag in (_si("list"), _si("realList")):
        yield from _list(context, element)
    elif tag == _si("constant"):
        uncertainty = (_Uncertainty(UNSUPPORTED)
                       if element.find("si:uncertainty", _NS) is not None
                       or element.find("si:valueStandardMU", _NS) is not None
                       else _NO_UNCERTAINTY)
        yield _result(context, element, value=element.findtext("si:value", None, _NS),
                      unit=_collapse(element.findtext("si:unit", None, _NS)),
                      uncertainty=uncertainty, index=None)
    elif tag == _si("hybrid"):
        member_context = _Context(context.quantity, context.ref_types,
                                  _readable_path(element))
        for member in element:
            if isinstance(member.tag, str):
                yield from _d_si(member_context, member)
    elif tag in (_si("complex"), _si("complexList"), _si("complexListXMLList")):
        yield _unsupported(context, element, "complex values are not checked")


def _walk(element: etree._Element, names: tuple[str, ...]) -> Iterator[MeasurementResult]:
    """dcc:data and dcc:list children: lists recurse, quantities yield their D-SI values."""
    for child in element:
        if child.tag == _dcc("list"):
            name = _name_of(child)
            yield from _walk(child, (name, *names) if name else names)
        elif child.tag == _dcc("quantity"):
            quantity_name = _name_of(child) or next(iter(names), "") or ""
            context = _Context(quantity_name, tuple((child.get("refType") or "").split()))
            for value_element in child:
                if isinstance(value_element.tag, str) and \
                        etree.QName(value_element).namespace == SI_NS:
                    yield from _d_si(context, value_element)


def extract_results(tree: etree._ElementTree | etree._Element) -> tuple[MeasurementResult, ...]:
    """Every measurement result of a (schema-validated) DCC tree, in document order.

    A quantity without its own dcc:name takes the name of the nearest enclosing
    dcc:list, else of its dcc:result.
    """
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    found: list[MeasurementResult] = []
    for result in root.iterfind(
            "dcc:measurementResults/dcc:measurementResult/dcc:results/dcc:result", _NS):
        result_name = _name_of(result)
        for data in result.findall("dcc:data", _NS):
            found.extend(_walk(data, (result_name,) if result_name else ()))
    return tuple(found)


__all__ = ["ABSENT", "EXPANDED", "MAX_DECIMAL_DIGITS", "MAX_DECIMAL_EXPONENT", "UNSUPPORTED",
           "MeasurementResult", "extract_results", "is_tractable"]
