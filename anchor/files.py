"""Crash-safe file writes, shared by the stores, receipts and deployment records."""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def write_atomically(target: Path, data: bytes, *, tmp_dir: Path | None = None) -> None:
    """Write `data` to `target` so readers see either no file or the complete one.

    A temporary file on the same filesystem is written and fsynced, renamed over the
    target, and the directory is fsynced so the rename itself survives a crash.
    """
    _make_directories({target.parent})
    fd, tmp_name = _create_temporary(tmp_dir or target.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def write_many_atomically(files: Sequence[tuple[Path, bytes]], *,
                          tmp_dir: Path | None = None) -> None:
    """`write_atomically` for many files at once, with one durable sync per step, not two
    fsyncs per file.

    Every temporary file is written, then the filesystem is synced (the data is on disk),
    then all are renamed into place and the filesystem is synced again (the renames are
    on disk). A crash leaves each target absent or complete, never partial, and when the
    call returns all of them survive a crash. On a system without syncfs(2) each file and
    directory is fsynced instead.
    """
    if not files:
        return
    written: list[tuple[str, Path]] = []
    _make_directories({target.parent for target, _ in files} | ({tmp_dir} if tmp_dir else set()))
    try:
        for target, data in files:
            fd, tmp_name = _create_temporary(tmp_dir or target.parent)
            written.append((tmp_name, target))
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                if _syncfs is None:
                    tmp.flush()
                    os.fsync(tmp.fileno())
        _sync_filesystem_of(written[0][0])
        for tmp_name, target in written:
            os.replace(tmp_name, target)
    except BaseException:
        for tmp_name, _ in written:
            Path(tmp_name).unlink(missing_ok=True)
        raise
    if _syncfs is not None:
        _sync_filesystem_of(str(files[0][0]))
        return
    for directory in {target.parent for target, _ in files}:
        _fsync_directory(directory)


def _make_directories(directories: Iterable[Path]) -> None:
    """Each directory once, and a stat where it exists (a store's shards, after the first
    writes): mkdir with exist_ok costs an exception and a stat per file."""
    for directory in directories:
        if not os.path.isdir(directory):
            directory.mkdir(parents=True, exist_ok=True)


_TEMPORARY_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_temporary_numbers = itertools.count()


def _create_temporary(directory: Path) -> tuple[int, str]:
    """A new file (mode 0600) for a write in progress, as tempfile.mkstemp makes one but
    named by process, thread and a counter instead of random letters; O_EXCL still
    refuses an existing name (a crashed process's leftover), and the next is tried."""
    prefix = f"{directory}{os.sep}.tmp-{os.getpid()}-{threading.get_ident()}-"
    while True:
        name = f"{prefix}{next(_temporary_numbers)}"
        try:
            return os.open(name, _TEMPORARY_FLAGS, 0o600), name
        except FileExistsError:
            continue


def _fsync_directory(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _load_syncfs() -> Any:  # the ctypes function, or None
    name = ctypes.util.find_library("c")
    try:
        syncfs = ctypes.CDLL(name, use_errno=True).syncfs
    except (OSError, AttributeError, TypeError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    return syncfs


_syncfs = _load_syncfs()


def _sync_filesystem_of(path: str) -> None:
    """syncfs(2): write back and wait for everything dirty on `path`'s filesystem; it
    reports write-back errors since Linux 5.8."""
    if _syncfs is None:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if _syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs failed: {os.strerror(errno)}")
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret (key, password) into a file that is mode 0600 from its creation:
    a chmod after writing would leave a window in which others could read it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
