"""The private PostgreSQL 15 cluster the registry uses in tests and native deployments:
SQLAlchemy 2 + psycopg 3 against the real server, isolation between databases, and
no password in logs, reprs or errors."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from anchor.services.postgres import PostgresCluster, PostgresDatabase, scram_verifier
from tests.conftest import require


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, pool_pre_ping=True)


def test_postgres_sqlalchemy_roundtrip_in_fresh_database(postgres_database_url: str) -> None:
    engine = _engine(postgres_database_url)
    try:
        with engine.begin() as conn:
            assert conn.dialect.name == "postgresql"
            assert conn.dialect.driver == "psycopg"
            assert conn.execute(sa.text("SHOW server_version")).scalar_one().startswith("15.")
            # A fresh database: nothing from another test is here.
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text(
                "CREATE TABLE certificate (id serial PRIMARY KEY, digest bytea NOT NULL UNIQUE, "
                "issuer text NOT NULL, anchored_at timestamptz)"))
            conn.execute(sa.text("INSERT INTO certificate (digest, issuer) VALUES (:d, :i)"),
                         [{"d": bytes([n]) * 32, "i": "PTB"} for n in range(3)]
                         + [{"d": b"\xff" * 32, "i": "ВНИИМ"}])
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT issuer, count(*) FROM certificate GROUP BY issuer ORDER BY issuer")).all()
            assert [tuple(row) for row in rows] == [("PTB", 3), ("ВНИИМ", 1)]
        # A constraint violation rolls the whole transaction back.
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO certificate (digest, issuer) VALUES (:d, 'X')"),
                         {"d": b"\x07" * 32})
            conn.execute(sa.text("INSERT INTO certificate (digest, issuer) VALUES (:d, 'X')"),
                         {"d": b"\x00" * 32})
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM certificate")).scalar_one() == 4
    finally:
        engine.dispose()


def test_postgres_role_cannot_read_another_tests_database(
        postgres_cluster: PostgresCluster, postgres_database: PostgresDatabase) -> None:
    other = postgres_cluster.create_database("test_other_" + postgres_database.name[-8:])
    try:
        with _engine(other.url).begin() as conn:
            conn.execute(sa.text("CREATE TABLE secret_note (body text)"))
            conn.execute(sa.text("INSERT INTO secret_note VALUES ('other test only')"))
        # This test's role, with its own valid password, aimed at the other database.
        intruder = PostgresDatabase(other.name, postgres_database.role,
                                    postgres_database.password, other.host, other.port)
        with pytest.raises(sa.exc.OperationalError, match="permission denied for database"):
            _engine(intruder.url).connect()
        # Nor can the session's `certreg` role.
        certreg_role = PostgresDatabase(other.name, postgres_cluster.database.role,
                                        postgres_cluster.database.password, other.host,
                                        other.port)
        with pytest.raises(sa.exc.OperationalError, match="permission denied for database"):
            _engine(certreg_role.url).connect()
    finally:
        postgres_cluster.drop_database(other)
    assert other.name not in postgres_cluster.database_names()


def test_postgres_refuses_wrong_password_and_passwordless_superuser(
        postgres_cluster: PostgresCluster, postgres_database: PostgresDatabase) -> None:
    wrong = PostgresDatabase(postgres_database.name, postgres_database.role,
                             postgres_database.password + "x", postgres_database.host,
                             postgres_database.port)
    with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
        _engine(wrong.url).connect()
    # The superuser is reachable over the private socket only, never over TCP.
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=postgres_cluster.port, user="postgres",
                        dbname="postgres", connect_timeout=5).close()


def test_postgres_dropping_a_database_disconnects_its_clients(
        postgres_cluster: PostgresCluster) -> None:
    database = postgres_cluster.create_database("test_dropped")
    engine = _engine(database.url)
    conn = engine.connect()
    try:
        postgres_cluster.drop_database(database)
        assert database.name not in postgres_cluster.database_names()
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text("SELECT 1"))
    finally:
        conn.close()
        engine.dispose()


def test_postgres_password_never_in_logs_reprs_or_errors(
        postgres_cluster: PostgresCluster, postgres_database: PostgresDatabase) -> None:
    password = postgres_database.password
    engine = _engine(postgres_database.url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x int)"))
    # A failing statement, a failed login and a refused database all reach the server log.
    with pytest.raises(sa.exc.ProgrammingError), engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table"))
    engine.dispose()
    bad = PostgresDatabase(postgres_database.name, postgres_database.role, "wrong-" + password,
                           postgres_database.host, postgres_database.port)
    with pytest.raises(sa.exc.OperationalError) as failed_login:
        _engine(bad.url).connect()

    log_text = postgres_cluster.log_path.read_text(errors="replace")
    assert "password authentication failed" in log_text  # the log is the one being written
    for secret in (password, postgres_cluster.database.password):
        assert secret not in log_text
        assert secret not in repr(postgres_cluster)
        assert secret not in repr(postgres_database)
        assert secret not in postgres_database.redacted_url
        assert secret not in str(failed_login.value)
    # The server only ever saw a SCRAM verifier, not the password.
    assert scram_verifier(password).startswith("SCRAM-SHA-256$4096:")
    assert password not in scram_verifier(password)


def test_postgres_restart_keeps_data_port_and_password() -> None:
    require(os.geteuid() == 0, "needs root to run the server as `postgres`")
    workdir = Path(tempfile.mkdtemp(prefix="certreg-pg-restart-"))
    workdir.chmod(0o711)
    try:
        cluster = PostgresCluster.start(workdir, durable=False)
        url = cluster.url
        with _engine(url).begin() as conn:
            conn.execute(sa.text("CREATE TABLE kept (v text)"))
            conn.execute(sa.text("INSERT INTO kept VALUES ('survives a restart')"))
        cluster.stop()
        assert not cluster.running

        again = PostgresCluster.start(workdir)
        try:
            assert again.url == url
            with _engine(again.url).connect() as conn:
                assert conn.execute(sa.text("SELECT v FROM kept")).scalar_one() == \
                    "survives a restart"
            assert (workdir / "certreg.password").stat().st_mode & 0o077 == 0
        finally:
            again.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
