"""Throwaway PostgreSQL servers and scratch databases for the test suite."""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from service.config import redacted

ENV_ADMIN_URL = "TIMELINE_TEST_POSTGRES"
ENV_BINDIR = "TIMELINE_TEST_PG_BINDIR"
SYSTEM_USER = "postgres"
SUPERUSER = "postgres"
# Durability is pointless for a server that is deleted at the end of the session.
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be reached or started."""


def find_bindir() -> Path | None:
    """Return the directory holding initdb and pg_ctl (newest version first), or None."""
    override = os.environ.get(ENV_BINDIR)
    candidates = [Path(override)] if override else []
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versioned, key=_version_key, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _version_key(bindir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))


def free_port() -> int:
    """Ask the kernel for a TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThrowawayPostgres:
    """A PostgreSQL server in a temporary directory, trust auth, listening on 127.0.0.1 only."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = 0
        self.startup_seconds = 0.0
        self._tmpdir: Path | None = None
        self._running = False
        self._as_user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            try:
                self._as_user = pwd.getpwnam(SYSTEM_USER)
            except KeyError as exc:
                raise PostgresUnavailable(f"running as root and no {SYSTEM_USER!r} user") from exc

    @property
    def admin_url(self) -> str:
        """URL of the maintenance database, as the superuser."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def datadir(self) -> Path:
        """The cluster's data directory."""
        assert self._tmpdir is not None, "server not started"
        return self._tmpdir / "data"

    @property
    def logfile(self) -> Path:
        """The server's log file."""
        assert self._tmpdir is not None, "server not started"
        return self._tmpdir / "server.log"

    def start(self, attempts: int = 3) -> None:
        """Create a cluster and start it on a free port (retried if the port gets taken)."""
        began = time.monotonic()
        try:
            self._start(attempts)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _start(self, attempts: int) -> None:
        self._tmpdir = Path(tempfile.mkdtemp(prefix="timeline-pg-", dir=self._temp_root()))
        atexit.register(self.stop)
        if self._as_user is not None:
            os.chown(self._tmpdir, self._as_user.pw_uid, self._as_user.pw_gid)
        self._run(
            "initdb",
            "--pgdata",
            str(self.datadir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
            "--no-instructions",
        )
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            try:
                self._pg_ctl_start()
            except PostgresUnavailable:
                if attempt == attempts:
                    raise
                continue
            self._running = True
            return

    def _pg_ctl_start(self) -> None:
        options = " ".join(
            [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self._tmpdir}"]
            + [f"-c {name}={value}" for name, value in FAST_SETTINGS.items()]
        )
        self._run(
            "pg_ctl",
            "start",
            "--wait",
            "--timeout",
            "60",
            "--pgdata",
            str(self.datadir),
            "--log",
            str(self.logfile),
            "-o",
            options,
        )

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The server stopped for the block (clients cut off), then started again on its port.

        A fast shutdown, not an immediate one: with `FAST_SETTINGS` a crash loses commits."""
        self._run("pg_ctl", "stop", "--pgdata", str(self.datadir), "-m", "fast")
        try:
            yield
        finally:
            self._pg_ctl_start()

    def stop(self) -> None:
        """Stop the server and delete its directory; safe to call more than once."""
        if self._running:
            self._running = False
            with contextlib.suppress(PostgresUnavailable):
                self._run("pg_ctl", "stop", "--pgdata", str(self.datadir), "-m", "immediate")
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _temp_root(self) -> str:
        # The postgres user must be able to reach the directory, which a root-only TMPDIR forbids.
        root = tempfile.gettempdir()
        if self._as_user is None:
            return root
        for part in (Path(root), *Path(root).parents):
            if not part.stat().st_mode & stat.S_IXOTH:
                return "/tmp"
        return root

    def _run(self, program: str, *args: str) -> None:
        assert self._tmpdir is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["HOME"] = str(self._tmpdir)
        user = self._as_user
        completed = subprocess.run(
            [str(self.bindir / program), *args],
            cwd=self._tmpdir,
            env=env,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            raise PostgresUnavailable(
                f"{program} {' '.join(args)} exited {completed.returncode}\n"
                f"{completed.stdout}{completed.stderr}{log}"
            )


def check_reachable(admin_url: str) -> None:
    """Fail with a readable message unless the server at admin_url accepts a connection."""
    try:
        with psycopg.connect(admin_url, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise PostgresUnavailable(f"cannot connect to {redacted(admin_url)}: {exc}") from exc


def with_database(admin_url: str, dbname: str) -> str:
    """The admin URL pointed at another database (same user, host, port and options)."""
    parts = urlsplit(admin_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"{ENV_ADMIN_URL} must be a postgresql:// URL, got {redacted(admin_url)}")
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def database_exists(admin_url: str, dbname: str) -> bool:
    """Whether the server at admin_url has a database called dbname."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
    return row is not None


def create_database(admin_url: str) -> str:
    """Create an empty database tl_<random hex> and return its name."""
    dbname = f"tl_{uuid.uuid4().hex}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return dbname


def drop_database(admin_url: str, dbname: str) -> None:
    """Drop dbname, disconnecting whoever is still connected to it."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """Yield the URL of a new empty database, dropped on exit."""
    dbname = create_database(admin_url)
    try:
        yield with_database(admin_url, dbname)
    finally:
        drop_database(admin_url, dbname)


def waits_for_a_lock_on(url: str, table: str) -> bool:
    """Whether a session of the database at `url` waits for a lock on `table` (`pg_locks`): an
    append waiting for the log's lock, say."""
    with psycopg.connect(url, autocommit=True) as observer:
        row = observer.execute(
            "SELECT count(*) FROM pg_locks WHERE relation = to_regclass(%s) AND NOT granted",
            (table,),
        ).fetchone()
    return row is not None and row[0] > 0
