"""The projection generation: database triggers count every write to what verdicts,
lookups and search read, and an API worker's watch learns of commits (on PostgreSQL
from NOTIFY, delivered on commit; on SQLite from `PRAGMA data_version`), on SQLite and
on a real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from registry.db import create_database_engine, upgrade_to_head
from registry.db.generation import (
    Generation,
    PostgresWatch,
    ProjectionWatch,
    database_generation,
    settle,
    watch_projection,
)

ISSUER = "ab" * 32
_INSERT_ISSUER = ("INSERT INTO chain_issuers (issuer_id, country, kind, status, admin, "
                  "metadata_cid, operators, registered_block, updated_block) VALUES "
                  "(:issuer, 'DE', 'nmi', 'active', '0x00', '', '[]', 1, 1)")


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = (request.getfixturevalue("postgres_database_url") if request.param == "postgres"
           else f"sqlite:///{tmp_path / 'certreg.db'}")
    upgrade_to_head(url)
    engine = create_database_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def watch(engine: Engine) -> Iterator[ProjectionWatch]:
    watch = watch_projection(engine)
    assert watch.wait_for(0), "the watch never read the generation"
    yield watch
    watch.close()


def _register_issuer(engine: Engine, issuer: str = ISSUER) -> None:
    with engine.begin() as connection:
        connection.execute(text(
            _INSERT_ISSUER), {"issuer": issuer})


def _seen(watch: ProjectionWatch, generation: int) -> Generation:
    assert watch.wait_for(generation, timeout=10), (watch.current(), generation)
    seen = watch.current()
    assert seen is not None
    return seen


def test_generation_counts_writes_to_the_projection_and_the_watch_learns_of_them(
        engine: Engine, watch: ProjectionWatch) -> None:
    before = database_generation(engine)
    assert before is not None
    _register_issuer(engine)
    after = database_generation(engine)
    assert after is not None and after.generation > before.generation
    assert _seen(watch, after.generation).generation == after.generation
    with engine.begin() as connection:
        connection.execute(text("UPDATE chain_issuers SET status = 'suspended'"))
    suspended = database_generation(engine)
    assert suspended is not None and suspended.generation > after.generation
    _seen(watch, suspended.generation)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM chain_issuers"))
    _seen(watch, suspended.generation + 1)


def test_indexed_block_moves_without_a_new_generation(engine: Engine,
                                                      watch: ProjectionWatch) -> None:
    start = database_generation(engine)
    assert start is not None and start.indexed_block is None
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO indexer_state (contract_address, chain_id, deployment_block, "
            "last_block, updated_at) VALUES ('0x' || :zeros, 1, 1, 41, '2026-01-01')"),
            {"zeros": "0" * 40})
    deadline = time.monotonic() + 10
    while (watch.current() or start).indexed_block != 41:
        assert time.monotonic() < deadline, watch.current()
        time.sleep(0.01)
    now = database_generation(engine)
    assert now == Generation(start.generation, 41)


def test_watch_learns_only_of_committed_writes(engine: Engine,
                                               watch: ProjectionWatch) -> None:
    start = database_generation(engine)
    assert start is not None
    with engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(text(
            _INSERT_ISSUER), {"issuer": ISSUER})
        assert not watch.wait_for(start.generation + 1, timeout=0.3)
        transaction.rollback()
    assert not watch.wait_for(start.generation + 1, timeout=0.3)
    _register_issuer(engine)
    _seen(watch, start.generation + 1)


def test_settle_returns_once_this_process_watches_have_seen_the_commit(
        engine: Engine, watch: ProjectionWatch) -> None:
    for n in range(5):
        _register_issuer(engine, f"{n:064x}")
        settle(engine)
        now = database_generation(engine)
        assert now is not None
        seen = watch.current()
        assert seen is not None and seen.generation == now.generation


def test_postgres_watch_is_unknown_while_its_connection_is_lost_then_catches_up(
        postgres_database_url: str) -> None:
    upgrade_to_head(postgres_database_url)
    engine = create_database_engine(postgres_database_url)
    watch = watch_projection(engine)
    try:
        assert isinstance(watch, PostgresWatch) and watch.wait_for(0)
        with engine.begin() as connection:
            killed = connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'certreg-projection-watch'")).scalars().all()
        assert killed == [True]
        deadline = time.monotonic() + 10
        while watch.current() is not None:  # unknown: callers take the query path
            assert time.monotonic() < deadline
            time.sleep(0.005)
        _register_issuer(engine)  # a commit while it reconnects is not missed
        now = database_generation(engine)
        assert now is not None
        assert _seen(watch, now.generation).generation == now.generation
    finally:
        watch.close()
        engine.dispose()
