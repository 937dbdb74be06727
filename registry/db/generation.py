"""The projection generation: how an API worker learns, without a query per request, that
what verdicts, lookups and search read has changed.

Triggers (migration 0011) advance `projection_generation.generation` in the transaction
of every write to those tables, whoever makes it (the indexer, `certreg reindex`, an
operator's psql): a response kept for generation g is the response the database gave
at g. `ProjectionWatch.current()` is the newest generation (with the indexer's last
block) the worker has been told of, or None when it cannot know (then callers take the
query path and keep nothing):

* PostgreSQL: a dedicated connection LISTENs on `certreg_projection` in a background
  thread; the triggers NOTIFY it, which PostgreSQL delivers only on commit. On a lost
  connection the generation is unknown until it is listening again and has re-read it.
* SQLite: `PRAGMA data_version` on a dedicated connection (a local read, no I/O) says
  whether any other connection committed since; only then is the counter read again.

A response kept for g may be served after a commit until the worker is told of it;
never once it has been.

For migration authors: on SQLite, `batch_alter_table` rebuilds a table and drops its
triggers; a migration rebuilding one of WATCHED_TABLES must create its triggers again
(`trigger_sql`), or the workers would keep responses past writes to it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

CHANNEL = "certreg_projection"
# What verdicts, lookups and search read. (indexer_state only moves the indexed block:
# it notifies, without a new generation.)
WATCHED_TABLES = ("chain_documents", "chain_batches", "chain_issuers", "chain_revocations",
                  "chain_accreditations", "chain_signing_certificates", "document_identifiers",
                  "certificate_citations", "verdict_inputs", "evidence_renewals")
_READ = ("SELECT (SELECT generation FROM projection_generation WHERE id = 1), "
         "(SELECT last_block FROM indexer_state LIMIT 1)")
_RECONNECT_SECONDS = 1.0
_APPLICATION = "certreg-projection-watch"  # as pg_stat_activity shows the listener
_log = logging.getLogger(__name__)


def trigger_sql(dialect: str) -> list[str]:
    """The statements creating the generation triggers on `dialect`."""
    bump = "UPDATE projection_generation SET generation = generation + 1 WHERE id = 1"
    if dialect == "postgresql":
        statements = [
            "CREATE FUNCTION certreg_projection_changed() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN {bump}; PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$",
            "CREATE FUNCTION certreg_indexed_block_changed() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$",
            "CREATE TRIGGER certreg_indexed_block AFTER INSERT OR UPDATE OR DELETE OR "
            "TRUNCATE ON indexer_state FOR EACH STATEMENT EXECUTE FUNCTION "
            "certreg_indexed_block_changed()"]
        statements += [f"CREATE TRIGGER certreg_generation AFTER INSERT OR UPDATE OR DELETE "
                       f"OR TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION "
                       "certreg_projection_changed()" for table in WATCHED_TABLES]
        return statements
    return [f"CREATE TRIGGER certreg_generation_{table}_{op.lower()} AFTER {op} ON {table} "
            f"BEGIN {bump}; END" for table in WATCHED_TABLES
            for op in ("INSERT", "UPDATE", "DELETE")]


def drop_triggers_sql(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [f"DROP TRIGGER certreg_generation ON {table}" for table in WATCHED_TABLES] + [
            "DROP TRIGGER certreg_indexed_block ON indexer_state",
            "DROP FUNCTION certreg_projection_changed()",
            "DROP FUNCTION certreg_indexed_block_changed()"]
    return [f"DROP TRIGGER certreg_generation_{table}_{op.lower()}"
            for table in WATCHED_TABLES for op in ("INSERT", "UPDATE", "DELETE")]


@dataclass(frozen=True)
class Generation:
    generation: int
    indexed_block: int | None  # the indexer's last block at this reading


def database_generation(engine: Engine) -> Generation | None:
    """The generation as the database holds it now (None before migration 0011)."""
    with engine.connect() as connection:
        row = connection.exec_driver_sql(_READ).one()
    return None if row[0] is None else Generation(int(row[0]), row[1])


def _read(dbapi_connection: Any) -> Generation | None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(_READ)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None or row[0] is None else Generation(int(row[0]), row[1])


def _dedicated_connection(engine: Engine, **extra: Any) -> Any:
    """A DBAPI connection of the engine's database outside its pool (held for good)."""
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    return engine.dialect.connect(*cargs, **{**cparams, **extra})


