"""The `ContentStore` protocol and the values its methods return."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from anchor.cid import Cid, ImportOptions
from anchor.errors import ContentIntegrityError, StorageUnavailableError


class PinState(StrEnum):
    """Whether a store promises to keep a document."""

    PINNED = "pinned"  # kept until explicitly removed (the embedded store keeps everything)
    UNPINNED = "unpinned"  # present, but the node's garbage collector may drop it
    PENDING = "pending"  # only in the local spool, waiting for Kubo to come back
    ABSENT = "absent"  # not held by this store


@dataclass(frozen=True)
class ContentStat:
    cid: Cid
    size: int  # bytes of the document itself (not of its DAG encoding)
    pin: PinState
    location: str  # "embedded", "kubo" or "spool"


@runtime_checkable
class ContentStore(Protocol):
    """Stores documents by CID. Reads are verified: a blob that does not hash to the CID
    it was asked for raises ContentIntegrityError and is never returned."""

    import_options: ImportOptions

    def put(self, data: bytes) -> Cid:
        """Store `data` (idempotent) and return its CID."""
        ...

    def put_many(self, documents: Sequence[bytes]) -> list[Cid]:
        """Store several documents in one durable write (one sync or one request), in
        order; the CIDs equal those of `put`. When it returns, all of them are stored."""
        ...

    def get(self, cid: Cid) -> bytes:
        """The verified bytes of `cid`; ContentNotFoundError if the store lacks them."""
        ...

    def has(self, cid: Cid) -> bool:
        """True if the store holds the complete document locally."""
        ...

    def stat(self, cid: Cid) -> ContentStat:
        """Size and pin state; ContentNotFoundError if absent."""
        ...

    def pin_status(self, cid: Cid) -> PinState: ...


@dataclass(frozen=True)
class PushReport:
    """Outcome of copying documents from one store to another."""

    pushed: tuple[Cid, ...] = ()
    already_present: tuple[Cid, ...] = ()
    remaining: tuple[Cid, ...] = ()  # not copied because the target became unavailable
    errors: tuple[tuple[Cid, str], ...] = field(default=())  # (cid, error code), e.g. corrupt

    @property
    def complete(self) -> bool:
        return not self.remaining and not self.errors


def push_all(cids: Iterable[Cid], source: ContentStore, target: ContentStore,
             on_pushed: Callable[[Cid], None] | None = None) -> PushReport:
    """Copy `cids` from `source` to `target`, checking that the target derives the same CID.

    Reads from `source` are verified, so corrupt entries are reported, not copied. Stops
    at the first StorageUnavailableError and lists what is left; calling again resumes
    (puts are idempotent). `on_pushed(cid)` runs after each confirmed copy.
    """
    pushed: list[Cid] = []
    present: list[Cid] = []
    errors: list[tuple[Cid, str]] = []
    todo = list(cids)
    for index, cid in enumerate(todo):
        try:
            if target.has(cid):
                present.append(cid)
            else:
                data = source.get(cid)
                stored = target.put(data)
                if stored != cid:
                    raise ContentIntegrityError(
                        f"target stored {cid} as {stored}: import options differ",
                        cid=str(cid), target_cid=str(stored))
                pushed.append(cid)
        except StorageUnavailableError:
            return PushReport(tuple(pushed), tuple(present), tuple(todo[index:]), tuple(errors))
        except ContentIntegrityError as exc:
            errors.append((cid, exc.code))
            continue
        if on_pushed is not None:
            on_pushed(cid)
    return PushReport(tuple(pushed), tuple(present), (), tuple(errors))
