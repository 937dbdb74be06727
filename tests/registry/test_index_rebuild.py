"""The projection is disposable: delete the database, `certreg reindex`, and the registry
answers exactly as before; `certreg index --follow` keeps a database up to date."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from anchor.chain import RevocationReason
from registry.api.app import create_app
from registry.cli import EXIT_OK, main
from registry.db import ChainDocument, open_database
from registry.issuance import Issuer
from registry.settings import Settings
from tests.registry.conftest import MakeDccs

SEARCHES: tuple[dict[str, Any], ...] = (
    {}, {"serial": "TH477D"}, {"manufacturer": "The Manufacturer"}, {"number": "REBUILD-00003"},
    {"calibrated_from": "2020-01-01"}, {"page": 2, "page_size": 2})


def _answers(settings: Settings, hashes: list[str]) -> dict[str, Any]:
    """What the registry tells users: verdicts, records, histories and searches."""
    with TestClient(create_app(settings.model_copy(update={"rate_limit_per_second": 0}))) as api:
        return {
            "verify": [api.get(f"/v1/verify/{h}").json() for h in hashes],
            "certificates": [api.get(f"/v1/certificates/{h}").json() for h in hashes],
            "history": [api.get(f"/v1/certificates/{h}/history").json() for h in hashes],
            "search": [api.get("/v1/search", params=p).json() for p in SEARCHES],
            "revocations": api.get("/v1/revocations").json(),
            "issuers": api.get("/v1/issuers").json(),
        }


def test_reindex_after_deleting_the_database_answers_exactly_as_before(
        issuer: Issuer, settings: Settings, make_dccs: MakeDccs, tmp_path: Path) -> None:
    public = issuer.run(make_dccs(tmp_path / "in", 5, "REBUILD"), batch_size=2).submissions
    secret = issuer.run(make_dccs(tmp_path / "secret", 1, "HIDDEN"), encrypt=True).submissions
    hashes = [s.sha256 for s in (*public, *secret)]
    issuer.revoke(hashes[1], RevocationReason.ERROR)
    before = _answers(settings, hashes)
    assert [v["verdict"] for v in before["verify"]] == [
        "valid", "revoked", "valid", "valid", "valid", "valid"]
    assert before["search"][0]["total"] == 5  # the encrypted one is not searchable

    database = Path(settings.effective_database_url.removeprefix("sqlite:///"))
    for path in database.parent.glob(database.name + "*"):  # with -wal and -shm
        path.unlink()
    assert main(["reindex"]) == EXIT_OK
    assert _answers(settings, hashes) == before


def test_index_follow_indexes_new_anchors_until_sigterm(
        issuer: Issuer, issuer_env: dict[str, str], make_dccs: MakeDccs,
        tmp_path: Path) -> None:
    follower_url = f"sqlite:///{tmp_path / 'follower.db'}"
    env = {**os.environ, **issuer_env, "CERTREG_DATABASE_URL": follower_url}
    follower = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "index", "--follow", "--interval", "0.2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        issuer.run(make_dccs(tmp_path / "in", 3, "FOLLOW"), batch_size=3)
        sessions = open_database(follower_url)
        deadline = time.monotonic() + 60
        indexed = 0
        while time.monotonic() < deadline and indexed < 3:
            with sessions() as session:
                indexed = session.scalar(select(func.count()).select_from(ChainDocument)) or 0
            time.sleep(0.1)
        assert indexed == 3, "the follower did not index the new batch"
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=30) == EXIT_OK
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    out = follower.stdout.read() if follower.stdout else ""
    assert "1 batch(es)" in out
