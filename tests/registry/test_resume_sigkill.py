"""The key resumability test: `certreg issue` over 500 DCCs, SIGKILLed again and again.

The CLI runs in a subprocess against the session's anvil and a real embedded store. It
is killed (SIGKILL: no cleanup, no flush) at 23 planned points — during start-up, in
the middle of submission, sealing, anchoring, indexing and receipt writing — each after
a random delay (fixed seed) counted from the moment the CLI announces the targeted
phase on stderr. Then it is re-run until it exits 0, and the result is checked against
the chain itself: every document anchored exactly once, every receipt valid on chain,
no orphan batch, as many batches on chain as in the database.
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from anchor.chain import RegistryClient, connect
from anchor.cid import Cid
from anchor.merkle import MerkleBatch
from anchor.receipt import Receipt, Verdict, verify_receipt
from anchor.store import EmbeddedStore
from registry.db import BatchState, DocumentState, IssuedDocument, OutboxBatch, open_database
from registry.index import BatchManifest
from tests.conftest import REPO_ROOT
from tests.registry.conftest import MakeDccs

DOCUMENTS = 500
BATCH_SIZE = 25
SEED = 4_2024
MIN_KILLS = 20
# Where each planned kill is aimed, in order, and the range of its random delay (seconds)
# after that phase's announcement ("start" counts from spawning the process). Later
# phases are short (a few hundredths of a second for 20 batches on an idle machine),
# so their delays are too: longer ones land in the phase after.
KILL_PLAN: tuple[tuple[str, float, float], ...] = (
    ("start", 0.2, 1.3), ("start", 0.2, 1.3),
    *(("submit", 0.05, 0.7),) * 8,
    *(("seal", 0.0, 0.02),) * 3,
    *(("anchor", 0.0, 0.05),) * 4,
    *(("index", 0.0, 0.05),) * 3,
    *(("receipts", 0.0, 0.1),) * 3,
)
FINAL_RUNS = 5


@pytest.fixture(scope="module")
def five_hundred_dccs(make_dccs: MakeDccs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("resume") / "dccs"
    make_dccs(directory, DOCUMENTS, "RESUME")
    return directory


class CliRun:
    """One `certreg issue` subprocess whose stderr phase lines are watched live."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "registry.cli", "issue", str(directory),
             "--batch-size", str(BATCH_SIZE), "--json"],
            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.phases: list[str] = []
        self.stderr: list[str] = []
        self.closed = False  # the end-of-stream marker was taken from the queue
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def _drain(self, timeout: float) -> bool:
        """Collect lines for up to `timeout`; False once the process closed stderr."""
        if self.closed:
            # The marker comes once: without this, finish() after wait_for_phase() saw
            # the end would wait forever for a second one.
            return False
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return True
        if line is None:
            self.closed = True
            return False
        self.stderr.append(line)
        if line.startswith("certreg: phase "):
            self.phases.append(line.split()[2])
        return True

    def wait_for_phase(self, phase: str, limit: float = 120.0) -> bool:
        deadline = time.monotonic() + limit
        while phase != "start" and phase not in self.phases:
            if not self._drain(0.05) or time.monotonic() > deadline:
                return False
        return True

    def kill_after(self, delay: float) -> str | None:
        """SIGKILL after `delay` s unless it ended; the phase it was in, or None if it ended."""
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return None
            self._drain(min(0.01, max(0.0, deadline - time.monotonic())))
        if self.process.poll() is not None:
            return None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        return self.phases[-1] if self.phases else "start"

    def finish(self, limit: float = 300.0) -> int:
        self.process.wait(timeout=limit)
        while self._drain(0.5):
            pass
        return self.process.returncode


