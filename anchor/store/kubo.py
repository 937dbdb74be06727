"""Documents on a Kubo daemon, through its RPC API (ipfshttpclient).

`ipfshttpclient.connect()` refuses daemons newer than 0.8, so the client is constructed
directly; the calls used here (add, dag/import, cat, files/stat, pin/ls, pin/add, version)
are stable across Kubo releases.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import ipfshttpclient
import ipfshttpclient.exceptions as ipfs_errors
from ipfshttpclient import multipart

from anchor.car import write_car
from anchor.cid import REGISTRY_IMPORT, Cid, ImportOptions, compute_cid, dag_blocks
from anchor.errors import (
    ContentIntegrityError,
    ContentNotFoundError,
    StorageError,
    StorageUnavailableError,
)
from anchor.store.base import ContentStat, PinState

DEFAULT_KUBO_API = "/ip4/127.0.0.1/tcp/5001"

# ipfshttpclient 0.7 passes a parameter urllib3 deprecated; the warning fires on every
# request and says nothing about our code.
warnings.filterwarnings("ignore", message="The 'strict' parameter is no longer needed",
                        category=FutureWarning)


class KuboStore:
    """A Kubo node as a ContentStore. Puts pin; reads are verified against the CID.

    `timeout` bounds every call to the daemon; `fetch_timeout` bounds a read of content the
    node does not hold and has to fetch from its peers (federation).
    """

    location = "kubo"

    def __init__(self, api_addr: str = DEFAULT_KUBO_API, *, timeout: float = 30.0,
                 fetch_timeout: float = 10.0,
                 import_options: ImportOptions = REGISTRY_IMPORT) -> None:
        self.api_addr = api_addr
        self.timeout = timeout
        self.fetch_timeout = fetch_timeout
        self.import_options = import_options
        try:
            self._client = ipfshttpclient.Client(api_addr, timeout=timeout)
        except ipfs_errors.AddressError as exc:
            raise StorageError(f"invalid Kubo API address {api_addr!r}",
                               api_addr=api_addr) from exc

    def __repr__(self) -> str:
        return f"KuboStore({self.api_addr!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> KuboStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- error mapping -------------------------------------------------------------------

    def _unavailable(self, exc: Exception, action: str) -> StorageUnavailableError:
        # Only the exception class goes into the message: requests' text repeats URLs and
        # is noisy, and nothing about the document belongs in an error.
        return StorageUnavailableError(
            f"Kubo at {self.api_addr} is unavailable ({action}: {type(exc).__name__})",
            api_addr=self.api_addr)

    def is_available(self) -> bool:
        try:
            self._client.version(timeout=min(self.timeout, 2.0))
        except ipfs_errors.Error:
            return False
        return True

    # --- ContentStore --------------------------------------------------------------------

    def put(self, data: bytes) -> Cid:
        expected = compute_cid(data, self.import_options)
        options = {**self.import_options.kubo_add_options, "pin": True}
        try:
            reply = self._client.add_bytes(data, opts=options)
        except (ipfs_errors.ConnectionError, ipfs_errors.TimeoutError) as exc:
            raise self._unavailable(exc, "add") from exc
        except ipfs_errors.Error as exc:
            raise StorageError(f"Kubo rejected add: {exc}", api_addr=self.api_addr) from exc
        stored = Cid.parse(str(reply))
        if stored != expected:
            # The daemon imported with other options than ours; its CID would not be the
            # one the registry anchors, so treat it as a failed write.
            raise ContentIntegrityError(
                f"Kubo stored the document as {stored}, expected {expected}",
                cid=str(expected), kubo_cid=str(stored))
        return stored

    def put_many(self, documents: Sequence[bytes]) -> list[Cid]:
        """Like `put` for each document, in one request: the UnixFS blocks of all of them,
        built here exactly as `ipfs add` with our import options builds them, go to
        /api/v0/dag/import as one CAR archive, which Kubo writes as one batch and whose
        roots it pins. Kubo must report every root pinned."""
        if not documents:
            return []
        cids: list[Cid] = []
        blocks: list[tuple[Cid, bytes]] = []
        for data in documents:
            cid, document_blocks = dag_blocks(data, self.import_options)
            cids.append(cid)
            blocks += document_blocks
        car = write_car(list(dict.fromkeys(cids)), blocks)
        body, headers = multipart.stream_bytes(car, chunk_size=self._client.chunk_size)
        try:
            replies = self._client._client.request("/dag/import", decoder="json", data=body,
                                                   headers=headers,
                                                   opts={"pin-roots": True, "stats": False})
        except (ipfs_errors.ConnectionError, ipfs_errors.TimeoutError) as exc:
            raise self._unavailable(exc, "dag import") from exc
        except ipfs_errors.Error as exc:
            raise StorageError(f"Kubo rejected dag import: {exc}",
                               api_addr=self.api_addr) from exc
        pinned = {Cid.parse(reply["Root"]["Cid"]["/"]) for reply in replies
                  if "Root" in reply and not reply["Root"].get("PinErrorMsg")}
        for cid in cids:
            if cid not in pinned:
                raise ContentIntegrityError(f"Kubo did not import and pin {cid}",
                                            cid=str(cid), api_addr=self.api_addr)
        return cids

    def get(self, cid: Cid) -> bytes:
        try:
            data = self._client.cat(str(cid), offline=True)
        except ipfs_errors.ErrorResponse:
            data = self._fetch_from_peers(cid)
        except (ipfs_errors.ConnectionError, ipfs_errors.TimeoutError) as exc:
            raise self._unavailable(exc, "cat") from exc
        if compute_cid(data, self.import_options) != cid:
            raise ContentIntegrityError(f"Kubo returned bytes that do not match {cid}",
                                        cid=str(cid), api_addr=self.api_addr)
        return data

    def _fetch_from_peers(self, cid: Cid) -> bytes:
        try:
            return self._client.cat(str(cid), timeout=self.fetch_timeout)
        except ipfs_errors.TimeoutError as exc:
            if not self.is_available():
                raise self._unavailable(exc, "cat") from exc
            raise ContentNotFoundError(
                f"{cid} is not on this Kubo node and no peer supplied it within "
                f"{self.fetch_timeout:g}s", cid=str(cid)) from exc
        except ipfs_errors.ConnectionError as exc:
            raise self._unavailable(exc, "cat") from exc
        except ipfs_errors.ErrorResponse as exc:
            raise ContentNotFoundError(f"{cid} could not be read from Kubo: {exc}",
                                       cid=str(cid)) from exc

    def _local_stat(self, cid: Cid) -> dict | None:
        try:
            reply = self._client.files.stat(f"/ipfs/{cid}", opts={"with-local": True},
                                            offline=True)
        except ipfs_errors.ErrorResponse:
            return None
        except (ipfs_errors.ConnectionError, ipfs_errors.TimeoutError) as exc:
            raise self._unavailable(exc, "stat") from exc
        return reply.as_json()

    def has(self, cid: Cid) -> bool:
        found = self._local_stat(cid)
        return bool(found and found.get("Local"))

    def stat(self, cid: Cid) -> ContentStat:
        found = self._local_stat(cid)
        if not found or not found.get("Local"):
            raise ContentNotFoundError(f"{cid} is not on this Kubo node", cid=str(cid))
        return ContentStat(cid, int(found["Size"]), self.pin_status(cid), self.location)

    def pin_status(self, cid: Cid) -> PinState:
        try:
            self._client.pin.ls(str(cid), type="recursive")
        except ipfs_errors.ErrorResponse as exc:
            if "not pinned" not in str(exc):
                raise StorageError(f"Kubo pin ls failed: {exc}", cid=str(cid)) from exc
            return PinState.UNPINNED if self.has(cid) else PinState.ABSENT
        except (ipfs_errors.ConnectionError, ipfs_errors.TimeoutError) as exc:
            raise self._unavailable(exc, "pin ls") from exc
        return PinState.PINNED

    def pin(self, cid: Cid) -> None:
        """Pin content already on the node or reachable from its peers."""
        try:
            self._client.pin.add(str(cid), timeout=self.fetch_timeout)
        except (ipfs_errors.ConnectionError, ipfs_errors.TimeoutError) as exc:
            raise self._unavailable(exc, "pin add") from exc
        except ipfs_errors.ErrorResponse as exc:
            raise StorageError(f"Kubo pin add failed: {exc}", cid=str(cid)) from exc

