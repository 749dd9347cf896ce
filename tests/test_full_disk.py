"""A full disk, for real: the database on a small tmpfs filled to the last byte (SQLite), or a
tablespace there (PostgreSQL). Writes answer 507 `storage-full`, never a 500, and store
nothing; the CLI says so and exits 74; once space is freed, the same writes are stored.

Mounting a tmpfs needs root: where that cannot be done these tests are skipped, except under CI
(which runs as root), where they fail."""

from __future__ import annotations

import errno
import os
import pwd
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import date
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from projections import rebuild
from projections.compare import snapshot
from service.application import Timeline
from service.cli import main
from service.errors import StorageFull
from service.ingest import import_events, seed_corpus
from tests import bodies
from tests.api import log_state, post_batch, post_event, problem, serve
from tests.pgserver import SYSTEM_USER, scratch_database
from tests.test_cli import events_in
from tests.test_views_support import Store, figure, said

STORAGE_FULL = "urn:timeline:problem:storage-full"


def cannot(reason: str) -> NoReturn:
    """Skip the test here; under CI, which runs as root, fail it: a full disk goes untested."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@contextmanager
def small_disk(megabytes: int, owner: str = "root") -> Iterator[Path]:
    """A tmpfs of this size, owned by `owner`, unmounted afterwards."""
    if os.geteuid() != 0:
        cannot("mounting a small tmpfs needs root")
    where = Path(tempfile.mkdtemp(prefix="timeline-small-disk-"))
    user = pwd.getpwnam(owner)
    options = f"size={megabytes}m,uid={user.pw_uid},gid={user.pw_gid},mode=0700"
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        where.rmdir()
        cannot(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=True)
        where.rmdir()


def fill(where: Path) -> Path:
    """Write a file until the disk is full, to the last byte; the file, to delete."""
    filler = where / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 1 << 9, 1):
            while True:
                try:
                    os.write(descriptor, b"\0" * size)
                except OSError as error:
                    assert error.errno == errno.ENOSPC
                    break
    finally:
        os.close(descriptor)
    return filler


@contextmanager
def database_on(disk: Path, engine: str, admin_url: str | None) -> Iterator[str]:
    """A database whose tables live on `disk`: a SQLite file there, or a PostgreSQL database
    in a tablespace there (its write-ahead log stays with the server)."""
    if engine == "sqlite":
        yield f"sqlite:///{disk}/timeline.db"
        return
    assert admin_url is not None
    if urlsplit(admin_url).hostname not in ("127.0.0.1", "localhost", None):
        pytest.skip("the PostgreSQL server runs elsewhere: it cannot see a tmpfs mounted here")
    space = sql.Identifier(f"tl_small_{disk.name.rsplit('-', 1)[-1].lower()}")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE TABLESPACE {} LOCATION {}").format(space, str(disk)))
        try:
            with scratch_database(admin_url) as url:
                name = sql.Identifier(urlsplit(url).path.lstrip("/"))
                admin.execute(sql.SQL("ALTER DATABASE {} SET TABLESPACE {}").format(name, space))
                yield url
        finally:
            admin.execute(sql.SQL("DROP TABLESPACE IF EXISTS {}").format(space))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def full_disk_url(request: pytest.FixtureRequest) -> Iterator[tuple[Path, str]]:
    """A small disk and the URL of a database on it, once on SQLite and once on PostgreSQL."""
    owner = "root" if request.param == "sqlite" else SYSTEM_USER
    admin = None if request.param == "sqlite" else request.getfixturevalue("postgres_admin_url")
    with small_disk(24, owner) as disk, database_on(disk, request.param, admin) as url:
        yield disk, url


def test_writes_on_a_full_disk_get_507_store_nothing_and_are_stored_once_space_is_freed(
    full_disk_url: tuple[Path, str],
) -> None:
    disk, url = full_disk_url
    many = [bodies.development_reported(title=f"Shipment {n} " + "x" * 400) for n in range(300)]
    with serve(url) as client:
        assert post_event(client, bodies.development_reported()).status_code == 201
        filler = fill(disk)
        # when the disk is full, a batch (the app) and, on SQLite, one event (the fast path)
        answers = [post_batch(client, *many)]
        if url.startswith("sqlite"):  # PostgreSQL may fit one event in a page it has
            answers.append(post_event(client, bodies.development_reported()))
        # then each is a 507 problem saying so, and nothing of them was stored
        for answer in answers:
            full = problem(answer, 507)
            assert full["type"] == STORAGE_FULL
            assert "disk is full" in full["detail"]
            assert "retry-after" not in answer.headers
        filler.unlink()
        assert log_state(client).events == 1
        # and once space is freed, the same batch is stored whole
        assert post_batch(client, *many).status_code == 201
        assert log_state(client).events == 301


def test_the_cli_on_a_full_disk_says_so_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with small_disk(8) as disk:
        database = f"sqlite:///{disk}/timeline.db"
        events_in(database)  # the log's tables exist before the disk fills
        filler = fill(disk)
        # when nothing has the file open, SQLite cannot even make its shared-memory file
        assert main(["seed", "--database", database]) == 75
        assert "disk I/O error" in capsys.readouterr().err
        filler.unlink()
        # and when a server has it open (its write-ahead log made), a write finds no room
        with closing(sqlite3.connect(database.removeprefix("sqlite:///"))) as server:
            server.execute("SELECT count(*) FROM stored_events")
            filler = fill(disk)
            assert main(["seed", "--database", database]) == 74
            assert "error: the database's disk is full" in capsys.readouterr().err
            filler.unlink()
            assert events_in(database) == 0
            # then once space is freed, the same command stores the corpus
            assert main(["seed", "--database", database]) == 0
        assert events_in(database) > 0


def test_a_view_that_must_fold_new_events_on_a_full_disk_raises_storage_full(
    full_disk_url: tuple[Path, str],
) -> None:
    disk, url = full_disk_url
    store = Store(url)
    try:
        store.develop(said("US Government", date(2024, 1, 1), figure(value=3)))
        now = time.time_ns() // 1000
        filler = fill(disk)
        # when the read models have no room for the rows of what came, the view says so
        with pytest.raises(StorageFull):
            store.read.deliveries(as_of=date(2024, 2, 1), known_at_us=now)
        # then once space is freed, it folds and answers
        filler.unlink()
        assert len(store.read.deliveries(as_of=date(2024, 2, 1), known_at_us=now).series) == 1
    finally:
        store.close()


def test_a_rebuild_on_a_full_disk_raises_storage_full_and_keeps_the_rows_it_had() -> None:
    with small_disk(16) as disk:
        timeline = Timeline(f"sqlite:///{disk}/timeline.db")
        try:
            with seed_corpus() as corpus:
                import_events(timeline, corpus, recorded_by="seed")
            rebuild(timeline.store)
            before = snapshot(timeline.store)
            assert before["tl_reports"]
            # no free pages left in the file or its WAL, where a rebuild could write unseen
            with sqlite3.connect(disk / "timeline.db") as connection:
                connection.execute("VACUUM")
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            filler = fill(disk)
            with pytest.raises(StorageFull, match="the rebuild's writer had no room"):
                rebuild(timeline.store)
            filler.unlink()
            assert snapshot(timeline.store) == before
        finally:
            timeline.close()
