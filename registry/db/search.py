"""Certificate search (FAIR findability) over PUBLIC metadata only, as indexed SQL.

At index time the indexer copies the searchable fields out of each document's public
metadata (`search_fields`): dates into columns of `chain_documents`, multi-valued
identifiers (serial numbers, manufacturers, models, identifications, the certificate
number; for typed legal-metrology documents also type-approval numbers and classifier
codes; the units of a DCC's quantities) into `document_identifiers`, normalised
(whitespace collapsed, case folded; units keyed alike in D-SI and UCUM) so that a
search is an equality on an indexed column on SQLite and PostgreSQL alike.

Encrypted documents have no public metadata: nothing is extracted from them, whatever a
manifest might carry, and `search` never returns them. They are found by hash or CID only.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, exists, func, insert, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from registry.db.models import ChainBatch, ChainDocument, ChainRevocation, DocumentIdentifier
from registry.db.rows import instance, labelled_columns
from registry.documents.kinds import APPROVAL_NUMBER, CLASSIFIER_CODE, KIND_METADATA_FORMAT
from registry.documents.metadata import METADATA_FORMAT as DCC_METADATA_FORMAT
from registry.documents.ucum import metadata_units, unit_search_key
from registry.errors import RequestInvalidError

ISSUER_METADATA_FORMAT = "certreg.issuer-metadata/1"
IDENTIFIER_MAX_LENGTH = 255

# The identifier kinds, as stored in document_identifiers.kind and named in the API.
SERIAL = "serial"
IDENTIFICATION = "identification"
MANUFACTURER = "manufacturer"
MODEL = "model"
NUMBER = "number"  # the certificate's own number (DCC uniqueIdentifier, issuer identifier)
# A unit the certificate's quantities use, keyed alike in D-SI and UCUM (case kept:
# UCUM's mm and Mm differ); see registry.documents.ucum.unit_search_key.
UNIT = "unit"
# Typed documents (certreg.kind-metadata/1) also name these:
_KIND_IDENTIFIER_KINDS = frozenset({SERIAL, IDENTIFICATION, MANUFACTURER, MODEL, NUMBER,
                                    APPROVAL_NUMBER, CLASSIFIER_CODE})

# Issuer-metadata attribute keys (non-DCC documents) that name the item.
_ATTRIBUTE_KINDS = {"serial_number": (SERIAL, IDENTIFICATION), "serial": (SERIAL, IDENTIFICATION),
                    "manufacturer": (MANUFACTURER,), "model": (MODEL,),
                    "identification": (IDENTIFICATION,)}
_CALIBRATION_DATE_ATTRIBUTES = ("calibration_date", "calibrated_on")


def normalise(value: object) -> str:
    """How identifiers are stored and compared: whitespace collapsed, case folded."""
    return " ".join(str(value).split()).casefold()[:IDENTIFIER_MAX_LENGTH]


@dataclass(frozen=True)
class SearchFields:
    issued_on: dt.date | None = None
    calibrated_from: dt.date | None = None
    calibrated_to: dt.date | None = None
    identifiers: tuple[tuple[str, str], ...] = ()  # (kind, normalised value), distinct

    def columns(self) -> dict[str, dt.date | None]:
        """The chain_documents columns these fields fill."""
        return {"issued_on": self.issued_on, "calibrated_from": self.calibrated_from,
                "calibrated_to": self.calibrated_to}


def _date(value: object) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _texts(localized: object) -> list[str]:
    return [str(t["text"]) for t in _dicts(localized) if isinstance(t.get("text"), str)]


def _is_serial_label(identification: Mapping[str, Any]) -> bool:
    # The same label convention as registry.documents.metadata.CalibratedItem.serial_numbers.
    return any("serial" in text.lower() or "serien" in text.lower()
               for text in _texts(identification.get("label")))


@functools.lru_cache(maxsize=4096)
def _unit_key(unit: str) -> str | None:
    # Parsing a unit is most of search_fields' time, and a registry's DCCs use a few
    # hundred distinct units: each is parsed once (unit_search_key is a pure function).
    return unit_search_key(unit)


def search_fields(metadata: Mapping[str, Any] | None, encrypted: bool) -> SearchFields:
    """The searchable fields of a document's public metadata (DCC or issuer-supplied).

    Never raises: metadata comes from manifests on IPFS, and an odd field must not stop
    the indexer; what cannot be read is simply not searchable.
    """
    if encrypted or not isinstance(metadata, Mapping):
        return SearchFields()
    found: list[tuple[str, object]] = []
    begin = end = issued = None
    if metadata.get("format") == DCC_METADATA_FORMAT:
        found.append((NUMBER, metadata.get("unique_identifier")))
        issued = _date(metadata.get("issue_date"))
        begin = _date(metadata.get("begin_performance_date"))
        end = _date(metadata.get("end_performance_date"))
        found.extend((IDENTIFICATION, i.get("value"))
                     for i in _dicts(metadata.get("identifications")))
        for item in _dicts(metadata.get("items")):
            for identification in _dicts(item.get("identifications")):
                found.append((IDENTIFICATION, identification.get("value")))
                if _is_serial_label(identification):
                    found.append((SERIAL, identification.get("value")))
            found.extend((MANUFACTURER, text) for text in _texts(item.get("manufacturer")))
            found.append((MODEL, item.get("model")))
    elif metadata.get("format") == ISSUER_METADATA_FORMAT:
        found.append((NUMBER, metadata.get("identifier")))
        issued = _date(metadata.get("issue_date"))
        attributes = {str(pair[0]): pair[1] for pair in metadata.get("attributes") or []
                      if isinstance(pair, list) and len(pair) == 2}
        for key, kinds in _ATTRIBUTE_KINDS.items():
            if key in attributes:
                found.extend((kind, attributes[key]) for kind in kinds)
        begin = end = next((_date(attributes[k]) for k in _CALIBRATION_DATE_ATTRIBUTES
                            if k in attributes), None)
    elif metadata.get("format") == KIND_METADATA_FORMAT:
        # A typed document lists its searchable identifiers itself; the date it was
        # performed on (a verification's) is searched like a calibration date.
        found.extend((str(pair[0]), pair[1]) for pair in metadata.get("identifiers") or []
                     if isinstance(pair, list) and len(pair) == 2
                     and pair[0] in _KIND_IDENTIFIER_KINDS)
        issued = _date(metadata.get("issue_date"))
        begin = end = _date(metadata.get("performed_on"))
    identifiers = dict.fromkeys((kind, normalise(value)) for kind, value in found
                                if isinstance(value, str | int) and normalise(value))
    if metadata.get("format") == DCC_METADATA_FORMAT:
        identifiers.update(dict.fromkeys(
            (UNIT, key[:IDENTIFIER_MAX_LENGTH]) for unit in metadata_units(metadata)
            if (key := _unit_key(unit)) is not None))
    # A period with one end given is that one day.
    return SearchFields(issued, begin or end, end or begin, tuple(identifiers))


def record_identifiers(session: Session,
                       documents: Iterable[tuple[int, SearchFields]]) -> None:
    """Fill document_identifiers for documents (chain_documents id, their search fields)
    inserted into chain_documents just before, in the same transaction: one bulk insert."""
    rows = [{"document_id": document_id, "kind": kind, "value": value}
            for document_id, fields in documents for kind, value in fields.identifiers]
    if rows:
        session.execute(insert(DocumentIdentifier.__table__), rows)


# ------------------------------------------------------------------- queries


@dataclass(frozen=True)
class SearchCriteria:
    """What to look for; every given criterion must hold (AND)."""

    serial: str | None = None
    identification: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    number: str | None = None
    approval_number: str | None = None
    classifier_code: str | None = None
    issuer_id: str | None = None  # 64 hex
    document_type: str | None = None
    issued_from: dt.date | None = None
    issued_to: dt.date | None = None
    calibrated_from: dt.date | None = None
    calibrated_to: dt.date | None = None
    unit: str | None = None  # D-SI or UCUM

    def identifiers(self) -> list[tuple[str, str]]:
        given = ((SERIAL, self.serial), (IDENTIFICATION, self.identification),
                 (MANUFACTURER, self.manufacturer), (MODEL, self.model), (NUMBER, self.number),
                 (APPROVAL_NUMBER, self.approval_number), (CLASSIFIER_CODE, self.classifier_code))
        found = [(kind, normalise(value)) for kind, value in given if value is not None]
        if self.unit is not None:
            key = unit_search_key(self.unit)
            if key is None:
                raise RequestInvalidError(f"unit {self.unit[:80]!r} is neither a valid D-SI "
                                          "nor a valid UCUM unit", unit=self.unit[:80])
            found.append((UNIT, key[:IDENTIFIER_MAX_LENGTH]))
        return found


@dataclass(frozen=True)
class SearchHit:
    document: ChainDocument
    batch: ChainBatch
    revoked: bool


@dataclass(frozen=True)
class SearchPage:
    total: int
    hits: tuple[SearchHit, ...]


def identifier_matches(kind: str, value: str) -> ColumnElement[bool]:
    """chain_documents rows with this (kind, normalised value): an indexed lookup."""
    return ChainDocument.id.in_(select(DocumentIdentifier.document_id).where(
        DocumentIdentifier.kind == kind, DocumentIdentifier.value == value))


def _conditions(criteria: SearchCriteria) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [ChainDocument.encrypted.is_(False)]
    conditions += [identifier_matches(kind, value) for kind, value in criteria.identifiers()]
    if criteria.issuer_id is not None:
        conditions.append(ChainDocument.issuer_id == criteria.issuer_id)
    if criteria.document_type is not None:
        conditions.append(ChainDocument.document_type == criteria.document_type)
    if criteria.issued_from is not None:
        conditions.append(ChainDocument.issued_on >= criteria.issued_from)
    if criteria.issued_to is not None:
        conditions.append(ChainDocument.issued_on <= criteria.issued_to)
    # Calibration periods that overlap the range asked for.
    if criteria.calibrated_from is not None:
        conditions.append(ChainDocument.calibrated_to >= criteria.calibrated_from)
    if criteria.calibrated_to is not None:
        conditions.append(ChainDocument.calibrated_from <= criteria.calibrated_to)
    return conditions


def revoked_flag() -> ColumnElement[bool]:
    """Whether the document's own issuer revoked it (for a select over chain_documents)."""
    return exists(select(ChainRevocation.id).where(and_(
        ChainRevocation.document_sha256 == ChainDocument.sha256,
        ChainRevocation.issuer_id == ChainDocument.issuer_id))).label("revoked")


