"""Content-addressed document storage: an embedded on-disk store, Kubo, and a spooling
wrapper that keeps documents safe on local disk while Kubo is down.

Every store uses the same `ImportOptions` (anchor.cid.REGISTRY_IMPORT by default), so a
document has one CID whichever store holds it, and every read re-derives the CID from the
bytes before returning them.
"""

from anchor.store.base import ContentStat, ContentStore, PinState, PushReport, push_all
from anchor.store.confidential import ConfidentialReceipt, get_confidential, put_confidential
from anchor.store.embedded import EmbeddedStore
from anchor.store.kubo import KuboStore
from anchor.store.spool import SpoolingStore

__all__ = [
    "ConfidentialReceipt",
    "ContentStat",
    "ContentStore",
    "EmbeddedStore",
    "KuboStore",
    "PinState",
    "PushReport",
    "SpoolingStore",
    "get_confidential",
    "push_all",
    "put_confidential",
]
