"""A content-addressed store in a local directory: the default when no Kubo is configured,
and the spool of `SpoolingStore`.

Layout: `<root>/store.json` (format and import options), `<root>/blobs/<xy>/<cid>` where
`xy` are the CID's next-to-last two characters (like Kubo's flatfs, so directories stay
small and evenly filled), `<root>/tmp/` for writes in progress.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

from anchor.cid import REGISTRY_IMPORT, Cid, ImportOptions, compute_cid
from anchor.errors import (
    CidError,
    ContentIntegrityError,
    ContentNotFoundError,
    StorageError,
    StorageUnavailableError,
)
from anchor.files import write_atomically, write_many_atomically
from anchor.store.base import ContentStat, PinState

STORE_FORMAT = "certreg-embedded-store"
STORE_FORMAT_VERSION = 1


class EmbeddedStore:
    """Documents as files named by CID. Yields the same CIDs as Kubo with the same options."""

    location = "embedded"

    def __init__(self, root: Path, import_options: ImportOptions = REGISTRY_IMPORT) -> None:
        self.root = Path(root)
        self.import_options = import_options
        self._blobs = self.root / "blobs"
        self._tmp = self.root / "tmp"
        try:
            self._blobs.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
            self._check_or_write_marker()
        except OSError as exc:
            raise StorageUnavailableError(f"embedded store at {self.root} is not usable: {exc}",
                                          root=str(self.root)) from exc

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.root)!r})"

    def _check_or_write_marker(self) -> None:
        # A store written with other import options holds blobs under other CIDs; mixing
        # them would make identical documents look different, so refuse instead.
        marker = self.root / "store.json"
        wanted = {"format": STORE_FORMAT, "version": STORE_FORMAT_VERSION,
                  "import": asdict(self.import_options)}
        if marker.exists():
            found = json.loads(marker.read_text())
            if found != wanted:
                raise StorageError(f"{self.root} was created with different settings",
                                   root=str(self.root), found=found, wanted=wanted)
            return
        self._write_atomically(marker, json.dumps(wanted, indent=2).encode())

    def path_for(self, cid: Cid) -> Path:
        text = str(cid)
        return self._blobs / text[-3:-1] / text

    def _write_atomically(self, target: Path, data: bytes) -> None:
        write_atomically(target, data, tmp_dir=self._tmp)

    def put(self, data: bytes) -> Cid:
        cid = compute_cid(data, self.import_options)
        path = self.path_for(cid)
        if self._holds_exactly(path, data):
            return cid  # idempotent: already stored intact
        # Absent, or a damaged copy: (re)write it, so putting a document again repairs it.
        try:
            self._write_atomically(path, data)
        except OSError as exc:
            raise StorageUnavailableError(f"cannot write to embedded store {self.root}: {exc}",
                                          root=str(self.root)) from exc
        return cid

    def put_many(self, documents: Sequence[bytes]) -> list[Cid]:
        """Like `put` for each document, with one filesystem sync for the batch instead of
        two fsyncs per document (see anchor.files.write_many_atomically)."""
        cids = [compute_cid(data, self.import_options) for data in documents]
        missing: dict[Path, bytes] = {}
        for cid, data in zip(cids, documents, strict=True):
            path = self.path_for(cid)
            if path not in missing and not self._holds_exactly(path, data):
                missing[path] = data
        try:
            write_many_atomically(list(missing.items()), tmp_dir=self._tmp)
        except OSError as exc:
            raise StorageUnavailableError(f"cannot write to embedded store {self.root}: {exc}",
                                          root=str(self.root)) from exc
        return cids

    @staticmethod
    def _holds_exactly(path: Path, data: bytes) -> bool:
        try:
            return path.stat().st_size == len(data) and path.read_bytes() == data
        except OSError:
            return False

    def get(self, cid: Cid) -> bytes:
        path = self.path_for(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ContentNotFoundError(f"{cid} is not in the embedded store",
                                       cid=str(cid)) from None
        except OSError as exc:
            raise StorageUnavailableError(f"cannot read {cid} from {self.root}: {exc}",
                                          cid=str(cid)) from exc
        if compute_cid(data, self.import_options) != cid:
            raise ContentIntegrityError(f"stored blob for {cid} does not match its CID",
                                        cid=str(cid), path=str(path))
        return data

    def has(self, cid: Cid) -> bool:
        return self.path_for(cid).is_file()

    def stat(self, cid: Cid) -> ContentStat:
        try:
            size = self.path_for(cid).stat().st_size
        except FileNotFoundError:
            raise ContentNotFoundError(f"{cid} is not in the embedded store",
                                       cid=str(cid)) from None
        return ContentStat(cid, size, PinState.PINNED, self.location)

    def pin_status(self, cid: Cid) -> PinState:
        # Nothing here is ever garbage-collected: stored means pinned.
        return PinState.PINNED if self.has(cid) else PinState.ABSENT

    def remove(self, cid: Cid) -> None:
        """Delete a document (used by the spool once Kubo holds it). Absent is fine."""
        self.path_for(cid).unlink(missing_ok=True)

    def cids(self) -> Iterator[Cid]:
        """Every CID stored, oldest write first (so spooled documents flush in order)."""
        entries: list[tuple[int, str, Cid]] = []
        for path in self._blobs.glob("*/*"):
            try:
                cid = Cid.parse(path.name)
                entries.append((path.stat().st_mtime_ns, path.name, cid))
            except (CidError, FileNotFoundError):
                continue  # not ours, or removed meanwhile
        for _, _, cid in sorted(entries, key=lambda entry: entry[:2]):
            yield cid

    def __len__(self) -> int:
        return sum(1 for _ in self._blobs.glob("*/*"))
