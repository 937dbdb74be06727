"""The issuance pipeline and its projection on a real PostgreSQL, as on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from anchor.receipt import Verdict, verify_receipt
from registry.db import ChainDocument, IssuedDocument, open_database
from registry.issuance import Issuer, SubmissionStatus
from registry.settings import load_settings
from tests.registry.conftest import MakeDccs


@pytest.fixture
def postgres_issuer(issuer_env: dict[str, str], postgres_database_url: str,
                    monkeypatch: pytest.MonkeyPatch) -> Issuer:
    for name, value in {**issuer_env, "CERTREG_DATABASE_URL": postgres_database_url}.items():
        monkeypatch.setenv(name, value)
    return Issuer.from_settings(load_settings())


def test_postgres_issuance_resumes_and_projects_like_sqlite(
        postgres_issuer: Issuer, make_dccs: MakeDccs, tmp_path: Path,
        postgres_database_url: str) -> None:
    paths = make_dccs(tmp_path / "in", 12, "PG")
    first = postgres_issuer.run(paths[:7], batch_size=5)
    assert [s.status for s in first.submissions] == [SubmissionStatus.ACCEPTED] * 7
    # A second run (as after a restart) anchors only what is new.
    second = postgres_issuer.run(paths, batch_size=5)
    statuses = [s.status for s in second.submissions]
    assert statuses[:7] == [SubmissionStatus.ALREADY_ANCHORED] * 7
    assert statuses[7:] == [SubmissionStatus.ACCEPTED] * 5
    assert postgres_issuer.client.batch_count() == 3  # 5 + 2, then 5

    sessions = open_database(postgres_database_url)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(IssuedDocument)) == 12
        assert session.scalar(select(func.count()).select_from(ChainDocument)) == 12
    for submission in second.submissions:
        receipt = submission.receipt
        assert receipt is not None
        assert verify_receipt(receipt, postgres_issuer.client).verdict is Verdict.VALID