def search(sessions: sessionmaker[Session], criteria: SearchCriteria, *, page: int,
           page_size: int) -> SearchPage:
    """One page of matching anchored documents, newest anchoring first; ties broken by
    batch and hash, so the order is the same after a rebuild of the projection."""
    conditions = _conditions(criteria)
    # Core, not the ORM: rows come back as transient model instances (registry.db.rows).
    query: Select[Any] = (
        select(*labelled_columns(ChainDocument, "d_"), *labelled_columns(ChainBatch, "b_"),
               revoked_flag())
        .select_from(ChainDocument.__table__)
        .join(ChainBatch.__table__, ChainBatch.batch_id == ChainDocument.batch_id)
        .where(*conditions)
        .order_by(ChainDocument.block_number.desc(), ChainDocument.batch_id.desc(),
                  ChainDocument.sha256)
        .offset((page - 1) * page_size).limit(page_size))
    with sessions.kw["bind"].connect() as connection:
        total = connection.scalar(select(func.count()).select_from(ChainDocument.__table__)
                                  .where(*conditions)) or 0
        rows = connection.execute(query).mappings().all()
    return SearchPage(total, tuple(SearchHit(instance(ChainDocument, "d_", row),
                                             instance(ChainBatch, "b_", row),
                                             bool(row["revoked"])) for row in rows))
