"""Typed values for submitted documents, and their JSON form.

Metadata is stored on IPFS inside batch manifests and is the source the database
is rebuilt from, so every metadata class round-trips exactly through JSON
(`to_json_value` / `from_json_value`), driven by the dataclass type hints.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, Union

from anchor.digest import canonical_json_text

if TYPE_CHECKING:
    from lxml import etree

    from registry.documents.kinds import KindMetadata
    from registry.documents.metadata import DccMetadata


class DocumentType(StrEnum):
    """COOMET document kinds the registry accepts.

    DCCs, typed JSON documents (`certreg.<kind>/1`) and DRMDs carry their own metadata;
    documents of the other kinds in other formats (PDF ...) need issuer metadata.
    """

    DCC = "dcc"
    VERIFICATION_CERTIFICATE = "verification-certificate"
    TYPE_APPROVAL = "type-approval"
    TYPE_DESCRIPTION = "type-description"
    REFERENCE_MATERIAL_CERTIFICATE = "reference-material-certificate"
    MI_CLASSIFIER = "mi-classifier"
    MI_GROUP_CARD = "mi-group-card"
    OTHER = "other"


@dataclass(frozen=True)
class SchemaViolation:
    """One reason a DCC breaks its schema, as libxml2 reports it."""

    line: int | None
    path: str | None
    message: str


@dataclass(frozen=True)
class DocumentWarning:
    """Something a verifier should know that does not make the document unacceptable."""

    code: str
    message: str
    line: int | None = None
    path: str | None = None


@dataclass(frozen=True)
class DccValidation:
    """Outcome of validating a DCC tree against its bundled schema."""

    schema_version: str
    warnings: tuple[DocumentWarning, ...]


@dataclass(frozen=True)
class IssuerMetadata:
    """Metadata the issuer supplies for documents that do not describe themselves.

    `attributes` holds any further issuer keys as sorted (key, value) string pairs.
    """

    document_type: DocumentType
    identifier: str
    issuer: str
    issue_date: date | None = None
    title: str | None = None
    language: str | None = None
    country_code: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"format": "certreg.issuer-metadata/1", **to_json_value(self)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> IssuerMetadata:
        fields = {key: item for key, item in value.items() if key != "format"}
        return from_json_value(cls, fields)


@dataclass(frozen=True)
class ValidatedDocument:
    """A document the registry accepted: exactly the bytes received, and what it says."""

    raw: bytes
    sha256: str
    document_type: DocumentType
    metadata: DccMetadata | IssuerMetadata | KindMetadata
    schema_version: str | None
    warnings: tuple[DocumentWarning, ...]
    media_type: str
    # The hardened parse of `raw` (XML only) that validation judged, so that signing does
    # not parse the same bytes again. Read it, never change it.
    tree: etree._ElementTree | None = field(default=None, repr=False, compare=False)


class CanonicalJson(str):
    """Text that is `canonical_json_text` of a value, made once where the value was made.

    Issuance encodes each document's public metadata once, in the worker that read it;
    the outbox row, the batch manifest and the projection's row then hold this text as it
    is (registry.db.models.PublishedJson, registry.index.manifest), instead of the
    issuing process unpickling the tree and encoding it three times: that was a third of
    its CPU. Only our own encoder makes one; `decoded` is the value again."""

    __slots__ = ()

    @classmethod
    def of(cls, value: Any) -> CanonicalJson:
        return cls(canonical_json_text(value))

    def decoded(self) -> Any:
        return json.loads(self)


# Types returned as they are, tested by exact type first: a DCC's metadata is thousands of
# such leaves, and issuance converts the metadata of every document.
_JSON_LEAF_TYPES = frozenset({str, int, float, bool, type(None)})
_DATACLASS_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def to_json_value(value: Any) -> Any:
    """A JSON-compatible value for a metadata dataclass (dates as ISO strings)."""
    kind = type(value)
    if kind in _JSON_LEAF_TYPES:
        return value
    names = _DATACLASS_FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(kind):
        names = _DATACLASS_FIELD_NAMES.setdefault(
            kind, tuple(field.name for field in dataclasses.fields(kind)))
    if names is not None:
        return {name: to_json_value(getattr(value, name)) for name in names}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_json_value(item) for item in value]
    return value


_SORTED_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def to_sorted_json_value(value: Any) -> Any:
    """`json.loads(json.dumps(to_json_value(value), sort_keys=True))`, built in one pass:
    the same values, every object's keys in sorted order (bundles give a DCC's metadata
    so; issuance now publishes the text, CanonicalJson, encoded once). What JSON would
    not represent as given (a dict with keys that are not strings, an unknown type) still
    takes the round trip, so the result (or the TypeError) is the round trip's."""
    kind = type(value)
    if kind in _JSON_LEAF_TYPES:
        return value
    if kind is tuple or kind is list:  # before the dataclass lookup: most values are these
        return [to_sorted_json_value(item) for item in value]
    names = _SORTED_FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(kind):
        names = _SORTED_FIELD_NAMES.setdefault(
            kind, tuple(sorted(field.name for field in dataclasses.fields(kind))))
    if names is not None:
        return {name: to_sorted_json_value(getattr(value, name)) for name in names}
    if isinstance(value, Enum):
        return to_sorted_json_value(value.value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_sorted_json_value(item) for item in value]
    if kind is dict and all(type(key) is str for key in value):
        return {key: to_sorted_json_value(value[key]) for key in sorted(value)}
    return json.loads(json.dumps(value, sort_keys=True))


T = TypeVar("T")


def from_json_value(cls: type[T], value: Any) -> T:
    """Rebuild a metadata dataclass from `to_json_value` output, checking types on the way."""
    return typing.cast(T, _decode(cls, value, cls.__name__))


def _decode(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _decode(option, value, where)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"{where}: {value!r} matches none of {hint}")
    if origin is tuple:
        if not isinstance(value, list):
            raise TypeError(f"{where}: expected a list, got {type(value).__name__}")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], item, f"{where}[{index}]")
                         for index, item in enumerate(value))
        if len(args) != len(value):
            raise TypeError(f"{where}: expected {len(args)} items")
        return tuple(_decode(arg, item, f"{where}[{index}]")
                     for index, (arg, item) in enumerate(zip(args, value, strict=True)))
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected an object")
        hints = typing.get_type_hints(hint)
        known = {field.name for field in dataclasses.fields(hint)}
        unknown = set(value) - known
        if unknown:
            raise TypeError(f"{where}: unknown fields {sorted(unknown)}")
        return hint(**{name: _decode(hints[name], item, f"{where}.{name}")
                       for name, item in value.items()})
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if hint is date:
        if not isinstance(value, str):
            raise TypeError(f"{where}: expected an ISO date string")
        return date.fromisoformat(value)
    if hint in (str, int, float, bool):
        # bool is an int in Python; do not let true/false stand in for numbers.
        if not isinstance(value, hint) or (hint is not bool and isinstance(value, bool)):
            raise TypeError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
        return value
    raise TypeError(f"{where}: cannot decode type {hint!r}")
