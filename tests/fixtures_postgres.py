"""PostgreSQL fixtures (a pytest plugin): one real cluster per session, a fresh database
per test.

Registered from tests/conftest.py with `pytest_plugins = ["tests.fixtures_postgres"]`.
Needs the Debian package `postgresql` (15) and root (the server runs as `postgres`
through runuser); without them tests fail in CI and are skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from anchor.errors import ServiceError
from anchor.services.postgres import PostgresCluster, PostgresDatabase, postgres_bin_dir
from tests.conftest import require


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A private cluster on a free loopback port, deleted at the end of the session."""
    try:
        postgres_bin_dir()
    except ServiceError as exc:
        require(False, exc.message)
    require(os.geteuid() == 0, "PostgreSQL fixtures need root to run the server as `postgres`")
    # Not under pytest's tmp_path: its parent is 0700 root, which `postgres` cannot enter.
    workdir = Path(tempfile.mkdtemp(prefix="certreg-pg-"))
    workdir.chmod(0o711)
    try:
        # fsync off: the cluster is thrown away, and CREATE DATABASE per test gets cheap.
        cluster = PostgresCluster.start(workdir, durable=False)
    except ServiceError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        require(False, f"PostgreSQL could not start: {exc} {exc.details.get('log', '')}")
        raise
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """SQLAlchemy URL (postgresql+psycopg) of the session's `certreg` database."""
    return postgres_cluster.url


@pytest.fixture
def postgres_database(postgres_cluster: PostgresCluster) -> Iterator[PostgresDatabase]:
    """An empty database of this test's own, owned by a role of its own; dropped after."""
    database = postgres_cluster.create_database(f"test_{uuid.uuid4().hex[:16]}")
    yield database
    with contextlib.suppress(ServiceError):
        postgres_cluster.drop_database(database)


@pytest.fixture
def postgres_database_url(postgres_database: PostgresDatabase) -> str:
    """SQLAlchemy URL of this test's fresh database."""
    return postgres_database.url