class ProjectionWatch:
    """The newest projection generation this process has been told of."""

    def current(self) -> Generation | None:
        return None

    def wait_for(self, generation: int, timeout: float = 10.0) -> bool:
        """Whether the watch reached `generation` within `timeout` seconds (for tests and
        tools that must see a commit they made)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.current()
            if seen is not None and seen.generation >= generation:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def close(self) -> None:
        pass


class SqliteWatch(ProjectionWatch):
    def __init__(self, engine: Engine) -> None:
        self._connection = _dedicated_connection(engine, check_same_thread=False,
                                                 isolation_level=None)
        self._lock = threading.Lock()
        self._version: int | None = None
        self._seen: Generation | None = None

    def current(self) -> Generation | None:
        with self._lock:
            try:
                version = self._connection.execute("PRAGMA data_version").fetchone()[0]
                if version != self._version:
                    # Version first, then the counter: a commit in between is seen now
                    # and again (harmlessly) on the next call.
                    self._seen, self._version = _read(self._connection), version
            except Exception:  # unknown is the safe answer
                self._seen = self._version = None
            return self._seen

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class _Told:
    """What the listening thread shares with its watch (not the watch itself: the thread
    ends once the watch is collected, as an app's in tests are)."""

    def __init__(self) -> None:
        self.seen: Generation | None = None
        self.condition = threading.Condition()
        self.stopped = threading.Event()

    def set(self, seen: Generation | None) -> None:
        with self.condition:
            self.seen = seen
            self.condition.notify_all()


def _listen(told: _Told, engine_url: Any, dialect: Any) -> None:
    cargs, cparams = dialect.create_connect_args(engine_url)
    while not told.stopped.is_set():
        connection = None
        try:
            connection = dialect.connect(*cargs, **{**cparams, "autocommit": True,
                                                   "application_name": _APPLICATION})
            connection.execute(f"LISTEN {CHANNEL}")
            # Listening first, then reading: no commit falls between the two.
            told.set(_read(connection))
            while not told.stopped.is_set():
                heard = False
                for _ in connection.notifies(timeout=1.0, stop_after=1):
                    heard = True
                if heard:
                    told.set(_read(connection))
        except Exception as error:  # reconnect; unknown until then
            told.set(None)
            _log.warning("projection watch lost its connection (%s); reconnecting",
                         type(error).__name__)
            told.stopped.wait(_RECONNECT_SECONDS)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
    told.set(None)


class PostgresWatch(ProjectionWatch):
    def __init__(self, engine: Engine) -> None:
        self.database = _database_key(engine)
        self._told = _Told()
        self._thread = threading.Thread(target=_listen, name="certreg-projection-watch",
                                        args=(self._told, engine.url, engine.dialect),
                                        daemon=True)
        self._thread.start()
        weakref.finalize(self, self._told.stopped.set)
        _LISTENING.add(self)

    def current(self) -> Generation | None:
        return self._told.seen

    def wait_for(self, generation: int, timeout: float = 10.0) -> bool:
        return self._wait_until(
            lambda seen: seen is not None and seen.generation >= generation, timeout)

    def wait_settled(self, generation: int, timeout: float) -> None:
        """Until the watch knows `generation` or knows nothing (then its worker reads the
        database anyway), at most `timeout` seconds."""
        self._wait_until(lambda seen: seen is None or seen.generation >= generation, timeout)

    def _wait_until(self, done: Callable[[Generation | None], bool], timeout: float) -> bool:
        """Whether what the listener was told met `done` within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        told = self._told
        with told.condition:
            while not done(told.seen):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                told.condition.wait(left)
            return True

    def close(self) -> None:
        self._told.stopped.set()
        self._thread.join(5)


_LISTENING: weakref.WeakSet[PostgresWatch] = weakref.WeakSet()


def _database_key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def settle(engine: Engine, timeout: float = 2.0) -> None:
    """Return once every watch of this process on the engine's database has been told of
    the generation the database is at now: a writer sharing a process with API workers
    (the indexer under `certreg up`, tests) calls it after committing, so what it wrote
    is what the next request reads. Without such watches it costs nothing."""
    database = _database_key(engine)
    watches = [w for w in list(_LISTENING) if w.database == database]
    if not watches:
        return
    now = database_generation(engine)
    if now is not None:
        for watch in watches:
            watch.wait_settled(now.generation, timeout)


def watch_projection(engine: Engine) -> ProjectionWatch:
    """The watch suiting the engine's database (one that never knows for an in-memory
    SQLite database, which other connections cannot see)."""
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        return PostgresWatch(engine)
    if backend == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        return SqliteWatch(engine)
    return ProjectionWatch()
