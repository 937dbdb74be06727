"""A private PostgreSQL cluster (Debian's `postgresql` package) on 127.0.0.1.

`initdb` and `postgres` refuse to run as root, so the cluster runs as the `postgres`
system user (`runuser`), in a data directory owned by it. Clients connect over TCP on
loopback with SCRAM passwords only; the superuser is reachable only through a Unix
socket inside a directory nobody but `postgres` (and root) can enter.

Passwords never reach a command line, the server log or an error message: roles get a
SCRAM verifier computed here (the server never sees the password itself), and the
password of the default `certreg` role is kept in a 0600 file next to the data so a
restarted cluster has the same URL.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from anchor.errors import ServiceError
from anchor.files import write_private
from anchor.services._process import (
    free_port,
    port_open,
    run_in_foreground,
    spawn_service,
    stop_process,
    wait_until,
)

POSTGRES_VERSION = 15
DEFAULT_PORT = 5432
SYSTEM_USER = "postgres"
DEFAULT_ROLE = "certreg"
DEFAULT_DATABASE = "certreg"
_SUPERUSER = "postgres"
_PASSWORD_FILE = "certreg.password"
_PORT_FILE = "certreg.port"
# Role and database names we create: lower-case identifiers, so no quoting subtleties.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SCRAM_ITERATIONS = 4096


def postgres_bin_dir() -> Path:
    """Where Debian installs the server binaries: $CERTREG_PG_BIN or /usr/lib/postgresql/15/bin."""
    configured = os.environ.get("CERTREG_PG_BIN")
    bin_dir = Path(configured) if configured else Path(
        f"/usr/lib/postgresql/{POSTGRES_VERSION}/bin")
    if not (bin_dir / "postgres").is_file() or not (bin_dir / "initdb").is_file():
        raise ServiceError(f"PostgreSQL {POSTGRES_VERSION} not found in {bin_dir}: install the "
                           "Debian package `postgresql` (scripts/setup.sh) or set CERTREG_PG_BIN")
    return bin_dir


def scram_verifier(password: str, salt: bytes | None = None,
                   iterations: int = _SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677).

    Handing the server this instead of the password keeps the password out of the SQL
    text, hence out of the server log even when a statement fails and is logged.
    """
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


