"""Model instances from Core SELECTs: the read paths the API serves per request select
plain columns (no Session, identity map or unit of work, which cost a lookup more than
its statements) and get back transient instances of the models, so callers keep
reading `document.cid` and `batch.tx_hash`. `chunked` splits the values of an IN (...)
list into statements of a size every backend takes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Label

from registry.db.models import Base

M = TypeVar("M", bound=Base)
T = TypeVar("T")
IN_CHUNK = 2_000  # members of one SQL IN (...) list


def chunked(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def labelled_columns(model: type[M], prefix: str) -> list[Label[Any]]:
    """The model's columns, labelled `<prefix><attribute>`."""
    return [column.label(prefix + attribute)
            for attribute, column in model.__mapper__.columns.items()]


def instance(model: type[M], prefix: str, row: Mapping[str, Any]) -> M:
    """A transient `model` from the `<prefix><attribute>` values of a result row."""
    return model(**{attribute: row[prefix + attribute]
                    for attribute in model.__mapper__.columns.keys()})  # noqa: SIM118
