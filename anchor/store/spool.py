"""Keep accepting documents while Kubo is down.

`SpoolingStore` writes through to its primary (Kubo). When the primary is unavailable the
document goes to a spool — an EmbeddedStore on local disk — and is reported PENDING.
The spool directory *is* the pending list: it survives restarts, a document leaves it
only after the primary has confirmed the same CID, and a crash between those two steps
just repeats an idempotent put. `flush()` pushes what is pending; nothing flushes behind
the caller's back, so the moment of the (possibly slow) upload stays under their control.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from anchor.cid import Cid
from anchor.errors import ContentNotFoundError, StorageError, StorageUnavailableError
from anchor.store.base import ContentStat, ContentStore, PinState, PushReport, push_all
from anchor.store.embedded import EmbeddedStore


class SpoolingStore:
    """A ContentStore over `primary` that never loses a put to an outage."""

    def __init__(self, primary: ContentStore, spool: EmbeddedStore | Path) -> None:
        if not isinstance(spool, EmbeddedStore):
            spool = EmbeddedStore(spool, primary.import_options)
        if spool.import_options != primary.import_options:
            raise StorageError("spool and primary store must use the same import options")
        self.primary = primary
        self.spool = spool
        self.import_options = primary.import_options

    def __repr__(self) -> str:
        return f"SpoolingStore({self.primary!r}, spool={self.spool!r})"

    def put(self, data: bytes) -> Cid:
        """Store on the primary, or spool it if the primary is unavailable. Either way the
        returned CID is final: the primary will derive the same one later."""
        try:
            return self.primary.put(data)
        except StorageUnavailableError:
            return self.spool.put(data)

    def put_many(self, documents: Sequence[bytes]) -> list[Cid]:
        """`put` for a batch: on the primary in one call, or all into the spool."""
        try:
            return self.primary.put_many(documents)
        except StorageUnavailableError:
            return self.spool.put_many(documents)

    def get(self, cid: Cid) -> bytes:
        if self.spool.has(cid):
            return self.spool.get(cid)
        return self.primary.get(cid)

    def has(self, cid: Cid) -> bool:
        return self.spool.has(cid) or self.primary.has(cid)

    def is_pending(self, cid: Cid) -> bool:
        return self.spool.has(cid)

    def pending(self) -> list[Cid]:
        """Documents accepted but not yet on the primary, oldest first."""
        return list(self.spool.cids())

    def stat(self, cid: Cid) -> ContentStat:
        if self.spool.has(cid):
            size = self.spool.stat(cid).size
            return ContentStat(cid, size, PinState.PENDING, "spool")
        return self.primary.stat(cid)

    def pin_status(self, cid: Cid) -> PinState:
        if self.spool.has(cid):
            return PinState.PENDING
        try:
            return self.primary.pin_status(cid)
        except ContentNotFoundError:
            return PinState.ABSENT

    def flush(self) -> PushReport:
        """Push pending documents to the primary, removing each from the spool once the
        primary holds it under the same CID. Stops (leaving the rest pending) if the
        primary goes away again; a corrupt spool entry is reported and kept for
        inspection."""
        return push_all(self.pending(), self.spool, self.primary, on_pushed=self.spool.remove)

    push_pending = flush