@dataclass(frozen=True)
class PostgresDatabase:
    """A database and the one login role that owns it (and may connect to it)."""

    name: str
    role: str
    password: str = field(repr=False)
    host: str
    port: int

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver). Contains the password: never log it."""
        user = urllib.parse.quote(self.role, safe="")
        password = urllib.parse.quote(self.password, safe="")
        return f"postgresql+psycopg://{user}:{password}@{self.host}:{self.port}/{self.name}"

    @property
    def redacted_url(self) -> str:
        """The URL with the password masked, for messages and logs."""
        return f"postgresql+psycopg://{self.role}:***@{self.host}:{self.port}/{self.name}"


@dataclass
class PostgresCluster:
    """A running cluster. Use `PostgresCluster.start()`, then `stop()`.

    `database` is the `certreg` role's `certreg` database; `create_database` adds
    isolated ones (own role, nobody else may connect), e.g. one per test.
    """

    workdir: Path
    data_dir: Path
    socket_dir: Path
    port: int
    database: PostgresDatabase
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default `certreg` database (contains the password)."""
        return self.database.url

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @classmethod
    def start(cls, workdir: Path, port: int | None = None, *, durable: bool = True,
              timeout: float = 60.0) -> PostgresCluster:
        """Initialise (once) and start the cluster in `workdir/pgdata`.

        `workdir` must be reachable by the `postgres` system user (its parents searchable,
        o+x); pytest's tmp_path is not, which is why the fixture uses its own directory.
        A `workdir` that already holds a cluster is reused with its port and password.
        `durable=False` turns fsync off: for throw-away test clusters only.
        """
        bin_dir = postgres_bin_dir()
        if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != SYSTEM_USER:
            raise ServiceError(f"starting PostgreSQL needs root (to run as `{SYSTEM_USER}`) or "
                               f"the `{SYSTEM_USER}` user itself")
        workdir = workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        data_dir = workdir / "pgdata"
        socket_dir = workdir / "pgsocket"
        password_file = workdir / _PASSWORD_FILE
        port_file = workdir / _PORT_FILE
        fresh = not (data_dir / "PG_VERSION").exists()
        if fresh:
            password = secrets.token_urlsafe(24)
            _initdb(bin_dir, data_dir, socket_dir)
            write_private(password_file, (password + "\n").encode())
        else:
            try:
                password = password_file.read_text().strip()
            except FileNotFoundError:
                raise ServiceError(f"{data_dir} holds a cluster but {password_file} is missing: "
                                   "cannot tell the certreg role's password") from None
        if port is None and port_file.exists():
            port = int(port_file.read_text())
        port = port or free_port()
        if port_open("127.0.0.1", port):
            raise ServiceError(f"port {port} on 127.0.0.1 is already in use")
        port_file.write_text(str(port))

        log_path = workdir / "postgres.log"
        args = ["runuser", "-u", SYSTEM_USER, "--", str(bin_dir / "postgres"),
                "-D", str(data_dir), "-c", f"port={port}",
                "-c", "listen_addresses=127.0.0.1",
                "-c", f"unix_socket_directories={socket_dir}",
                "-c", "unix_socket_permissions=0700",
                # Never log statement text on error: it would be where a secret could leak.
                "-c", "log_min_error_statement=panic",
                "-c", f"fsync={'on' if durable else 'off'}",
                "-c", f"synchronous_commit={'on' if durable else 'off'}",
                "-c", f"full_page_writes={'on' if durable else 'off'}"]
        proc = spawn_service(args, log_path)
        database = PostgresDatabase(DEFAULT_DATABASE, DEFAULT_ROLE, password, "127.0.0.1", port)
        cluster = cls(workdir=workdir, data_dir=data_dir, socket_dir=socket_dir, port=port,
                      database=database, process=proc, log_path=log_path)
        try:
            wait_until(cluster._accepts_connections, timeout, "PostgreSQL", proc, log_path)
            if fresh:
                cluster._create_role_and_database(database)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, disconnect clients, checkpoint."""
        stop_process(self.process, signal.SIGINT, timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would (the next start runs crash recovery)."""
        stop_process(self.process, signal.SIGKILL)

    def destroy(self) -> None:
        """Stop and delete the whole working directory, data included."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ----------------------------------------------------------- databases

    def create_database(self, name: str, role: str | None = None) -> PostgresDatabase:
        """A new empty database owned by a new login role (random password) that is the only
        one allowed to connect to it, and that cannot connect to any other's database."""
        role = role or name
        for identifier in (name, role):
            if not _IDENTIFIER.match(identifier):
                raise ValueError(f"not a plain lower-case SQL identifier: {identifier!r}")
        database = PostgresDatabase(name, role, secrets.token_urlsafe(24), "127.0.0.1",
                                    self.port)
        self._create_role_and_database(database)
        return database

    def drop_database(self, database: PostgresDatabase) -> None:
        """Drop the database (disconnecting its clients) and its role."""
        with self._superuser() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{database.role}"')

    def database_names(self) -> set[str]:
        with self._superuser() as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")
            return {str(row[0]) for row in rows}

    def _create_role_and_database(self, database: PostgresDatabase) -> None:
        verifier = scram_verifier(database.password)
        with self._superuser() as conn:
            # The verifier is base64 and '$:' only: safe inside a string literal.
            conn.execute(f"CREATE ROLE \"{database.role}\" LOGIN PASSWORD '{verifier}'")
            conn.execute(f'CREATE DATABASE "{database.name}" OWNER "{database.role}"')
            # PUBLIC may connect to every database by default: only the owner may here.
            conn.execute(f'REVOKE ALL ON DATABASE "{database.name}" FROM PUBLIC')

    def _superuser(self):  # -> psycopg.Connection
        import psycopg

        try:
            return psycopg.connect(host=str(self.socket_dir), port=self.port, user=_SUPERUSER,
                                   dbname="postgres", autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            raise ServiceError(f"cannot reach PostgreSQL on port {self.port} as superuser: "
                               f"{type(exc).__name__}") from None

    def _accepts_connections(self) -> bool:
        with contextlib.closing(self._superuser()) as conn:
            conn.execute("SELECT 1")
        return True


def _initdb(bin_dir: Path, data_dir: Path, socket_dir: Path) -> None:
    owner = pwd.getpwnam(SYSTEM_USER)
    for directory in (data_dir, socket_dir):
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, owner.pw_uid, owner.pw_gid)
        directory.chmod(0o700)
    reachable = subprocess.run(["runuser", "-u", SYSTEM_USER, "--", "test", "-w", str(data_dir)],
                               capture_output=True, check=False)
    if reachable.returncode != 0:
        raise ServiceError(f"the `{SYSTEM_USER}` user cannot reach {data_dir}: every parent "
                           "directory must be searchable by others (o+x)")
    result = subprocess.run(
        ["runuser", "-u", SYSTEM_USER, "--", str(bin_dir / "initdb"), "-D", str(data_dir),
         "--username", _SUPERUSER, "--encoding", "UTF8", "--locale", "C",
         # Superuser over the private socket only; every TCP login needs a SCRAM password.
         "--auth-local", "trust", "--auth-host", "scram-sha-256", "--no-instructions"],
        capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise ServiceError(f"initdb failed with code {result.returncode}",
                           log=(result.stderr or result.stdout)[-2000:])
    # Replace initdb's defaults (which allow every local user as any role, and ::1).
    hba = data_dir / "pg_hba.conf"
    hba.write_text(
        "# Written by anchor.services.postgres.\n"
        "# TYPE  DATABASE  USER      ADDRESS        METHOD\n"
        f"local   all       {_SUPERUSER}                 trust\n"
        "host    all       all       127.0.0.1/32   scram-sha-256\n")
    os.chown(hba, owner.pw_uid, owner.pw_gid)


def main(argv: list[str] | None = None) -> int:
    """Run a cluster in the foreground until interrupted (scripts/start_postgres.sh)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m anchor.services.postgres",
                                     description="Run a private PostgreSQL cluster.")
    parser.add_argument("--workdir", type=Path, default=Path("var/postgres"),
                        help="cluster data, log and credentials (reused when present)")
    parser.add_argument("--port", type=int, default=None,
                        help=f"TCP port on 127.0.0.1 (default: as before, else {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    port = args.port
    if port is None and not (args.workdir / _PORT_FILE).exists():
        port = DEFAULT_PORT
    try:
        cluster = PostgresCluster.start(args.workdir, port)
    except ServiceError as exc:
        print(f"error: {exc.message}\n{exc.details.get('log', '')}", file=sys.stderr)
        return 4
    url_file = cluster.workdir / "database.url"
    write_private(url_file, (cluster.url + "\n").encode())
    print(f"database: {cluster.database.redacted_url}")
    # The URL holds the password: point at the 0600 file instead of printing it.
    print(f"url file: {url_file}   (export CERTREG_DATABASE_URL=\"$(cat {url_file})\")")
    print(f"log: {cluster.log_path}")
    print("Ctrl-C stops the cluster.", flush=True)
    run_in_foreground(lambda: cluster.running, cluster.stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