def test_resume_sigkill_at_random_points_anchors_every_document_exactly_once(
        five_hundred_dccs: Path, issuer_env: dict[str, str], world) -> None:
    env = {**os.environ, **issuer_env, "PYTHONPATH": str(REPO_ROOT)}
    rng = random.Random(SEED)
    killed_in: list[str] = []
    batch_in_flight = 0
    completed = False
    for target, low, high in KILL_PLAN:
        run = CliRun(five_hundred_dccs, env)
        if not run.wait_for_phase(target):
            code = run.finish()
            assert code == 0, "".join(run.stderr)
            completed = True
            break
        delay = rng.uniform(low, high)
        phase = run.kill_after(delay)
        print(f"kill aimed at {target:8} +{delay:.3f}s: "
              f"{'exited first' if phase is None else 'killed in ' + phase} "
              f"(phases seen: {' '.join(run.phases)})")
        if phase is None:
            code = run.finish()
            assert code == 0, "".join(run.stderr)
            completed = True
            break
        killed_in.append(phase)
        if _batches_in_flight(issuer_env):
            batch_in_flight += 1
    print(f"\nSIGKILLed {len(killed_in)} times, in phases: {Counter(killed_in)}; "
          f"{batch_in_flight} left a batch sealed but not yet anchored and indexed")
    assert len(killed_in) >= MIN_KILLS, (
        f"only {len(killed_in)} kills before the work was done: {killed_in}")
    assert "submit" in killed_in
    # Full batches are anchored while submission goes on, so the phase announced last
    # does not tell whether a kill interrupted anchoring; the outbox does.
    assert batch_in_flight >= 1, "no kill interrupted a batch between sealing and indexing"

    for _ in range(FINAL_RUNS if not completed else 1):
        run = CliRun(five_hundred_dccs, env)
        code = run.finish()
        if code == 0:
            break
    assert code == 0, "".join(run.stderr)

    _check_everything_anchored_exactly_once(five_hundred_dccs, issuer_env, world)


def _batches_in_flight(issuer_env: dict[str, str]) -> bool:
    """Whether the outbox holds a batch sealed or submitted but not yet anchored (seen on
    chain by the indexer)."""
    url = issuer_env.get("CERTREG_DATABASE_URL")
    if url is None:
        path = Path(issuer_env["CERTREG_DATA_DIR"]) / "certreg.db"
        if not path.exists():
            return False
        url = f"sqlite:///{path}"
    sessions = open_database(url, migrate=False)
    try:
        with sessions() as session:
            return session.scalar(select(func.count()).select_from(OutboxBatch).where(
                OutboxBatch.state != BatchState.ANCHORED.value)) > 0
    except DBAPIError:  # killed before the schema was created
        return False
    finally:
        sessions.kw["bind"].dispose()


def _check_everything_anchored_exactly_once(directory: Path, issuer_env: dict[str, str],
                                           world) -> None:
    data_dir = Path(issuer_env["CERTREG_DATA_DIR"])
    client = RegistryClient(connect(issuer_env["CERTREG_RPC_URL"]),
                            issuer_env["CERTREG_CONTRACT_ADDRESS"])
    store = EmbeddedStore(data_dir / "blobs")

    # What the chain says, read from the chain: every BatchAnchored and its manifest.
    anchored = [e for e in client.events(world.deployer.deployment_block, "latest")
                if e.name == "BatchAnchored"]
    on_chain: Counter[str] = Counter()
    for event in anchored:
        manifest = BatchManifest.from_bytes(store.get(Cid.parse(event.args["manifestCid"])))
        members = [bytes.fromhex(d.sha256) for d in manifest.documents]
        assert MerkleBatch.of(members).root == bytes(event.args["root"]), "orphan batch"
        assert len(members) == event.args["count"]
        on_chain.update(d.sha256 for d in manifest.documents)
    assert client.batch_count() == len(anchored)

    # What the database says, about the files we gave it.
    sessions = open_database(issuer_env.get("CERTREG_DATABASE_URL")
                             or f"sqlite:///{data_dir / 'certreg.db'}")
    with sessions() as session:
        documents = session.scalars(select(IssuedDocument)).all()
        batches = session.scalars(select(OutboxBatch)).all()
    source_hashes = {hashlib.sha256(p.read_bytes()).hexdigest()
                     for p in directory.glob("*.xml")}
    assert len(source_hashes) == DOCUMENTS
    assert {d.source_sha256 for d in documents} == source_hashes, "a document was lost"
    assert len(documents) == DOCUMENTS, "a document was signed and recorded twice"
    assert set(on_chain) == {d.sha256 for d in documents}
    assert set(on_chain.values()) == {1}, "a document is in more than one anchored batch"
    assert {d.state for d in documents} == {DocumentState.ANCHORED}
    assert {b.state for b in batches} == {BatchState.ANCHORED}
    assert len(batches) == client.batch_count()
    assert {b.root for b in batches} == {bytes(e.args["root"]).hex() for e in anchored}
    for batch in batches:
        assert sum(d.batch_root == batch.root for d in documents) == batch.count

    # Every receipt on disk verifies against the chain, with the stored bytes.
    receipt_files = sorted((data_dir / "receipts").glob("*.json"))
    assert {p.stem for p in receipt_files} == set(on_chain)
    for path in receipt_files:
        receipt = Receipt.from_json(path.read_bytes())
        stored = store.get(Cid.parse(receipt.cid))
        verification = verify_receipt(receipt, client, stored)
        assert verification.verdict is Verdict.VALID, verification.first_failure
