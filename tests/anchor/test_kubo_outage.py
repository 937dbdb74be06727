"""Kubo goes down: puts are spooled on local disk and reported pending; when Kubo is back
they are pushed. Nothing is lost, even across a process restart."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from anchor.cid import compute_cid
from anchor.errors import StorageUnavailableError
from anchor.store import KuboStore, PinState, SpoolingStore
from tests.conftest import REPO_ROOT


def spooled_put_in_another_process(api_addr: str, spool_dir: Path, document: bytes) -> str:
    """Put through a SpoolingStore in a separate Python process, which then exits."""
    script = textwrap.dedent(f"""
        import sys
        from anchor.store import KuboStore, SpoolingStore
        store = SpoolingStore(KuboStore({api_addr!r}, timeout=2.0), {str(spool_dir)!r})
        print(store.put(sys.stdin.buffer.read()))
    """)
    result = subprocess.run([sys.executable, "-c", script], input=document, cwd=REPO_ROOT,
                            capture_output=True, check=True, timeout=60)
    return result.stdout.decode().strip()


def test_kubo_outage_spools_then_pushes_without_loss(kubo_factory, tmp_path: Path) -> None:
    node = kubo_factory("outage")
    spool_dir = tmp_path / "spool"
    store = SpoolingStore(KuboStore(node.api_multiaddr, timeout=2.0), spool_dir)
    before = b"<dcc>issued while Kubo is up</dcc>"
    during = [b"<dcc>issued during the outage #1</dcc>", bytes(300_000) + b"#2",
              b"<dcc>issued during the outage #3</dcc>"]

    assert store.put(before) == compute_cid(before)
    assert store.pin_status(compute_cid(before)) is PinState.PINNED
    assert store.pending() == []

    node.stop()
    # Accepted anyway, one by one or as a batch, under the CID Kubo will give it, and
    # reported pending.
    during_cids = [store.put(during[0]), *store.put_many(during[1:])]
    assert during_cids == [compute_cid(document) for document in during]
    for cid, document in zip(during_cids, during, strict=True):
        assert store.pin_status(cid) is PinState.PENDING
        assert store.stat(cid).location == "spool"
        assert store.get(cid) == document  # readable from the spool meanwhile
    # A separate process (e.g. the API worker) spools too, then exits.
    other_document = b"<dcc>spooled by another process</dcc>"
    other_cid = spooled_put_in_another_process(node.api_multiaddr, spool_dir, other_document)
    assert other_cid == str(compute_cid(other_document))

    # Flushing while Kubo is still down keeps everything pending.
    report = store.flush()
    assert report.pushed == () and not report.complete
    # A fresh store object (as after a restart) sees the same pending set from disk.
    restarted = SpoolingStore(KuboStore(node.api_multiaddr, timeout=2.0), spool_dir)
    assert set(map(str, restarted.pending())) == {*map(str, during_cids), other_cid}
    with pytest.raises(StorageUnavailableError):
        restarted.primary.get(compute_cid(before))

    node.restart()
    report = restarted.push_pending()
    assert report.complete
    assert set(map(str, report.pushed)) == {*map(str, during_cids), other_cid}
    assert restarted.pending() == []
    kubo_only = KuboStore(node.api_multiaddr)
    for document in [before, *during, other_document]:
        cid = compute_cid(document)
        assert kubo_only.get(cid) == document
        assert kubo_only.pin_status(cid) is PinState.PINNED


def test_kubo_outage_flush_is_idempotent_and_resumable(kubo_factory, tmp_path: Path) -> None:
    node = kubo_factory("outage-resume")
    store = SpoolingStore(KuboStore(node.api_multiaddr, timeout=2.0), tmp_path / "spool")
    node.stop()
    cid = store.put(b"pending document")
    node.restart()
    # Simulate a crash after Kubo accepted the document but before the spool forgot it:
    # the document is on Kubo and still in the spool. Flushing again must not fail.
    assert store.primary.put(b"pending document") == cid
    report = store.flush()
    assert report.complete and report.already_present == (cid,)
    assert store.pending() == []
    assert store.flush().pushed == ()
