"""Engines, sessions and migrations for the registry database.

SQLite (default: `<data_dir>/certreg.db`) runs in WAL mode with foreign keys on and
`synchronous=NORMAL` (durable across process crashes, which is what the resumable
pipeline needs; a power loss may lose the last commits, never corrupt). PostgreSQL
URLs (`postgresql+psycopg://...`) work unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from anchor.digest import canonical_json_text
from registry.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 65_536


def create_database_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their directory created and pragmas set."""
    try:
        parsed = make_url(url)
    except Exception:
        # The URL may carry a password: do not echo it.
        raise ConfigurationError("the database URL is malformed") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # JSON columns hold canonical_json_text, as the text issuance encodes once does
        # (registry.db.models.PublishedJson): one row, one text, however it was written.
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                               json_serializer=canonical_json_text)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_pre_ping=True, json_serializer=canonical_json_text)
    # Bulk inserts (the indexer's, the outbox's) as INSERTs of up to 1,000 rows each, not
    # one statement per row: each statement also fires the projection-generation
    # triggers, which are per statement on PostgreSQL (migration 0011).
    engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Statement journals (and temporary tables) in memory, not in a temporary file: in
    # a file they took 145,000 pwrite calls, about 290 MB, per 1,000-document batch
    # that the issuing process indexed (strace of scripts/bench_issuance.py). They only
    # serve a statement's rollback; crash safety is the WAL's, which this leaves as is.
    cursor.execute("PRAGMA temp_store=MEMORY")
    # 64 MiB of page cache per connection (the default is 2 MiB), allocated as used:
    # the issuing process re-read pages from the OS 30 times per document (pread64).
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a '%' in a password must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(url: str) -> None:
    """Bring the database at `url` to the newest schema (creates it from empty)."""
    engine = create_database_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> sessionmaker[Session]:
    """Migrate (by default) and return a session factory for `url`."""
    if migrate:
        upgrade_to_head(url)
    return sessionmaker(create_database_engine(url), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any exception."""
    with factory() as session, session.begin():
        yield session


def ping(factory: sessionmaker[Session]) -> None:
    """Raise unless the database answers a trivial query (readiness checks)."""
    with factory() as session:
        session.execute(text("SELECT 1"))
